//! OpenTelemetry export: each sampled request becomes a server span with a child span per
//! plugin call, queued without waiting and sent in batches to the collector's
//! `/v1/traces` as OTLP/HTTP JSON. A full queue or a collector that is down drops spans
//! (counted in `archway_trace_spans_dropped_total`), never slows a request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use archway_runtime::PluginSpan;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::trace::new_span_id;

/// Requests waiting for export; more are dropped.
const QUEUE: usize = 4096;
/// The most requests one export carries.
const BATCH: usize = 512;
/// How long spans wait for more to join their batch.
const LINGER: Duration = Duration::from_secs(1);
/// How long the collector may take to answer.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// OTLP span kinds and status codes.
const KIND_INTERNAL: u8 = 1;
const KIND_SERVER: u8 = 2;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

/// One sampled request, as its spans are built.
#[derive(Debug)]
pub(crate) struct RequestTrace {
    /// The trace id, hex.
    pub(crate) trace_id: [u8; 32],
    /// The request's span id, hex.
    pub(crate) span_id: [u8; 16],
    /// The client's span, when it sent one.
    pub(crate) parent_span_id: Option<[u8; 16]>,
    /// The span's name (`GET /users/*`).
    pub(crate) name: String,
    /// When the request arrived.
    pub(crate) started: SystemTime,
    /// How long it took to its response head.
    pub(crate) duration: Duration,
    /// The status answered.
    pub(crate) status: u16,
    /// Attributes of the request span.
    pub(crate) attributes: Vec<(&'static str, String)>,
    /// Its plugin calls.
    pub(crate) plugins: Vec<PluginSpan>,
}

/// The queue into the exporter task.
#[derive(Debug)]
pub(crate) struct Exporter {
    queue: mpsc::Sender<RequestTrace>,
    task: JoinHandle<()>,
}

impl Exporter {
    /// Starts exporting to the collector at `endpoint` (`http://host:port`) as `service`.
    pub(crate) fn start(endpoint: &str, service: &str) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let task = tokio::spawn(export(waiting, url, service.to_owned()));
        Self { queue, task }
    }

    /// Queues a request's spans; dropped (and counted) when the queue is full.
    pub(crate) fn send(&self, trace: RequestTrace) {
        if self.queue.try_send(trace).is_err() {
            metrics::counter!("archway_trace_spans_dropped_total").increment(1);
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends batches until the queue closes.
async fn export(mut waiting: mpsc::Receiver<RequestTrace>, url: String, service: String) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = waiting.recv().await {
        batch.push(first);
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < BATCH {
            tokio::select! {
                more = waiting.recv() => match more {
                    Some(trace) => batch.push(trace),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        let body = encode(&service, &batch).to_string();
        let request = http::Request::post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid export request");
        let sent = tokio::time::timeout(EXPORT_TIMEOUT, client.request(request)).await;
        match sent {
            Ok(Ok(answer)) if answer.status().is_success() => {}
            failed => {
                let why = match failed {
                    Ok(Ok(answer)) => format!("the collector answered {}", answer.status()),
                    Ok(Err(error)) => error.to_string(),
                    Err(_) => "the collector did not answer in time".to_owned(),
                };
                tracing::warn!(target: "archway.trace", url, error = why, spans = batch.len(), "cannot export spans");
                metrics::counter!("archway_trace_spans_dropped_total")
                    .increment(batch.len() as u64);
            }
        }
        batch.clear();
    }
}

/// An OTLP `ExportTraceServiceRequest` in its JSON form.
fn encode(service: &str, batch: &[RequestTrace]) -> Value {
    let spans: Vec<Value> = batch.iter().flat_map(spans_of).collect();
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [attribute("service.name", service)] },
            "scopeSpans": [{
                "scope": { "name": "archway", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
}

/// A request's span and its plugin calls' spans.
fn spans_of(trace: &RequestTrace) -> Vec<Value> {
    let trace_id = text(&trace.trace_id);
    let request_span = text(&trace.span_id);
    let failed = trace.status >= 500;
    let mut spans = vec![span(
        SpanFields {
            trace_id,
            span_id: request_span,
            parent: trace.parent_span_id.as_ref().map_or("", |id| text(id)),
            name: &trace.name,
            kind: KIND_SERVER,
            started: trace.started,
            duration: trace.duration,
            error: failed.then_some("the gateway answered 5xx"),
        },
        trace
            .attributes
            .iter()
            .map(|(key, value)| attribute(key, value))
            .chain([json!({"key": "http.response.status_code", "value": {"intValue": trace.status.to_string()}})])
            .collect(),
    )];
    for plugin in &trace.plugins {
        let id = new_span_id();
        spans.push(span(
            SpanFields {
                trace_id,
                span_id: text(&id),
                parent: request_span,
                name: &format!("plugin {} {}", plugin.plugin, plugin.role),
                kind: KIND_INTERNAL,
                started: plugin.started,
                duration: plugin.duration,
                error: plugin.error.as_deref(),
            },
            vec![
                attribute("archway.plugin", &plugin.plugin),
                attribute("archway.plugin.role", &plugin.role.to_string()),
            ],
        ));
    }
    spans
}

/// What one span says.
struct SpanFields<'a> {
    trace_id: &'a str,
    span_id: &'a str,
    parent: &'a str,
    name: &'a str,
    kind: u8,
    started: SystemTime,
    duration: Duration,
    error: Option<&'a str>,
}

fn span(fields: SpanFields<'_>, attributes: Vec<Value>) -> Value {
    let start = nanos(fields.started);
    let status = match fields.error {
        Some(message) => json!({ "code": STATUS_ERROR, "message": message }),
        None => json!({ "code": STATUS_OK }),
    };
    json!({
        "traceId": fields.trace_id,
        "spanId": fields.span_id,
        "parentSpanId": fields.parent,
        "name": fields.name,
        "kind": fields.kind,
        "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + fields.duration.as_nanos()).to_string(),
        "attributes": attributes,
        "status": status,
    })
}

fn attribute(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

fn nanos(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn text(hex: &[u8]) -> &str {
    std::str::from_utf8(hex).expect("hex digits")
}
