//! Each service's traffic for the admin contract's metrics: requests, errors (answers of
//! 500 and above) and time spent, counted with three atomic adds per request. A flusher
//! adds what each second brought to hourly totals in the store, shared by every node and
//! kept for [`RETENTION_HOURS`], which `/metrics` reads for a window of hours.

use std::collections::HashMap;
use std::ops::Sub;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use archway_store::{Store, StoreError};
use http::StatusCode;
use tokio::task::JoinHandle;

use crate::server::Proxy;

/// How long hourly totals are kept: the contract's largest `hours`.
pub const RETENTION_HOURS: u64 = 168;
/// How often this node adds its counts to the store.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Where hourly totals live: `<PREFIX><hour>/<service>/<field>`.
const PREFIX: &str = "archway:traffic/";

/// One service's counts since this process started.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    requests: AtomicU64,
    errors: AtomicU64,
    micros: AtomicU64,
}

impl Traffic {
    /// Counts one answer.
    pub(crate) fn record(&self, status: StatusCode, elapsed: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status.is_server_error() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn totals(&self) -> Totals {
        Totals {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            micros: self.micros.load(Ordering::Relaxed),
        }
    }
}

/// Requests, errors and time spent (microseconds) of a service over some span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests answered.
    pub requests: u64,
    /// Of which answered 500 or above.
    pub errors: u64,
    /// Time to the response head, summed, in microseconds.
    pub micros: u64,
}

impl Totals {
    /// The mean time to the response head in milliseconds (0 with no requests).
    pub fn mean_ms(&self) -> f64 {
        match self.requests {
            0 => 0.0,
            n => self.micros as f64 / n as f64 / 1000.0,
        }
    }

    /// The fields in the order they are added to the store: `requests` last, so a
    /// reader that sees requests counted sees their errors and time too.
    fn fields(self) -> [(&'static str, u64); 3] {
        [
            ("errors", self.errors),
            ("micros", self.micros),
            ("requests", self.requests),
        ]
    }
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, other: Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.micros += other.micros;
    }
}

impl Sub for Totals {
    type Output = Totals;

    /// What `self` counted after `earlier`.
    fn sub(self, earlier: Self) -> Totals {
        Totals {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            micros: self.micros.saturating_sub(earlier.micros),
        }
    }
}

/// The hour (since the Unix epoch) a time falls in.
pub fn hour_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 3600)
}

/// Hourly totals per service in the store.
#[derive(Clone, Debug)]
pub struct TrafficLog {
    store: Store,
}

impl TrafficLog {
    /// The log in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Adds `delta` to `service`'s totals of `hour`.
    async fn add(&self, hour: u64, service: &str, delta: Totals) -> Result<(), StoreError> {
        for (field, value) in delta.fields() {
            if value > 0 {
                let value = i64::try_from(value).unwrap_or(i64::MAX);
                self.store
                    .increment(&format!("{PREFIX}{hour}/{service}/{field}"), value)
                    .await?;
            }
        }
        Ok(())
    }

    /// Each service's totals of `hour`, or only `service`'s.
    pub async fn hour(
        &self,
        hour: u64,
        service: Option<&str>,
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        let prefix = match service {
            Some(service) => format!("{PREFIX}{hour}/{service}/"),
            None => format!("{PREFIX}{hour}/"),
        };
        let mut by_service: Vec<(String, Totals)> = Vec::new();
        for (key, value) in self.store.scan_prefix(&prefix, 10_000).await? {
            let Some((name, field)) = key
                .strip_prefix(&format!("{PREFIX}{hour}/"))
                .and_then(|rest| rest.rsplit_once('/'))
            else {
                continue;
            };
            let count = std::str::from_utf8(&value)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .unwrap_or(0);
            let index = match by_service.iter().position(|(n, _)| n == name) {
                Some(index) => index,
                None => {
                    by_service.push((name.to_owned(), Totals::default()));
                    by_service.len() - 1
                }
            };
            let totals = &mut by_service[index].1;
            match field {
                "requests" => totals.requests = count,
                "errors" => totals.errors = count,
                "micros" => totals.micros = count,
                _ => {}
            }
        }
        Ok(by_service)
    }

    /// Forgets the totals of `hour`.
    async fn forget(&self, hour: u64) -> Result<(), StoreError> {
        for (key, _) in self
            .store
            .scan_prefix(&format!("{PREFIX}{hour}/"), 10_000)
            .await?
        {
            self.store.delete(&key).await?;
        }
        Ok(())
    }
}

/// Adds this node's counts to the store every second, and forgets hours past retention.
pub fn spawn_flusher(proxy: Arc<Proxy>, log: TrafficLog) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut flushed: HashMap<String, Totals> = HashMap::new();
        let mut forgotten = 0;
        let mut ticks = tokio::time::interval(FLUSH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let hour = hour_of(SystemTime::now());
            let snapshot = proxy.snapshot();
            for (name, service) in snapshot.services().iter() {
                let now = service.traffic.totals();
                // Counts that went down started afresh (the service was gone a while).
                let before = flushed
                    .get(name)
                    .copied()
                    .filter(|before| before.requests <= now.requests)
                    .unwrap_or_default();
                let delta = now - before;
                if delta == Totals::default() {
                    continue;
                }
                match log.add(hour, name, delta).await {
                    Ok(()) => {
                        flushed.insert(name.to_owned(), now);
                    }
                    Err(error) => {
                        tracing::warn!(target: "archway.metrics", %error, "cannot add traffic to the store; will try again");
                    }
                }
            }
            let expired = hour.saturating_sub(RETENTION_HOURS);
            if forgotten < expired {
                match log.forget(expired).await {
                    Ok(()) => forgotten = expired,
                    Err(error) => {
                        tracing::warn!(target: "archway.metrics", %error, "cannot forget old traffic");
                    }
                }
            }
        }
    })
}
