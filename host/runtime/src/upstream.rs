//! The `upstream` import: plugins call services named in the gateway config, never raw
//! URLs. The runtime checks the grant, validates the request and bounds the wait; the
//! proxy, which owns the services and the pooled client, sends it through
//! [`ServiceCalls`], so the crate arrows keep pointing one way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, StatusCode};
use tokio::time::Instant;

use crate::bindings::types::Response;
use crate::bindings::upstream::{self, OutgoingRequest, UpstreamError};
use crate::head::header_pairs;
use crate::host::HostState;
use crate::validate::{MAX_BODY_BYTES, strip_hop_by_hop};

/// How long a call may wait outside a request (in `init` or `tick`) when it sets no
/// timeout of its own.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most requests one `send-all` takes.
const MAX_BATCH: usize = 64;
/// The most headers one outgoing request carries.
const MAX_HEADERS: usize = 100;

/// One validated call from a plugin to a named service.
#[derive(Debug)]
pub struct ServiceCall {
    /// The service's name in the config.
    pub service: String,
    /// The request method.
    pub method: Method,
    /// The path and query on the service.
    pub path: PathAndQuery,
    /// Request headers, without hop-by-hop, `host` or `content-length`.
    pub headers: HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The largest response body to accept.
    pub max_response_bytes: usize,
}

/// A service's complete response.
#[derive(Debug)]
pub struct ServiceReply {
    /// The status code.
    pub status: StatusCode,
    /// The response headers, without hop-by-hop ones.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// Why a service call failed, as the plugin is told.
#[derive(Debug, thiserror::Error)]
pub enum ServiceCallError {
    /// No service of that name is configured.
    #[error("no service named {0} is configured")]
    UnknownService(String),
    /// The service could not be reached or broke off.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot be sent (the proxy refused it).
    #[error("{0}")]
    Invalid(String),
    /// The response body is over the call's limit.
    #[error("the response body is over {0} bytes")]
    TooLarge(usize),
}

/// The future of one service call.
pub type ServiceCallFuture =
    Pin<Box<dyn Future<Output = Result<ServiceReply, ServiceCallError>> + Send>>;

/// Sends plugins' calls to named services; the proxy implements it over its services
/// and pooled client, and the runtime bounds each call's wait.
pub trait ServiceCalls: Send + Sync + 'static {
    /// Sends one call and reads its whole response.
    fn call(&self, call: ServiceCall) -> ServiceCallFuture;
}

/// What a plugin granted `upstream` may call, and through what.
#[derive(Clone)]
pub(crate) struct UpstreamGrant {
    pub(crate) calls: Arc<dyn ServiceCalls>,
    pub(crate) services: Arc<[String]>,
    pub(crate) max_response_bytes: usize,
}

impl HostState {
    /// Checks a guest's request against the grant and the HTTP rules, and gives the
    /// call's deadline: its own timeout, capped by what is left of the route's.
    fn prepare(
        &self,
        request: OutgoingRequest,
    ) -> Result<(ServiceCall, Instant, Arc<dyn ServiceCalls>), UpstreamError> {
        let Some(grant) = &self.upstream else {
            return Err(UpstreamError::Unavailable(
                "this gateway process sends no upstream calls".to_owned(),
            ));
        };
        if !grant.services.contains(&request.service) {
            return Err(UpstreamError::UnknownService(format!(
                "service {} is not in plugin {}'s upstreams",
                request.service, self.plugin
            )));
        }
        let invalid = |reason: String| UpstreamError::Invalid(reason);
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| invalid(format!("method {:?} is not valid", request.method)))?;
        let path = request
            .path
            .starts_with('/')
            .then(|| request.path.parse::<PathAndQuery>().ok())
            .flatten()
            .ok_or_else(|| {
                invalid(format!(
                    "path {:?} is not an absolute URL path",
                    request.path
                ))
            })?;
        if request.body.len() > MAX_BODY_BYTES {
            return Err(invalid(format!("the body is over {MAX_BODY_BYTES} bytes")));
        }
        let own = request
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()));
        let now = Instant::now();
        let deadline = match (own, self.request.deadline) {
            (Some(own), Some(route)) => route.min(now + own),
            (Some(own), None) => now + own,
            (None, Some(route)) => route,
            (None, None) => now + DEFAULT_TIMEOUT,
        };
        let call = ServiceCall {
            service: request.service,
            method,
            path,
            headers: outgoing_headers(request.headers)?,
            body: Bytes::from(request.body),
            max_response_bytes: grant.max_response_bytes,
        };
        Ok((call, deadline, grant.calls.clone()))
    }
}

