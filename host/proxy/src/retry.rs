//! When a failed upstream request is tried again: which methods may be re-sent, how long
//! to wait before the next try (exponential backoff with jitter), and the budget that
//! caps the share of a service's requests that are retries, so retries cannot multiply
//! an outage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use archway_config::RetryBudgetConfig;
use http::Method;

/// The wait before the first retry; each further one doubles it.
const BACKOFF_BASE: Duration = Duration::from_millis(25);
/// The longest wait between tries.
const BACKOFF_CAP: Duration = Duration::from_secs(1);

/// Whether a request with `method` may be sent again after it may have reached the
/// upstream: idempotent methods, or any when the route opts in.
pub(crate) fn may_resend(method: &Method, any_method: bool) -> bool {
    any_method || method.is_idempotent()
}

/// The wait before retry number `retry` (0 for the first): half of the exponential
/// step for sure, the other half at random, so clients that failed together do not
/// retry together.
pub(crate) fn backoff(retry: u32) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1 << retry.min(16))
        .min(BACKOFF_CAP);
    let half = step / 2;
    half + half.mul_f64(fastrand::f64())
}

/// A service's retry budget, in hundredths of a retry: each request adds `percent`, a
/// retry takes 100, and at most `reserve` retries are saved up.
#[derive(Debug)]
pub(crate) struct RetryBudget(AtomicU64);

impl RetryBudget {
    /// A budget that starts with its reserve.
    pub(crate) fn new(config: &RetryBudgetConfig) -> Self {
        Self(AtomicU64::new(u64::from(config.reserve) * 100))
    }

    /// Counts a request (its first try).
    pub(crate) fn earn(&self, config: &RetryBudgetConfig) {
        let cap = u64::from(config.reserve.max(1)) * 100;
        let earned = u64::from(config.percent);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |balance| {
                (balance < cap).then(|| (balance + earned).min(cap))
            });
    }

    /// Takes one retry from the budget; `false` when it cannot afford one.
    pub(crate) fn spend(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |balance| {
                balance.checked_sub(100)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_capped_at_the_configured_share_of_requests() {
        let config = RetryBudgetConfig {
            percent: 20,
            reserve: 10,
        };
        let budget = RetryBudget::new(&config);
        let mut retries = 0;
        for _ in 0..1000 {
            budget.earn(&config);
            // Every request of an outage wants three retries.
            retries += (0..3).filter(|_| budget.spend()).count();
        }
        // The reserve, then one retry per five requests.
        assert!((205..=210).contains(&retries), "{retries}");
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        for retry in 0..20 {
            let step = BACKOFF_BASE
                .saturating_mul(1 << retry.min(16))
                .min(BACKOFF_CAP);
            let wait = backoff(retry);
            assert!(
                wait >= step / 2 && wait <= step,
                "{retry}: {wait:?} for {step:?}"
            );
        }
        assert!(may_resend(&Method::PUT, false) && !may_resend(&Method::POST, false));
        assert!(may_resend(&Method::PATCH, true));
    }
}
