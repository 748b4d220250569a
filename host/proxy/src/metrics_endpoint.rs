//! `GET /metrics` (`[metrics]`): Prometheus text for a scraper that asks for it
//! (`Accept: text/plain` or OpenMetrics), and the admin contract's envelope with the text
//! in `content.metrics` for any other client. Both carry the contract's series
//! (`gateway_requests_total`, `gateway_errors_total`, `gateway_response_time_ms`,
//! `gateway_active_routes`, `gateway_healthy_instances`) beside the gateway's own. The
//! scrape counts this node since it started; the envelope reads the hourly totals of
//! every node in the store for its `hours`, `service_name` and `group_by`.

use std::fmt::Write as _;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use crate::body::{ProxyBody, full};
use crate::server::RenderMetrics;
use crate::snapshot::Snapshot;
use crate::timestamp;
use crate::traffic::{RETENTION_HOURS, Totals, TrafficLog, hour_of};

/// The contract's default window.
const DEFAULT_HOURS: u64 = 24;

/// The answer to a `GET` of the metrics path.
pub(crate) async fn answer(
    snapshot: &Snapshot,
    render: &RenderMetrics,
    log: Option<&TrafficLog>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> http::Response<ProxyBody> {
    if wants_text(headers) {
        let totals = snapshot
            .services()
            .iter()
            .fold(Totals::default(), |mut sum, (_, service)| {
                sum += service.traffic.totals();
                sum
            });
        let mut text = contract_series(snapshot, None, &[(None, totals)]);
        text.push_str(&render());
        return respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            text,
        );
    }
    match envelope_text(snapshot, log, query).await {
        Ok(series) => envelope(
            StatusCode::OK,
            "S10000",
            "獲取監控指標成功",
            json!({ "metrics": series + &render() }),
        ),
        Err(Refusal::Invalid(field, message)) => envelope(
            StatusCode::BAD_REQUEST,
            "F40000",
            &format!("參數驗證失敗，{field}: {message}"),
            json!({ "field": field, "message": message }),
        ),
        Err(Refusal::Unavailable) => envelope(
            StatusCode::SERVICE_UNAVAILABLE,
            "F50300",
            "服務不可用，請稍後重試",
            json!({}),
        ),
    }
}

/// Whether the client asked for the exposition format.
fn wants_text(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| {
            accept.contains("text/plain") || accept.contains("application/openmetrics-text")
        })
}

/// How the envelope's traffic is split.
#[derive(Clone, Copy)]
enum GroupBy {
    Hour,
    Day,
}

impl GroupBy {
    /// The label of the period `hour` (since the epoch) falls in.
    fn period(self, hour: u64) -> String {
        let start = timestamp::format(hour * 3600);
        match self {
            Self::Hour => format!("{}:00", &start[..13]),
            Self::Day => start[..10].to_owned(),
        }
    }
}

enum Refusal {
    Invalid(&'static str, String),
    Unavailable,
}

/// The contract's series over the query's window, read from the store.
async fn envelope_text(
    snapshot: &Snapshot,
    log: Option<&TrafficLog>,
    query: Option<&str>,
) -> Result<String, Refusal> {
    let mut hours = DEFAULT_HOURS;
    let mut service = None;
    let mut group_by = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*name {
            "hours" => {
                hours = value
                    .parse()
                    .ok()
                    .filter(|h| (1..=RETENTION_HOURS).contains(h))
                    .ok_or_else(|| {
                        Refusal::Invalid(
                            "hours",
                            format!("must be 1-{RETENTION_HOURS} (got {value:?})"),
                        )
                    })?;
            }
            "service_name" if !value.is_empty() => service = Some(value.into_owned()),
            "group_by" => {
                group_by = match &*value {
                    "hour" => Some(GroupBy::Hour),
                    "day" => Some(GroupBy::Day),
                    other => {
                        return Err(Refusal::Invalid(
                            "group_by",
                            format!("must be hour or day (got {other:?})"),
                        ));
                    }
                };
            }
            _ => {}
        }
    }
    let now = hour_of(SystemTime::now());
    let mut periods: Vec<(Option<String>, Totals)> = Vec::new();
    if let Some(log) = log {
        for hour in now + 1 - hours..=now {
            let found = log.hour(hour, service.as_deref()).await.map_err(|error| {
                tracing::warn!(target: "archway.metrics", %error, "cannot read traffic");
                Refusal::Unavailable
            })?;
            let mut totals = Totals::default();
            for (_, counted) in found {
                totals += counted;
            }
            let period = group_by.map(|group| group.period(hour));
            match periods.last_mut() {
                Some((last, sum)) if *last == period => *sum += totals,
                _ => periods.push((period, totals)),
            }
        }
    }
    if periods.is_empty() {
        periods.push((None, Totals::default()));
    }
    Ok(contract_series(snapshot, service.as_deref(), &periods))
}

/// A traffic series: name, help, type, and its value from a period's totals.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Totals) -> String,
);

/// The contract's five series: traffic per period (one unlabelled line without
/// periods), routes and healthy instances now.
fn contract_series(
    snapshot: &Snapshot,
    service: Option<&str>,
    periods: &[(Option<String>, Totals)],
) -> String {
    let mut text = String::new();
    let traffic: [Series; 3] = [
        (
            "gateway_requests_total",
            "Total number of requests",
            "counter",
            |t| t.requests.to_string(),
        ),
        (
            "gateway_errors_total",
            "Total number of error requests",
            "counter",
            |t| t.errors.to_string(),
        ),
        (
            "gateway_response_time_ms",
            "Average response time in milliseconds",
            "gauge",
            |t| format!("{:.1}", t.mean_ms()),
        ),
    ];
    for (name, help, kind, value) in traffic {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (period, totals) in periods {
            let labels = period
                .as_ref()
                .map_or_else(String::new, |p| format!("{{period=\"{p}\"}}"));
            let _ = writeln!(text, "{name}{labels} {}", value(totals));
        }
    }
    let gauges = [
        (
            "gateway_active_routes",
            "Number of active routes",
            snapshot.router().active_routes_of(service),
        ),
        (
            "gateway_healthy_instances",
            "Number of healthy service instances",
            snapshot.services().healthy_instances(service),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    text
}

fn envelope(
    status: StatusCode,
    code: &str,
    msg: &str,
    content: serde_json::Value,
) -> http::Response<ProxyBody> {
    let body = json!({ "code": code, "msg": msg, "content": content });
    respond(status, "application/json", body.to_string())
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> http::Response<ProxyBody> {
    let mut response = http::Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
