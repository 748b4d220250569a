//! Whether Redis is reachable. A failed operation marks the link down so the following
//! ones fail fast instead of each waiting out a timeout; a background task probes until
//! Redis answers again. Transitions are logged, once each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::StoreError;

/// How often a lost link is probed.
pub(super) const RETRY_INTERVAL: Duration = Duration::from_millis(100);

pub(super) struct Link {
    up: AtomicBool,
    lost: Notify,
}

impl Link {
    /// A link presumed up until an operation says otherwise.
    pub(super) fn new() -> Self {
        Self {
            up: AtomicBool::new(true),
            lost: Notify::new(),
        }
    }

    /// Fails fast while the link is down.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        if self.up.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(StoreError::Unavailable {
                reason: "not connected; reconnecting in the background".to_owned(),
            })
        }
    }

    pub(super) fn lost(&self, reason: &str) {
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(
                reason,
                "redis store unavailable; operations fail fast until it answers again"
            );
            self.lost.notify_one();
        }
    }

    pub(super) fn restored(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!("redis store reconnected");
        }
    }

    /// Each time the link is lost, runs `probe` every [`RETRY_INTERVAL`] until it succeeds
    /// (a successful probe marks the link restored).
    pub(super) async fn reconnect_when_lost<F, Probe>(&self, probe: F)
    where
        F: Fn() -> Probe,
        Probe: Future<Output = bool>,
    {
        loop {
            self.lost.notified().await;
            while !probe().await {
                tokio::time::sleep(RETRY_INTERVAL).await;
            }
        }
    }
}
