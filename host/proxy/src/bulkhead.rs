//! A service's bulkhead: at most `max_concurrent_requests` in flight to it, at most
//! `max_waiting_requests` waiting for a slot, and every further request refused at once,
//! so one slow service cannot hold every connection and worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of one service; without a cap, everyone enters.
#[derive(Debug)]
pub(crate) struct Bulkhead {
    slots: Option<Arc<Semaphore>>,
    /// `(max_concurrent, max_waiting)` as configured.
    caps: (Option<u32>, u32),
    waiting: AtomicUsize,
}

/// A request inside the bulkhead: its slot is free again when this drops.
#[derive(Debug)]
pub(crate) struct Admitted {
    _slot: Option<OwnedSemaphorePermit>,
}

/// The bulkhead is full and so is its waiting room.
#[derive(Debug)]
pub(crate) struct Full;

impl Bulkhead {
    /// `max_concurrent` slots (none: no cap) and `max_waiting` places to wait for one.
    pub(crate) fn new(max_concurrent: Option<u32>, max_waiting: u32) -> Self {
        Self {
            slots: max_concurrent.map(|cap| Arc::new(Semaphore::new(cap as usize))),
            caps: (max_concurrent, max_waiting),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Whether it was made with these caps.
    pub(crate) fn has_caps(&self, max_concurrent: Option<u32>, max_waiting: u32) -> bool {
        self.caps == (max_concurrent, max_waiting)
    }

    /// A slot now, or after waiting in the waiting room when there is a place in it.
    pub(crate) async fn enter(&self) -> Result<Admitted, Full> {
        let Some(slots) = &self.slots else {
            return Ok(Admitted { _slot: None });
        };
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Ok(Admitted {
                _slot: Some(permit),
            });
        }
        let placed = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < self.caps.1 as usize).then_some(waiting + 1)
            });
        if placed.is_err() {
            return Err(Full);
        }
        // Leaves the waiting room however the wait ends, the route's timeout included.
        let _waiting = Waiting(&self.waiting);
        let permit = slots.clone().acquire_owned().await;
        permit
            .map(|permit| Admitted {
                _slot: Some(permit),
            })
            .map_err(|_| Full)
    }
}

/// A place in the waiting room, given back when dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_bulkhead_refuses_at_once_beyond_its_waiting_room() {
        let bulkhead = Bulkhead::new(Some(1), 0);
        let first = bulkhead.enter().await.expect("a slot");
        assert!(bulkhead.enter().await.is_err(), "no slot, no waiting room");
        drop(first);
        assert!(bulkhead.enter().await.is_ok(), "the slot is free again");
        let unlimited = Bulkhead::new(None, 0);
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(unlimited.enter().await.expect("no cap"));
        }
    }
}
