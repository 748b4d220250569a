//! GCRA rate limiting: the decision type, the algorithm, and the in-process limiter the
//! embedded store uses. The Redis backend runs the same arithmetic in a Lua script
//! (`remote/scripts.rs`), so both backends decide alike.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Slack, in microseconds, that absorbs floating-point rounding at the edge of a burst.
const EDGE_SLACK_US: f64 = 0.5;
/// Slack that keeps `remaining` from rounding down past a whole request.
const REMAINING_SLACK: f64 = 1e-6;
/// Tracked keys below which the in-process limiter never sweeps.
const MIN_SWEEP_LEN: usize = 1024;

/// The answer to one `rate_limit` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether this request is within the limit (and was counted).
    pub allowed: bool,
    /// Requests still allowed right now after this one.
    pub remaining: u32,
    /// When denied: how long until a request would be allowed.
    pub retry_after: Option<Duration>,
    /// How long until the full limit is available again.
    pub reset_after: Duration,
}

/// One GCRA step at `now_us`: `tat_us` is the stored theoretical arrival time (absent for
/// an unseen key). Returns the decision and, when allowed, the arrival time to store.
///
/// Up to `limit` requests may arrive at once; after that one more is allowed every
/// `period_us / limit` microseconds.
pub(crate) fn decide(
    tat_us: Option<u64>,
    now_us: u64,
    limit: u32,
    period_us: u64,
) -> (RateDecision, Option<u64>) {
    let period = period_us as f64;
    let interval = period / f64::from(limit);
    let backlog = tat_us.unwrap_or(now_us).saturating_sub(now_us) as f64;
    let after_this = backlog + interval;
    if after_this > period + EDGE_SLACK_US {
        let decision = RateDecision {
            allowed: false,
            remaining: 0,
            retry_after: Some(micros((after_this - period).ceil())),
            reset_after: micros(backlog),
        };
        return (decision, None);
    }
    let remaining = ((period - after_this) / interval + REMAINING_SLACK)
        .floor()
        .max(0.0);
    let decision = RateDecision {
        allowed: true,
        remaining: remaining as u32,
        retry_after: None,
        reset_after: micros(after_this.ceil()),
    };
    (decision, Some(now_us + after_this.floor() as u64))
}

fn micros(us: f64) -> Duration {
    Duration::from_micros(us as u64)
}

/// Rate-limit state for the embedded store, in memory: it is per node by nature and
/// does not need to survive a restart.
pub(crate) struct LocalLimiter {
    epoch: Instant,
    state: Mutex<Tracked>,
}

#[derive(Default)]
struct Tracked {
    tats: HashMap<String, u64>,
    sweep_at: usize,
}

impl LocalLimiter {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            state: Mutex::default(),
        }
    }

    pub(crate) fn decide(&self, key: &str, limit: u32, period_us: u64) -> RateDecision {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut state = self
            .state
            .lock()
            .expect("rate-limit state is never poisoned");
        let (decision, tat) = decide(state.tats.get(key).copied(), now, limit, period_us);
        if let Some(tat) = tat {
            state.tats.insert(key.to_owned(), tat);
            state.sweep(now);
        }
        decision
    }
}

impl Tracked {
    /// Forgets keys whose budget is full again; runs when the map has doubled since the
    /// last sweep, so the cost stays constant per call.
    fn sweep(&mut self, now: u64) {
        if self.tats.len() < self.sweep_at.max(MIN_SWEEP_LEN) {
            return;
        }
        self.tats.retain(|_, tat| *tat > now);
        self.sweep_at = self.tats.len() * 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    fn run(limit: u32, period_us: u64, at: &[u64]) -> Vec<RateDecision> {
        let mut tat = None;
        at.iter()
            .map(|&now| {
                let (decision, next) = decide(tat, now, limit, period_us);
                tat = next.or(tat);
                decision
            })
            .collect()
    }

    #[test]
    fn a_burst_of_limit_is_allowed_then_denied() {
        let decisions = run(3, SECOND, &[0, 0, 0, 0]);
        let remaining: Vec<_> = decisions.iter().map(|d| (d.allowed, d.remaining)).collect();
        assert_eq!(remaining, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        let denied = decisions[3];
        let retry = denied.retry_after.expect("denied has retry_after");
        assert!(retry <= Duration::from_micros(333_334) && retry >= Duration::from_micros(333_332));
        assert_eq!(denied.reset_after, Duration::from_micros(999_999));
    }

    #[test]
    fn one_request_comes_back_every_interval() {
        let decisions = run(2, SECOND, &[0, 0, 0, SECOND / 2, SECOND / 2]);
        let allowed: Vec<_> = decisions.iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, true, false, true, false]);
    }

    #[test]
    fn an_idle_key_gets_its_whole_burst_back() {
        let decisions = run(5, SECOND, &[0, 0, 0, 0, 0, 3 * SECOND]);
        assert_eq!(decisions[5].remaining, 4);
        assert_eq!(decisions[5].reset_after, Duration::from_micros(200_000));
    }

    #[test]
    fn the_local_limiter_forgets_keys_whose_budget_is_full() {
        let mut tracked = Tracked::default();
        for n in 0..MIN_SWEEP_LEN as u64 {
            tracked.tats.insert(n.to_string(), n);
        }
        tracked.sweep(MIN_SWEEP_LEN as u64 / 2);
        assert_eq!(tracked.tats.len(), MIN_SWEEP_LEN / 2 - 1);
    }
}
