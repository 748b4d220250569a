//! An instance's circuit breaker: closed while the instance answers; open once
//! `failure_threshold` requests failed within `window_seconds` and they were at least
//! `failure_rate_percent` of its requests, so requests skip it for `open_seconds`; then
//! half-open, when one probe request decides whether it closes again or opens for
//! another period.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use archway_config::BreakerConfig;

/// One instance's breaker; its state outlives snapshots, its settings come with each call.
/// While it is closed, requests pass and succeed without taking its lock.
#[derive(Debug)]
pub(crate) struct Breaker {
    /// Mirrors `Phase::Closed`, read without the lock.
    closed: AtomicBool,
    /// Outcomes that came back in the closed breaker's current window.
    requests: AtomicU32,
    /// Bumped at every open and close, so outcomes of requests that passed before are
    /// told apart.
    generation: AtomicU64,
    phase: Mutex<Phase>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Requests pass; how many failed since `since` is counted.
    Closed { since: Instant, failures: u32 },
    /// Requests skip the instance until `until`.
    Open { until: Instant },
    /// One probe went at `probe_sent`; the rest wait for its outcome.
    HalfOpen { probe_sent: Instant },
}

impl Phase {
    fn closed(since: Instant) -> Self {
        Self::Closed { since, failures: 0 }
    }
}

/// How a request passed the breaker, which says what its outcome does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Through the closed breaker of this generation.
    Closed(u64),
    /// The half-open breaker's probe.
    Probe,
}

/// A request that passed a breaker; its outcome goes back with [`Passed::record`]. A
/// probe dropped unrecorded (its request cancelled) lets the next request probe.
#[derive(Debug)]
pub(crate) struct Passed<'a> {
    breaker: &'a Breaker,
    pass: Option<Pass>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            closed: AtomicBool::new(true),
            requests: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            phase: Mutex::new(Phase::closed(Instant::now())),
        }
    }
}

impl Breaker {
    /// Whether a request could pass now (a balancer asks this of every candidate).
    pub(crate) fn available(&self, now: Instant, config: &BreakerConfig) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return true;
        }
        match *self.phase() {
            Phase::Closed { .. } => true,
            Phase::Open { until } => now >= until,
            Phase::HalfOpen { probe_sent } => probe_lost(probe_sent, now, config),
        }
    }

    /// Lets a request pass, or `None` when the breaker is open or its probe is out.
    pub(crate) fn pass(&self, now: Instant, config: &BreakerConfig) -> Option<Passed<'_>> {
        let passed = |pass| Passed {
            breaker: self,
            pass: Some(pass),
        };
        let generation = self.generation.load(Ordering::Acquire);
        if self.closed.load(Ordering::Acquire) {
            return Some(passed(Pass::Closed(generation)));
        }
        let mut phase = self.phase();
        match *phase {
            Phase::Closed { .. } => Some(passed(Pass::Closed(generation))),
            Phase::Open { until } if now < until => None,
            Phase::HalfOpen { probe_sent } if !probe_lost(probe_sent, now, config) => None,
            Phase::Open { .. } | Phase::HalfOpen { .. } => {
                *phase = Phase::HalfOpen { probe_sent: now };
                Some(passed(Pass::Probe))
            }
        }
    }

    /// Moves to `next`, keeping the lock-free mirror and the generation in step.
    fn enter(&self, phase: &mut Phase, next: Phase) {
        let was_closed = matches!(phase, Phase::Closed { .. });
        let closes = matches!(next, Phase::Closed { .. });
        if was_closed != closes {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.requests.store(0, Ordering::Release);
            self.closed.store(closes, Ordering::Release);
        }
        *phase = next;
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Passed<'_> {
    /// Records how the request ended; says whether the breaker opened because of it.
    pub(crate) fn record(mut self, succeeded: bool, now: Instant, config: &BreakerConfig) -> bool {
        let Some(pass) = self.pass.take() else {
            return false;
        };
        let breaker = self.breaker;
        if let Pass::Closed(generation) = pass
            && succeeded
        {
            // The common case, without the lock: a success only adds to the window's count.
            if generation == breaker.generation.load(Ordering::Acquire) {
                breaker.requests.fetch_add(1, Ordering::AcqRel);
            }
            return false;
        }
        let mut phase = breaker.phase();
        let open = Phase::Open {
            until: now + Duration::from_secs(config.open_seconds),
        };
        match (pass, *phase) {
            (Pass::Probe, Phase::HalfOpen { .. }) => {
                let next = if succeeded { Phase::closed(now) } else { open };
                breaker.enter(&mut phase, next);
                !succeeded
            }
            (Pass::Closed(generation), Phase::Closed { since, failures })
                if generation == breaker.generation.load(Ordering::Acquire) =>
            {
                let window = Duration::from_secs(config.window_seconds);
                let (since, failures) = match now.duration_since(since) < window {
                    true => (since, failures + 1),
                    false => {
                        breaker.requests.store(0, Ordering::Release);
                        (now, 1)
                    }
                };
                let requests = breaker.requests.fetch_add(1, Ordering::AcqRel) + 1;
                let opens = failures >= config.failure_threshold
                    && u64::from(failures) * 100
                        >= u64::from(config.failure_rate_percent) * u64::from(requests);
                let next = match opens {
                    true => open,
                    false => Phase::Closed { since, failures },
                };
                breaker.enter(&mut phase, next);
                opens
            }
            // Outcomes of requests that passed before the breaker last opened or closed.
            _ => false,
        }
    }
}

