//! GCRA in process, on `governor`'s keyed limiters: one limiter per distinct budget
//! (limit and period), each holding one state per key.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::RateDecision;

/// Decisions between two sweeps of keys whose budget is whole again.
const SWEEP_EVERY: u64 = 4096;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The keyed limiters, by budget.
#[derive(Default)]
pub(super) struct Limiters {
    by_budget: RwLock<HashMap<(u32, u64), Arc<Limiter>>>,
    decisions: AtomicU64,
}

impl Limiters {
    pub(super) fn decide(&self, key: &str, limit: u32, period_us: u64) -> RateDecision {
        let limiter = self.limiter(limit, period_us);
        let interval = Duration::from_micros(period_us) / limit;
        let decision = match limiter.check_key(&key.to_owned()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    remaining,
                    retry_after: None,
                    reset_after: interval * (limit - remaining),
                }
            }
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(limiter.clock().now());
                RateDecision {
                    allowed: false,
                    remaining: 0,
                    retry_after: Some(retry_after),
                    reset_after: retry_after + interval * (limit - 1),
                }
            }
        };
        if self.decisions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        decision
    }

    /// The limiter of one budget, made on first use.
    fn limiter(&self, limit: u32, period_us: u64) -> Arc<Limiter> {
        let budget = (limit, period_us);
        let found = self
            .by_budget
            .read()
            .expect("limiters are never poisoned")
            .get(&budget)
            .cloned();
        found.unwrap_or_else(|| {
            let mut by_budget = self.by_budget.write().expect("limiters are never poisoned");
            by_budget
                .entry(budget)
                .or_insert_with(|| Arc::new(new_limiter(limit, period_us)))
                .clone()
        })
    }

    /// Forgets keys whose budget is whole again.
    fn sweep(&self) {
        let by_budget = self.by_budget.read().expect("limiters are never poisoned");
        for limiter in by_budget.values() {
            limiter.retain_recent();
        }
    }
}

/// Bursts of `limit`, one more request every `period / limit`.
fn new_limiter(limit: u32, period_us: u64) -> Limiter {
    let burst = NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN);
    let interval = (Duration::from_micros(period_us) / burst.get()).max(Duration::from_nanos(1));
    let quota = Quota::with_period(interval)
        .expect("the interval is positive")
        .allow_burst(burst);
    RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_limit_is_allowed_then_denied() {
        let limiters = Limiters::default();
        let decisions: Vec<_> = (0..4)
            .map(|_| limiters.decide("k", 3, 60_000_000))
            .collect();
        let counted: Vec<_> = decisions.iter().map(|d| (d.allowed, d.remaining)).collect();
        assert_eq!(counted, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        let retry = decisions[3]
            .retry_after
            .expect("a denial says when to retry");
        assert!(
            retry > Duration::from_secs(19) && retry <= Duration::from_secs(20),
            "{retry:?}"
        );
        assert!(decisions[3].reset_after <= Duration::from_secs(60));
        assert_eq!(decisions[2].reset_after, Duration::from_secs(60));
    }

    #[test]
    fn keys_and_budgets_are_independent() {
        let limiters = Limiters::default();
        assert!(limiters.decide("a", 1, 60_000_000).allowed);
        assert!(!limiters.decide("a", 1, 60_000_000).allowed);
        assert!(limiters.decide("b", 1, 60_000_000).allowed);
        assert!(limiters.decide("a", 2, 60_000_000).allowed);
    }
}
