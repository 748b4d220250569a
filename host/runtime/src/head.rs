//! The request and response as plugins see them: the WIT `request-head` and
//! `response-head`. The proxy keeps its own request state and lends these narrow views
//! to plugins; a plugin reads fields through resource handles, so nothing is copied
//! until it asks.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;

use crate::{Principal, Role, RouteInfo};

/// Everything a plugin may ask about the request in flight.
#[derive(Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The normalised path, without the query.
    pub path: String,
    /// The query string without `?`.
    pub query: Option<String>,
    /// The request headers (transforms edit them in place).
    pub headers: HeaderMap,
    /// The client's address.
    pub client_ip: IpAddr,
    /// The matched route's settings.
    pub route: Arc<RouteInfo>,
    /// Path parameters captured by the route pattern.
    pub params: Vec<(String, String)>,
    /// The request's tenant.
    pub tenant: Option<String>,
    /// The principal established by authentication.
    pub principal: Option<Principal>,
    /// The buffered body, when the route buffers it.
    pub body: Option<Bytes>,
    /// When the route's timeout runs out; the `upstream` calls a plugin makes for this
    /// request wait no longer.
    pub deadline: Option<Instant>,
    /// The plugin calls made for this request, when it is traced.
    pub spans: Option<Vec<PluginSpan>>,
    /// A number drawn uniformly from `[0, 1)` for this request: whether it runs the
    /// plugins' canary versions, the same for every hook.
    pub sample: f64,
}

/// One plugin call made for a traced request: a child span of the request's.
#[derive(Clone, Debug)]
pub struct PluginSpan {
    /// The plugin called.
    pub plugin: Arc<str>,
    /// The role it was called in.
    pub role: Role,
    /// When the call started.
    pub started: SystemTime,
    /// How long it took, waiting for a call slot included.
    pub duration: Duration,
    /// Why it failed (a trap, a timeout, an invalid answer); a deny is not a failure.
    pub error: Option<String>,
}

impl Default for RequestHead {
    fn default() -> Self {
        Self {
            method: Method::GET,
            path: String::new(),
            query: None,
            headers: HeaderMap::new(),
            client_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            route: Arc::new(RouteInfo {
                id: String::new(),
                service_name: None,
                version: String::new(),
                required_permissions: Vec::new(),
            }),
            params: Vec::new(),
            tenant: None,
            principal: None,
            body: None,
            deadline: None,
            spans: None,
            sample: 0.0,
        }
    }
}

/// The response head a transform sees on the way back.
#[derive(Debug, Default)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The buffered body, when a transform on the route reads it.
    pub body: Option<Bytes>,
}

/// The first value of a header as text (lossy for non-UTF-8 bytes).
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Every header as (name, value) text pairs.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
