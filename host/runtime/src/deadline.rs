//! A plugin call's CPU budget. Only the guest's own execution counts: the time spent
//! inside polls of the call's future. While the guest waits on host I/O (an async import)
//! or sits in the run queue after yielding, its future is not being polled, so that time
//! is free; each waiting host call has its own bound instead (the store's
//! `op_timeout_ms`, the upstream's timeout).
//!
//! The epoch ticker advances every [`EPOCH_TICK`]; at every tick a running guest checks
//! its budget and then yields its worker thread, so a guest that computes for long can
//! never starve the other requests on its worker.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

/// How often the epoch advances: how often a running guest checks its budget and yields.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The instant the meters count from.
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ns() -> u64 {
    u64::try_from(START.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Guest execution time of one instance's current call. Shared between the future that
/// polls the call and the epoch callback that runs inside those polls.
#[derive(Debug)]
pub(crate) struct Meter {
    budget_ns: u64,
    spent_ns: AtomicU64,
    polled_at_ns: AtomicU64,
}

/// The host panicked while serving a call.
pub(crate) struct Panicked;

impl Meter {
    /// A meter allowing `budget` of guest execution per call.
    pub(crate) fn new(budget: Duration) -> Self {
        Self {
            budget_ns: u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX),
            spent_ns: AtomicU64::new(0),
            polled_at_ns: AtomicU64::new(0),
        }
    }

    /// The epoch callback: trap once the budget is spent, else yield the worker and check
    /// again at the next tick.
    pub(crate) fn on_epoch(&self) -> UpdateDeadline {
        let running = now_ns().saturating_sub(self.polled_at_ns.load(Ordering::Relaxed));
        if self.spent_ns.load(Ordering::Relaxed) + running >= self.budget_ns {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
        }
    }

    /// Runs one call with a fresh budget, counting the time spent polling it. A panic of
    /// the host under the call is caught and returned, so it fails one call only.
    pub(crate) async fn run<F: Future>(&self, call: F) -> Result<F::Output, Panicked> {
        self.spent_ns.store(0, Ordering::Relaxed);
        let mut call = pin!(call);
        std::future::poll_fn(|cx| {
            let polled_at = now_ns();
            self.polled_at_ns.store(polled_at, Ordering::Relaxed);
            match std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
                Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
                Ok(Poll::Pending) => {
                    // Only a call that goes on needs what this poll spent.
                    let spent = now_ns().saturating_sub(polled_at);
                    self.spent_ns.fetch_add(spent, Ordering::Relaxed);
                    Poll::Pending
                }
                Err(_) => Poll::Ready(Err(Panicked)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn time_spent_waiting_is_not_charged_to_the_budget() {
        let meter = Meter::new(Duration::from_millis(20));
        let verdict = meter
            .run(async {
                // Pending for longer than the budget: the call is not being polled.
                tokio::time::sleep(Duration::from_millis(50)).await;
                meter.on_epoch()
            })
            .await;
        assert!(matches!(verdict, Ok(UpdateDeadline::YieldCustom(1, _))));
    }

    #[tokio::test]
    async fn time_spent_running_is_charged_across_polls() {
        let meter = Meter::new(Duration::from_millis(20));
        let verdict = meter
            .run(async {
                std::thread::sleep(Duration::from_millis(12));
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(12));
                meter.on_epoch()
            })
            .await;
        assert!(matches!(verdict, Ok(UpdateDeadline::Interrupt)));
    }

    #[tokio::test]
    async fn a_panic_under_the_call_fails_that_call_only() {
        let meter = Meter::new(Duration::from_millis(20));
        let outcome = meter.run(async { panic!("a host bug") }).await;
        assert!(outcome.is_err());
        assert!(matches!(meter.run(async { 7 }).await, Ok(7)));
    }
}