impl Drop for Passed<'_> {
    fn drop(&mut self) {
        if self.pass == Some(Pass::Probe) {
            let mut phase = self.breaker.phase();
            if matches!(*phase, Phase::HalfOpen { .. }) {
                // The probe's request was cancelled: the next request probes.
                *phase = Phase::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

/// A probe that has not answered within `open_seconds` is taken as lost, so another may
/// go.
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

    fn fail(breaker: &Breaker, now: Instant, config: &BreakerConfig) -> bool {
        breaker
            .pass(now, config)
            .expect("passes")
            .record(false, now, config)
    }

    #[test]
    fn opens_after_the_threshold_within_the_window_and_half_opens_for_one_probe() {
        let (breaker, config, start) = (Breaker::default(), config(), Instant::now());
        for n in 0..3 {
            assert_eq!(fail(&breaker, start, &config), n == 2);
        }
        assert!(breaker.pass(start, &config).is_none(), "open");
        assert!(!breaker.available(start + Duration::from_secs(29), &config));
        let later = start + Duration::from_secs(30);
        assert!(breaker.available(later, &config));
        let probe = breaker.pass(later, &config).expect("a probe");
        assert_eq!(probe.pass, Some(Pass::Probe));
        assert!(
            breaker.pass(later, &config).is_none(),
            "one probe at a time"
        );
        probe.record(true, later, &config);
        let passed = breaker.pass(later, &config).expect("closed again");
        assert!(matches!(passed.pass, Some(Pass::Closed(_))));
    }

    #[test]
    fn a_few_failures_among_many_successes_keep_it_closed() {
        let (breaker, config, now) = (Breaker::default(), config(), Instant::now());
        for n in 0..40 {
            let passed = breaker.pass(now, &config).expect("closed");
            assert!(!passed.record(n % 4 != 0, now, &config), "{n}");
        }
        for _ in 0..19 {
            assert!(!fail(&breaker, now, &config));
        }
        assert!(fail(&breaker, now, &config), "30 of 60 failed");
    }

    #[test]
    fn a_failed_probe_opens_it_again_and_old_failures_leave_the_window() {
        let (breaker, config, start) = (Breaker::default(), config(), Instant::now());
        for _ in 0..2 {
            fail(&breaker, start, &config);
        }
        let later = start + Duration::from_secs(11);
        assert!(!fail(&breaker, later, &config), "a new window");
        fail(&breaker, later, &config);
        assert!(fail(&breaker, later, &config));
        let probe_at = later + Duration::from_secs(30);
        assert!(fail(&breaker, probe_at, &config), "the probe failed");
        assert!(breaker.pass(probe_at, &config).is_none());
    }

    #[test]
    fn a_cancelled_probe_lets_the_next_request_probe_and_stale_outcomes_do_not_count() {
        let (breaker, config, start) = (Breaker::default(), config(), Instant::now());
        let stale: Vec<_> = (0..3)
            .map(|_| breaker.pass(start, &config).expect("closed"))
            .collect();
        for _ in 0..3 {
            fail(&breaker, start, &config);
        }
        let later = start + Duration::from_secs(30);
        drop(breaker.pass(later, &config).expect("a probe"));
        let probe = breaker
            .pass(later, &config)
            .expect("the cancelled probe freed its turn");
        probe.record(true, later, &config);
        for passed in stale {
            assert!(
                !passed.record(false, later, &config),
                "passed before it opened"
            );
        }
        assert!(breaker.available(later, &config));
        assert!(breaker.closed.load(Ordering::Acquire));
    }
}
