//! The sliding window, in process: per key, the arrival times of the requests counted in
//! the last period. A request is allowed while fewer than `limit` fall in the window
//! that ends now, so no period-long stretch ever holds more than `limit`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::RateDecision;

/// Tracked keys below which the logs are never swept.
const MIN_SWEEP_LEN: usize = 1024;

/// One step of the window at `now_us` over the key's log (oldest first): drops arrivals
/// that left the window, then counts this request if there is room.
pub(super) fn decide(
    log: &mut VecDeque<u64>,
    now_us: u64,
    limit: u32,
    period_us: u64,
) -> RateDecision {
    while log.front().is_some_and(|&at| at + period_us <= now_us) {
        log.pop_front();
    }
    let counted = u32::try_from(log.len()).unwrap_or(u32::MAX);
    let leaves_at = |at: u64| Duration::from_micros((at + period_us).saturating_sub(now_us));
    if counted >= limit {
        let oldest = log.front().copied().unwrap_or(now_us);
        let newest = log.back().copied().unwrap_or(now_us);
        return RateDecision {
            allowed: false,
            remaining: 0,
            retry_after: Some(leaves_at(oldest)),
            reset_after: leaves_at(newest),
        };
    }
    log.push_back(now_us);
    RateDecision {
        allowed: true,
        remaining: limit - counted - 1,
        retry_after: None,
        reset_after: Duration::from_micros(period_us),
    }
}

/// The logs of every key this node counts.
pub(super) struct Logs {
    epoch: Instant,
    state: Mutex<Tracked>,
}

#[derive(Default)]
struct Tracked {
    logs: HashMap<String, VecDeque<u64>>,
    /// The longest period seen, so a sweep never drops a log still in some window.
    longest_period_us: u64,
    sweep_at: usize,
}

impl Logs {
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            state: Mutex::default(),
        }
    }

    pub(super) fn decide(&self, key: &str, limit: u32, period_us: u64) -> RateDecision {
        let now = u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut state = self.state.lock().expect("window state is never poisoned");
        state.longest_period_us = state.longest_period_us.max(period_us);
        let decision = match state.logs.get_mut(key) {
            Some(log) => decide(log, now, limit, period_us),
            None => {
                let mut log = VecDeque::new();
                let decision = decide(&mut log, now, limit, period_us);
                state.logs.insert(key.to_owned(), log);
                decision
            }
        };
        state.sweep(now);
        decision
    }
}

impl Tracked {
    /// Forgets keys whose every arrival left the longest window; runs when the map has
    /// doubled since the last sweep, so the cost stays constant per call.
    fn sweep(&mut self, now: u64) {
        if self.logs.len() < self.sweep_at.max(MIN_SWEEP_LEN) {
            return;
        }
        let longest = self.longest_period_us;
        self.logs
            .retain(|_, log| log.back().is_some_and(|&newest| newest + longest > now));
        self.sweep_at = self.logs.len() * 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    fn run(limit: u32, period_us: u64, at: &[u64]) -> Vec<RateDecision> {
        let mut log = VecDeque::new();
        at.iter()
            .map(|&now| decide(&mut log, now, limit, period_us))
            .collect()
    }

    #[test]
    fn the_limit_is_allowed_then_denied_until_the_oldest_leaves() {
        let decisions = run(3, SECOND, &[0, 100_000, 200_000, 300_000]);
        let counted: Vec<_> = decisions.iter().map(|d| (d.allowed, d.remaining)).collect();
        assert_eq!(counted, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        let denied = decisions[3];
        assert_eq!(denied.retry_after, Some(Duration::from_micros(700_000)));
        assert_eq!(denied.reset_after, Duration::from_micros(900_000));
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        let decisions = run(
            2,
            SECOND,
            &[0, 900_000, 999_999, SECOND, SECOND + 1, 1_900_000],
        );
        let allowed: Vec<_> = decisions.iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, true, false, true, false, true]);
    }

    #[test]
    fn a_whole_burst_comes_back_after_one_period() {
        let decisions = run(2, SECOND, &[0, 0, 0, SECOND, SECOND, SECOND]);
        let allowed: Vec<_> = decisions.iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, true, false, true, true, false]);
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let mut tracked = Tracked {
            longest_period_us: SECOND,
            ..Tracked::default()
        };
        for n in 0..MIN_SWEEP_LEN as u64 {
            tracked
                .logs
                .insert(n.to_string(), VecDeque::from([n * 1000]));
        }
        tracked.sweep(SECOND + 500_000);
        assert_eq!(tracked.logs.len(), MIN_SWEEP_LEN - 501);
    }
}
