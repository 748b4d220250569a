//! A plugin's canary: a new version that runs for a share of requests (drawn once per
//! request, so every hook of one request runs the same version) and for every request of
//! the tenants listed. Its failed calls are counted over fixed windows; when a window's
//! failure rate passes the threshold the canary rolls back on its own: it takes no more
//! calls, and the rollback is counted and reported to whoever listens (the gateway,
//! which tells every node).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archway_config::CanaryConfig;

use crate::head::RequestHead;
use crate::plugin::Plugin;

/// Where a canary's automatic rollback is reported.
pub type CanaryReports = Arc<dyn Fn(CanaryTrip) + Send + Sync>;

/// A canary that rolled back on its own.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryTrip {
    /// The plugin.
    pub plugin: String,
    /// The content hash of the canary's component.
    pub digest: [u8; 32],
    /// Why: the window's failures and calls.
    pub reason: String,
}

/// What a canary has done so far.
#[derive(Clone, Debug, PartialEq)]
pub struct CanaryStatus {
    /// The content hash of its component.
    pub digest: [u8; 32],
    /// Whether it rolled back on its own and takes no more calls.
    pub rolled_back: bool,
    /// Calls in the current window.
    pub calls: u64,
    /// Failed calls in the current window.
    pub failures: u64,
}

/// The calls of the current window.
struct Window {
    started: Instant,
    calls: u64,
    failures: u64,
}

impl Window {
    /// A window starting at `now`.
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            calls: 0,
            failures: 0,
        }
    }

    /// Counts a call made at `now` (in a new window once `rules.window_seconds` passed);
    /// why the canary must roll back, when the window's failure rate is now over the
    /// threshold.
    fn count(&mut self, failed: bool, rules: &CanaryConfig, now: Instant) -> Option<String> {
        if now.duration_since(self.started) >= Duration::from_secs(rules.window_seconds) {
            *self = Self::new(now);
        }
        self.calls += 1;
        self.failures += u64::from(failed);
        let rate = self.failures as f64 / self.calls as f64;
        (self.calls >= rules.min_calls && rate > rules.max_error_rate).then(|| {
            format!(
                "{} of its {} calls in {} s failed, over max_error_rate {}",
                self.failures, self.calls, rules.window_seconds, rules.max_error_rate
            )
        })
    }
}

/// A new version beside a plugin's serving one.
pub(crate) struct Canary {
    pub(crate) version: Plugin,
    rules: CanaryConfig,
    window: Mutex<Window>,
    rolled_back: AtomicBool,
    reports: Option<CanaryReports>,
}

impl Canary {
    pub(crate) fn new(
        version: Plugin,
        rules: CanaryConfig,
        reports: Option<CanaryReports>,
    ) -> Self {
        metrics::gauge!("archway_plugin_canary_active", "plugin" => version.name().to_owned())
            .set(1.0);
        Self {
            version,
            rules,
            window: Mutex::new(Window::new(Instant::now())),
            rolled_back: AtomicBool::new(false),
            reports,
        }
    }

    /// Whether `request` runs the canary: never outside requests (`init`, `tick`) or once
    /// it rolled back.
    pub(crate) fn chosen(&self, request: Option<&RequestHead>) -> bool {
        let Some(request) = request else {
            return false;
        };
        if self.rolled_back.load(Ordering::Relaxed) {
            return false;
        }
        let listed = request
            .tenant
            .as_ref()
            .is_some_and(|tenant| self.rules.tenants.contains(tenant));
        listed || request.sample * 100.0 < self.rules.percent
    }

    /// Counts one call of the canary, and rolls it back if its window's failure rate is
    /// now over the threshold.
    pub(crate) fn record(&self, failed: bool) {
        let plugin = self.version.name();
        let result = if failed { "failed" } else { "ok" };
        metrics::counter!("archway_plugin_canary_calls_total", "plugin" => plugin.to_owned(), "result" => result)
            .increment(1);
        let tripped = self.window.lock().expect("canary window lock").count(
            failed,
            &self.rules,
            Instant::now(),
        );
        if let Some(reason) = tripped
            && !self.rolled_back.swap(true, Ordering::Relaxed)
        {
            tracing::error!(target: "archway.canary", plugin, reason, "canary rolled back");
            metrics::counter!("archway_plugin_canary_rollbacks_total", "plugin" => plugin.to_owned())
                .increment(1);
            metrics::gauge!("archway_plugin_canary_active", "plugin" => plugin.to_owned()).set(0.0);
            if let Some(reports) = &self.reports {
                reports(CanaryTrip {
                    plugin: plugin.to_owned(),
                    digest: self.version.content_hash(),
                    reason,
                });
            }
        }
    }

    /// What it has done so far.
    pub(crate) fn status(&self) -> CanaryStatus {
        let window = self.window.lock().expect("canary window lock");
        CanaryStatus {
            digest: self.version.content_hash(),
            rolled_back: self.rolled_back.load(Ordering::Relaxed),
            calls: window.calls,
            failures: window.failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> CanaryConfig {
        CanaryConfig {
            path: "new.wasm".into(),
            percent: 10.0,
            tenants: Vec::new(),
            max_error_rate: 0.2,
            window_seconds: 60,
            min_calls: 10,
        }
    }

    #[test]
    fn a_window_trips_once_it_has_enough_calls_and_too_many_failures() {
        let (rules, start) = (rules(), Instant::now());
        let mut window = Window::new(start);
        for call in 0..9 {
            assert_eq!(
                window.count(call % 2 == 0, &rules, start),
                None,
                "call {call}"
            );
        }
        assert_eq!(
            window.count(false, &rules, start).as_deref(),
            Some("5 of its 10 calls in 60 s failed, over max_error_rate 0.2")
        );
    }

    #[test]
    fn failures_at_the_threshold_or_in_a_past_window_do_not_trip() {
        let (rules, start) = (rules(), Instant::now());
        let mut window = Window::new(start);
        for call in 0..10 {
            let failed = call < 2;
            assert_eq!(
                window.count(failed, &rules, start),
                None,
                "2 of 10 is not over 0.2"
            );
        }
        let later = start + Duration::from_secs(60);
        assert_eq!(window.count(true, &rules, later), None, "a new window");
        assert_eq!((window.calls, window.failures), (1, 1));
    }
}
