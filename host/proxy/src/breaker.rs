//! An instance's circuit breaker: closed while the instance answers; open once
//! `failure_threshold` requests failed within `window_seconds` and they were at least
//! `failure_rate_percent` of its requests, so requests skip it for `open_seconds`; then
//! half-open, when one probe request decides whether it closes again or opens for
//! another period.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use archway_config::BreakerConfig;

/// One instance's breaker; its state outlives snapshots, its settings come with each call.
#[derive(Debug)]
pub(crate) struct Breaker(Mutex<Phase>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Requests pass; those since `since` and how many failed are counted.
    Closed {
        since: Instant,
        requests: u32,
        failures: u32,
    },
    /// Requests skip the instance until `until`.
    Open { until: Instant },
    /// One probe went at `probe_sent`; the rest wait for its outcome.
    HalfOpen { probe_sent: Instant },
}

/// How a request passed the breaker, which says what its outcome does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// A request through a closed breaker.
    Closed,
    /// The half-open breaker's probe.
    Probe,
}

impl Default for Breaker {
    fn default() -> Self {
        Self(Mutex::new(Phase::closed(Instant::now())))
    }
}

impl Phase {
    fn closed(since: Instant) -> Self {
        Self::Closed {
            since,
            requests: 0,
            failures: 0,
        }
    }
}

impl Breaker {
    /// Whether a request could pass now (a balancer asks this of every candidate).
    pub(crate) fn available(&self, now: Instant, config: &BreakerConfig) -> bool {
        match *self.phase() {
            Phase::Closed { .. } => true,
            Phase::Open { until } => now >= until,
            Phase::HalfOpen { probe_sent } => probe_lost(probe_sent, now, config),
        }
    }

    /// Lets a request pass, or `None` when the breaker is open or its probe is out.
    pub(crate) fn pass(&self, now: Instant, config: &BreakerConfig) -> Option<Pass> {
        let mut phase = self.phase();
        match *phase {
            Phase::Closed { .. } => Some(Pass::Closed),
            Phase::Open { until } if now < until => None,
            Phase::HalfOpen { probe_sent } if !probe_lost(probe_sent, now, config) => None,
            Phase::Open { .. } | Phase::HalfOpen { .. } => {
                *phase = Phase::HalfOpen { probe_sent: now };
                Some(Pass::Probe)
            }
        }
    }

    /// Records how a request that passed as `pass` ended; says whether the breaker
    /// opened because of it.
    pub(crate) fn record(
        &self,
        pass: Pass,
        succeeded: bool,
        now: Instant,
        config: &BreakerConfig,
    ) -> bool {
        let mut phase = self.phase();
        let open = Phase::Open {
            until: now + Duration::from_secs(config.open_seconds),
        };
        match (pass, *phase) {
            (Pass::Probe, Phase::HalfOpen { .. }) if succeeded => {
                *phase = Phase::closed(now);
                false
            }
            (Pass::Probe, Phase::HalfOpen { .. }) => {
                *phase = open;
                true
            }
            (
                Pass::Closed,
                Phase::Closed {
                    since,
                    requests,
                    failures,
                },
            ) => {
                let window = Duration::from_secs(config.window_seconds);
                let (since, requests, failures) = match now.duration_since(since) < window {
                    true => (since, requests, failures),
                    false => (now, 0, 0),
                };
                let (requests, failures) = (requests + 1, failures + u32::from(!succeeded));
                let opens = failures >= config.failure_threshold
                    && u64::from(failures) * 100
                        >= u64::from(config.failure_rate_percent) * u64::from(requests);
                *phase = match opens {
                    true => open,
                    false => Phase::Closed {
                        since,
                        requests,
                        failures,
                    },
                };
                opens
            }
            // Late outcomes of requests that passed before the breaker opened do not count.
            _ => false,
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A probe that has not answered within `open_seconds` is taken as lost (its request
/// was cancelled), so another may go.
fn probe_lost(probe_sent: Instant, now: Instant, config: &BreakerConfig) -> bool {
    now.duration_since(probe_sent) >= Duration::from_secs(config.open_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            failure_rate_percent: 50,
            window_seconds: 10,
            open_seconds: 30,
        }
    }

    #[test]
    fn opens_after_the_threshold_within_the_window_and_half_opens_for_one_probe() {
        let (breaker, config, start) = (Breaker::default(), config(), Instant::now());
        for n in 0..3 {
            let pass = breaker.pass(start, &config).expect("closed");
            assert_eq!(breaker.record(pass, false, start, &config), n == 2);
        }
        assert!(breaker.pass(start, &config).is_none(), "open");
        assert!(!breaker.available(start + Duration::from_secs(29), &config));
        let later = start + Duration::from_secs(30);
        assert!(breaker.available(later, &config));
        assert_eq!(breaker.pass(later, &config), Some(Pass::Probe));
        assert!(
            breaker.pass(later, &config).is_none(),
            "one probe at a time"
        );
        breaker.record(Pass::Probe, true, later, &config);
        assert_eq!(
            breaker.pass(later, &config),
            Some(Pass::Closed),
            "closed again"
        );
    }

    #[test]
    fn a_few_failures_among_many_successes_keep_it_closed() {
        let (breaker, config, now) = (Breaker::default(), config(), Instant::now());
        for n in 0..40 {
            assert!(
                !breaker.record(Pass::Closed, n % 4 != 0, now, &config),
                "{n}"
            );
        }
        for _ in 0..19 {
            assert!(!breaker.record(Pass::Closed, false, now, &config));
        }
        assert!(
            breaker.record(Pass::Closed, false, now, &config),
            "30 of 60 failed"
        );
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_old_failures_leave_the_window() {
        let (breaker, config, start) = (Breaker::default(), config(), Instant::now());
        for _ in 0..2 {
            breaker.record(Pass::Closed, false, start, &config);
        }
        let later = start + Duration::from_secs(11);
        assert!(
            !breaker.record(Pass::Closed, false, later, &config),
            "a new window"
        );
        for _ in 0..2 {
            breaker.record(Pass::Closed, false, later, &config);
        }
        let probe_at = later + Duration::from_secs(30);
        assert_eq!(breaker.pass(probe_at, &config), Some(Pass::Probe));
        assert!(breaker.record(Pass::Probe, false, probe_at, &config));
        assert!(breaker.pass(probe_at, &config).is_none());
    }
}
