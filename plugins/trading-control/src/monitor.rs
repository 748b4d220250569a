//! Monitoring: system health from heartbeat freshness, and the backend's metrics and
//! alerts over a time window.

use std::collections::BTreeMap;

use archway_sdk::serde_json::{Map, Value, json};
use archway_sdk::{Entry, kv, streams};

use crate::failure::Failure;
use crate::input::{self, Query};
use crate::{Api, clock, records};

/// The backend components `/api/health` reports, by their heartbeat names: the
/// `livecore` group, then the infrastructure the backend uses.
pub const COMPONENTS: [&str; 7] = [
    "livecore/data",
    "livecore/trade_gateway",
    "livecore/live_engine",
    "livecore/scheduler",
    "kafka",
    "mysql",
    "clickhouse",
];

/// The severities an alert may have.
const SEVERITIES: [&str; 3] = ["critical", "warning", "info"];

impl Api {
    /// `GET /api/health`: the gateway (answering), the store (a read), and each backend
    /// component (a heartbeat no older than `heartbeat_timeout_seconds`): 200 when all
    /// are healthy, else 503, with the contract's report.
    pub fn health(&self) -> (u16, Value) {
        let now = clock::now_ms();
        let beats: Result<BTreeMap<&str, Option<u64>>, Failure> = COMPONENTS
            .iter()
            .map(|&c| Ok((c, self.heartbeat(c)?)))
            .collect();
        let word = |healthy: bool| match healthy {
            true => "healthy",
            false => "unhealthy",
        };
        let component = |name: &str| match &beats {
            Ok(beats) => word(self.fresh(beats.get(name).copied().flatten(), now)),
            Err(_) => "unknown",
        };
        let mut components = Map::new();
        let mut livecore = Map::new();
        for name in COMPONENTS {
            match name.strip_prefix("livecore/") {
                Some(part) => livecore.insert(part.to_owned(), json!(component(name))),
                None => components.insert(name.to_owned(), json!(component(name))),
            };
        }
        components.insert("api_gateway".to_owned(), json!("healthy"));
        components.insert("livecore".to_owned(), Value::Object(livecore));
        components.insert("redis".to_owned(), json!(word(beats.is_ok())));
        let healthy = beats.is_ok() && COMPONENTS.iter().all(|c| component(c) == "healthy");
        let body = json!({
            "status": word(healthy),
            "components": components,
            "timestamp": clock::rfc3339(now),
        });
        (if healthy { 200 } else { 503 }, body)
    }

    /// `GET /api/metrics` (`component`, `start_time`, `end_time`, `limit`, `offset`).
    pub fn metrics(&self, query: &Query) -> Result<Value, Failure> {
        let (start, end) = query.window("start_time", "end_time")?;
        let (limit, offset) = (query.limit(100, 1000)?, query.offset()?);
        let component = query.get("component");
        let matching: Vec<Entry> = self
            .window(&self.names.metrics(), start, end, "metrics")?
            .into_iter()
            .filter(|e| component.is_none_or(|c| field(e, "component") == c))
            .collect();
        let total = matching.len();
        let metrics: Vec<Value> = input::page(matching, offset, limit)
            .iter()
            .map(|e| {
                json!({
                    "component": field(e, "component"),
                    "metric_name": field(e, "metric_name"),
                    "value": field(e, "value").parse::<f64>().ok(),
                    "timestamp": clock::rfc3339(clock::entry_ms(&e.id)),
                })
            })
            .collect();
        Ok(json!({ "metrics": metrics, "total_count": total }))
    }

    /// `GET /api/alerts` (`severity`, `source`, `start_time`, `end_time`, `limit`,
    /// `offset`).
    pub fn alerts(&self, query: &Query) -> Result<Value, Failure> {
        let severity = query.one_of("severity", &SEVERITIES)?;
        let (start, end) = query.window("start_time", "end_time")?;
        let (limit, offset) = (query.limit(100, 1000)?, query.offset()?);
        let source = query.get("source");
        let matching: Vec<Entry> = self
            .window(&self.names.alerts(), start, end, "alerts")?
            .into_iter()
            .filter(|e| severity.is_none_or(|s| field(e, "severity") == s))
            .filter(|e| source.is_none_or(|s| field(e, "source") == s))
            .collect();
        let total = matching.len();
        let alerts: Vec<Value> = input::page(matching, offset, limit)
            .iter()
            .map(|e| {
                let details: Value = archway_sdk::serde_json::from_str(field(e, "details"))
                    .unwrap_or_else(|_| json!({}));
                json!({
                    "alert_id": field(e, "alert_id"),
                    "alert_type": field(e, "alert_type"),
                    "severity": field(e, "severity"),
                    "source": field(e, "source"),
                    "message": field(e, "message"),
                    "details": details,
                    "timestamp": clock::rfc3339(clock::entry_ms(&e.id)),
                })
            })
            .collect();
        Ok(json!({ "alerts": alerts, "total_count": total }))
    }

    /// The heartbeats whose component starts with `prefix`, by the rest of the name.
    pub fn heartbeats(&self, prefix: &str) -> Result<BTreeMap<String, u64>, Failure> {
        let root = format!("heartbeats/{prefix}");
        let found = kv::scan(&self.names.name(&root), records::SCAN_LIMIT)
            .map_err(|e| Failure::store("read heartbeats", &e))?;
        Ok(found
            .into_iter()
            .filter_map(|(key, value)| {
                let name = self.names.id_in(&key, &root)?.to_owned();
                let ms = std::str::from_utf8(&value).ok()?.trim().parse().ok()?;
                Some((name, ms))
            })
            .collect())
    }

    /// One component's last heartbeat.
    pub fn heartbeat(&self, component: &str) -> Result<Option<u64>, Failure> {
        let value = kv::get(&self.names.heartbeat(component))
            .map_err(|e| Failure::store("read a heartbeat", &e))?;
        Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse().ok()))
    }

    /// Whether a heartbeat at `at` is recent enough at `now`.
    pub fn fresh(&self, at: Option<u64>, now: u64) -> bool {
        at.is_some_and(|at| now.saturating_sub(at) <= self.heartbeat_timeout_ms)
    }

    fn window(
        &self,
        stream: &str,
        start: u64,
        end: u64,
        what: &str,
    ) -> Result<Vec<Entry>, Failure> {
        streams::range(stream, start, end, records::SCAN_LIMIT)
            .map_err(|e| Failure::store(&format!("read {what}"), &e))
    }
}

/// An entry's field, empty when absent.
fn field<'a>(entry: &'a Entry, name: &str) -> &'a str {
    entry
        .fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}
