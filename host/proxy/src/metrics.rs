//! The proxy's own series on the metrics endpoint: requests by route, method and status
//! class, request and upstream durations, body bytes both ways, open connections,
//! rate-limit rejections and response-cache lookups. Each route registers its series when
//! it is built or on their first use, so serving a request bumps atomics and looks nothing
//! up.

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http::{Method, StatusCode};
use hyper::body::{Body, Frame, SizeHint};
use metrics::{Counter, Gauge, Histogram};

/// The method label: the standard methods by name, anything else as `OTHER`.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "OTHER",
];
/// The status label, by the status code's first digit.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// What a response-cache lookup found.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CacheLookup {
    Hit,
    Miss,
}

impl CacheLookup {
    /// Its `result` label.
    fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
        }
    }
}

/// The series of one route (or of requests that matched none, as route `none`).
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    route: String,
    requests: [[OnceLock<Counter>; STATUS_CLASSES.len()]; METHODS.len()],
    duration: Histogram,
    rate_limited: Counter,
    cache_lookups: [OnceLock<Counter>; 2],
}

impl RouteMetrics {
    /// Registers the route's series; the per-method, per-status counters are registered
    /// on their first request, so a route shows only what it served.
    pub(crate) fn new(route: &str) -> Self {
        Self {
            route: route.to_owned(),
            requests: Default::default(),
            duration: metrics::histogram!("archway_request_duration_seconds", "route" => route.to_owned()),
            rate_limited: metrics::counter!("archway_rate_limited_total", "route" => route.to_owned()),
            cache_lookups: Default::default(),
        }
    }

    /// Counts one request answered with `status` after `elapsed` (to the response head).
    pub(crate) fn request(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        let method = METHODS
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(METHODS.len() - 1);
        let class = usize::from(status.as_u16() / 100).clamp(1, STATUS_CLASSES.len()) - 1;
        self.requests[method][class]
            .get_or_init(|| {
                metrics::counter!(
                    "archway_requests_total",
                    "route" => self.route.clone(),
                    "method" => METHODS[method],
                    "status" => STATUS_CLASSES[class]
                )
            })
            .increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }

    /// Counts one request refused by the route's rate limit or a principal's quota.
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.increment(1);
    }

    /// Counts one response-cache lookup on the route (registered on the first, so only
    /// caching routes show the series).
    pub(crate) fn cache_lookup(&self, found: CacheLookup) {
        self.cache_lookups[found as usize]
            .get_or_init(|| {
                metrics::counter!(
                    "archway_response_cache_lookups_total",
                    "route" => self.route.clone(),
                    "result" => found.label()
                )
            })
            .increment(1);
    }
}

/// The time a service took to answer a forwarded request (to the response head).
pub(crate) fn upstream_duration(service: &str) -> Histogram {
    metrics::histogram!("archway_upstream_duration_seconds", "service" => service.to_owned())
}

/// The gateway-wide series: connections and bytes.
#[derive(Debug, Clone)]
pub(crate) struct ServerMetrics {
    pub(crate) open_connections: Gauge,
    pub(crate) received_bytes: Counter,
    pub(crate) sent_bytes: Counter,
}

impl ServerMetrics {
    pub(crate) fn new() -> Self {
        Self {
            open_connections: metrics::gauge!("archway_open_connections"),
            received_bytes: metrics::counter!("archway_received_body_bytes_total"),
            sent_bytes: metrics::counter!("archway_sent_body_bytes_total"),
        }
    }
}

/// A body that counts the bytes passing through it.
#[derive(Debug)]
pub struct CountedBody<B> {
    inner: B,
    bytes: Counter,
}

impl<B> CountedBody<B> {
    /// Counts `inner`'s data bytes in `bytes`.
    pub(crate) fn new(inner: B, bytes: Counter) -> Self {
        Self { inner, bytes }
    }
}

impl<B: Body + Unpin> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.bytes.increment(data.remaining() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
