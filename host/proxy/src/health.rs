//! Whether an instance takes requests: its registered status, active probes of its
//! `health_check_url` (a streak of failures marks it unhealthy, a streak of passes
//! healthy again), and passive marking when requests to it keep failing. The state
//! outlives snapshots; the probes run while a snapshot that has them serves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use archway_config::{HealthConfig, InstanceStatus, Probe};
use http::uri::PathAndQuery;
use http::{Method, Request, Uri};
use http_body_util::{Either, Full};
use metrics::Gauge;
use tokio::task::AbortHandle;

use crate::client::HttpClient;
use crate::service::{Instance, Services};

/// One instance's health.
#[derive(Debug)]
pub(crate) struct Health {
    /// Whether it takes requests: its registered status, then probes and passive marking.
    up: AtomicBool,
    /// Requests that failed in a row.
    failures: AtomicU32,
    /// When an instance without probes, marked passively, comes back.
    ejected_until: Mutex<Option<Instant>>,
    /// The status it was last registered with, so a changed registration resets `up`.
    registered: Mutex<InstanceStatus>,
    /// `archway_upstream_healthy`: 1 while it takes requests.
    gauge: Gauge,
}

impl Health {
    /// The health of `instance` of `service`, registered with `status`.
    pub(crate) fn new(service: &str, instance: &str, status: InstanceStatus) -> Self {
        let gauge = metrics::gauge!(
            "archway_upstream_healthy",
            "service" => service.to_owned(),
            "instance" => instance.to_owned()
        );
        let health = Self {
            up: AtomicBool::new(true),
            failures: AtomicU32::new(0),
            ejected_until: Mutex::new(None),
            registered: Mutex::new(status),
            gauge,
        };
        health.set_up(status != InstanceStatus::Unhealthy);
        health
    }

    /// Takes a new registration: a changed status replaces what probes concluded.
    pub(crate) fn register(&self, status: InstanceStatus) {
        let mut registered = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *registered != status {
            *registered = status;
            *self.ejected() = None;
            self.set_up(status != InstanceStatus::Unhealthy);
        }
    }

    /// Whether it takes requests now; an ejection that ran out ends here.
    pub(crate) fn is_up(&self, now: Instant) -> bool {
        if self.up.load(Ordering::Relaxed) {
            return true;
        }
        let mut ejected = self.ejected();
        match *ejected {
            Some(until) if now >= until => {
                *ejected = None;
                self.set_up(true);
                true
            }
            _ => false,
        }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
        self.gauge.set(f64::from(u8::from(up)));
    }

    /// Counts a request that succeeded (a failure streak ends).
    pub(crate) fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a failed request; `passive_failures` in a row mark the instance (one with
    /// probes until they pass, one without for `eject_seconds`) unless `others_up` says
    /// it is the last one taking requests: failures alone never empty a service. Says
    /// whether it was marked.
    pub(crate) fn failed(
        &self,
        probed: bool,
        config: &HealthConfig,
        now: Instant,
        others_up: impl FnOnce() -> bool,
    ) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if config.passive_failures == 0 || failures < config.passive_failures {
            return false;
        }
        self.failures.store(0, Ordering::Relaxed);
        if !others_up() {
            return false;
        }
        if !probed {
            *self.ejected() = Some(now + Duration::from_secs(config.eject_seconds));
        }
        self.set_up(false);
        true
    }

    fn ejected(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.ejected_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The probes running now, one task per probed instance, replaced as snapshots are.
#[derive(Debug, Default)]
pub(crate) struct HealthChecks(Mutex<HashMap<ProbeKey, AbortHandle>>);

/// What a probe task was started for; a change in any part restarts it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ProbeKey {
    service: String,
    instance: String,
    uri: String,
    interval_seconds: u64,
    config: HealthConfig,
}

impl HealthChecks {
    /// Probes the instances of `services` that have a health check, stopping probes of
    /// instances no longer there.
    pub(crate) fn follow(&self, services: &Services) {
        let mut wanted = HashMap::new();
        for (name, service) in services.iter() {
            for instance in &service.instances {
                let Some(probe) = &instance.probe else {
                    continue;
                };
                let Ok(uri) = probe_uri(instance, probe) else {
                    tracing::warn!(target: "archway.health", service = name, instance = &*instance.id, path = probe.path, "health_check_url does not make a URI; not probed");
                    continue;
                };
                let key = ProbeKey {
                    service: name.to_owned(),
                    instance: instance.id.clone(),
                    uri: uri.to_string(),
                    interval_seconds: probe.interval_seconds,
                    config: service.health.clone(),
                };
                let prober = Prober {
                    uri,
                    instance: instance.state.clone(),
                    client: service.client.clone(),
                    config: service.health.clone(),
                    service: name.to_owned(),
                    id: instance.id.clone(),
                };
                wanted.insert(key, (prober, probe.interval_seconds));
            }
        }
        let mut running = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|key, task| {
            let keep = wanted.remove(key).is_some();
            if !keep {
                task.abort();
            }
            keep
        });
        for (key, (prober, interval)) in wanted {
            let task = tokio::spawn(prober.run(Duration::from_secs(interval)));
            running.insert(key, task.abort_handle());
        }
    }
}

impl Drop for HealthChecks {
    fn drop(&mut self) {
        let running = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        for task in running.values() {
            task.abort();
        }
    }
}

/// The URI an instance's probe requests.
fn probe_uri(instance: &Instance, probe: &Probe) -> Result<Uri, http::Error> {
    instance.uri(PathAndQuery::try_from(probe.path.as_str())?)
}

/// One instance's probe loop.
struct Prober {
    uri: Uri,
    instance: Arc<crate::service::InstanceState>,
    client: HttpClient,
    config: HealthConfig,
    service: String,
    id: String,
}

impl Prober {
    async fn run(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut passes, mut failures) = (0, 0);
        let mut seen_up = None;
        loop {
            ticks.tick().await;
            let health = &self.instance.health;
            let was_up = health.up.load(Ordering::Relaxed);
            if seen_up != Some(was_up) {
                // Marked by failed requests or a new registration: streaks start over.
                (passes, failures, seen_up) = (0, 0, Some(was_up));
            }
            if self.passes().await {
                (passes, failures) = (passes + 1, 0);
                if !was_up && passes >= self.config.healthy_threshold {
                    health.set_up(true);
                    seen_up = Some(true);
                    tracing::info!(target: "archway.health", service = self.service, instance = self.id, "instance healthy again");
                }
            } else {
                (passes, failures) = (0, failures + 1);
                if was_up && failures >= self.config.unhealthy_threshold {
                    health.set_up(false);
                    seen_up = Some(false);
                    tracing::warn!(target: "archway.health", service = self.service, instance = self.id, "instance marked unhealthy: its health checks fail");
                }
            }
        }
    }

    /// One probe: a 2xx or 3xx answer within the timeout passes.
    async fn passes(&self) -> bool {
        let mut request = Request::new(Either::Right(Full::default()));
        *request.method_mut() = Method::GET;
        *request.uri_mut() = self.uri.clone();
        let timeout = Duration::from_millis(self.config.timeout_ms);
        match tokio::time::timeout(timeout, self.client.send(request)).await {
            Ok(Ok(response)) => {
                let status = response.status();
                status.is_success() || status.is_redirection()
            }
            _ => false,
        }
    }
}