/// Sends a prepared call and waits for its reply until `deadline`.
async fn send(
    prepared: Result<(ServiceCall, Instant, Arc<dyn ServiceCalls>), UpstreamError>,
) -> Result<Response, UpstreamError> {
    let (call, deadline, calls) = prepared?;
    match tokio::time::timeout_at(deadline, calls.call(call)).await {
        Err(_) => Err(UpstreamError::Timeout),
        Ok(Err(error)) => Err(match error {
            ServiceCallError::UnknownService(_) => UpstreamError::UnknownService(error.to_string()),
            ServiceCallError::Unavailable(_) => UpstreamError::Unavailable(error.to_string()),
            ServiceCallError::Invalid(_) => UpstreamError::Invalid(error.to_string()),
            ServiceCallError::TooLarge(_) => UpstreamError::TooLarge(error.to_string()),
        }),
        Ok(Ok(mut reply)) => {
            // The body arrives whole, so its framing header says nothing; without it a
            // handler can answer with the reply as it is.
            reply.headers.remove(header::CONTENT_LENGTH);
            Ok(Response {
                status: reply.status.as_u16(),
                headers: header_pairs(&reply.headers),
                body: reply.body.to_vec(),
            })
        }
    }
}

/// The guest's headers as a header map: names and values must be valid; hop-by-hop
/// headers (and those `connection` names), `host` and `content-length` belong to the
/// connection and are left out.
fn outgoing_headers(headers: Vec<(String, String)>) -> Result<HeaderMap, UpstreamError> {
    if headers.len() > MAX_HEADERS {
        return Err(UpstreamError::Invalid(format!(
            "more than {MAX_HEADERS} headers"
        )));
    }
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| UpstreamError::Invalid(format!("header name {name:?} is not valid")))?;
        let value = HeaderValue::try_from(value)
            .map_err(|_| UpstreamError::Invalid(format!("value of header {name} is not valid")))?;
        map.append(name, value);
    }
    strip_hop_by_hop(&mut map);
    map.remove(header::HOST);
    map.remove(header::CONTENT_LENGTH);
    Ok(map)
}

impl upstream::Host for HostState {
    async fn send(&mut self, request: OutgoingRequest) -> Result<Response, UpstreamError> {
        send(self.prepare(request)).await
    }

    async fn send_all(
        &mut self,
        requests: Vec<OutgoingRequest>,
    ) -> Vec<Result<Response, UpstreamError>> {
        if requests.len() > MAX_BATCH {
            let refused = format!("send-all takes at most {MAX_BATCH} requests");
            return requests
                .iter()
                .map(|_| Err(UpstreamError::Invalid(refused.clone())))
                .collect();
        }
        let calls = requests
            .into_iter()
            .map(|request| send(self.prepare(request)));
        futures_util::future::join_all(calls).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_headers_are_left_out_and_bad_ones_refused() {
        let map = outgoing_headers(vec![
            ("accept".into(), "application/json".into()),
            ("connection".into(), "close, x-hop".into()),
            ("x-hop".into(), "1".into()),
            ("host".into(), "elsewhere".into()),
            ("content-length".into(), "5".into()),
        ])
        .expect("valid headers");
        assert_eq!(
            map.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["accept"]
        );
        assert!(matches!(
            outgoing_headers(vec![("bad name".into(), "x".into())]),
            Err(UpstreamError::Invalid(_))
        ));
        assert!(matches!(
            outgoing_headers(vec![("x-a".into(), "line\nbreak".into())]),
            Err(UpstreamError::Invalid(_))
        ));
    }
}
