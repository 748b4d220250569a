//! The live instances of one plugin kept for reuse. Checking one out or in moves a
//! pointer; an instance whose call broke is never checked back in.

use std::sync::Mutex;

use archway_config::InstanceMode;

use crate::instance::Live;

/// Idle instances of one plugin.
pub(crate) struct Pool {
    mode: InstanceMode,
    max_idle: usize,
    #[expect(
        clippy::vec_box,
        reason = "checking an instance out and in moves a pointer, not the whole struct (measured in benches/hooks.rs)"
    )]
    idle: Mutex<Vec<Box<Live>>>,
}

impl Pool {
    /// An empty pool; per-request plugins keep nothing.
    pub(crate) fn new(mode: InstanceMode, max_idle: usize) -> Self {
        Self {
            mode,
            max_idle,
            idle: Mutex::default(),
        }
    }

    /// An idle instance, if the plugin reuses them and one is free.
    pub(crate) fn take(&self) -> Option<Box<Live>> {
        match self.mode {
            InstanceMode::Pooled => self.idle.lock().expect("instance pool lock").pop(),
            InstanceMode::PerRequest => None,
        }
    }

    /// Keeps an instance whose call went well, up to the idle limit.
    pub(crate) fn put(&self, live: Box<Live>) {
        if self.mode == InstanceMode::Pooled {
            let mut idle = self.idle.lock().expect("instance pool lock");
            if idle.len() < self.max_idle {
                idle.push(live);
            }
        }
    }
}
