//! Forwarding a client's request to its route's service: builds the upstream URI and adds
//! `X-Forwarded-*` (the client's hop-by-hop headers were removed when the request came
//! in). The wait for the response head is bounded by the route's deadline, set once in
//! the pipeline.

use std::error::Error;

use archway_runtime::RequestHead;
use http::Request;
use http::header::{self, HeaderMap, HeaderName};
use http::uri::{Authority, PathAndQuery};
use http_body_util::LengthLimitError;

use crate::body::UpstreamBody;
use crate::error::GatewayError;
use crate::service::Instance;

/// Why an upstream call failed, with its cause; says whether the request may have
/// reached the upstream (retries must not re-send one that may have).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The request could not be made from the route's path and query.
    #[error("cannot build the upstream request for {authority}: {reason}")]
    InvalidRequest {
        /// The upstream's `host:port`.
        authority: Authority,
        /// What was wrong.
        reason: String,
    },
    /// No connection could be made; nothing was sent.
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        /// The upstream's `host:port`.
        authority: Authority,
        /// The connector's error.
        source: Box<dyn Error + Send + Sync>,
    },
    /// The connection failed after the request may have been sent.
    #[error("upstream {authority} failed: {source}")]
    Failed {
        /// The upstream's `host:port`.
        authority: Authority,
        /// The client's error.
        source: hyper::Error,
    },
    /// The client's streamed body went over the route's limit; the upstream request was
    /// cut off.
    #[error("request to {authority} cut off: the client's body is over the route's limit")]
    BodyTooLarge {
        /// The upstream's `host:port`.
        authority: Authority,
    },
    /// The client's streamed body broke off; the upstream request was cut off.
    #[error("request to {authority} cut off: the client's body failed: {source}")]
    BodyFailed {
        /// The upstream's `host:port`.
        authority: Authority,
        /// The client's error.
        source: hyper::Error,
    },
    /// The upstream answered with a malformed response head.
    #[error("upstream {authority} sent an invalid response: {reason}")]
    InvalidResponse {
        /// The upstream's `host:port`.
        authority: Authority,
        /// What was wrong.
        reason: &'static str,
    },
}

impl UpstreamError {
    /// Whether the upstream may have received the request (so re-sending it could
    /// repeat its effect).
    pub fn may_have_reached_upstream(&self) -> bool {
        !matches!(self, Self::InvalidRequest { .. } | Self::Connect { .. })
    }

    /// A failed send, told apart by its cause: the client's body (over the limit, or
    /// broken off), a response head hyper could not parse, or the upstream's connection.
    pub(crate) fn sending(authority: Authority, source: hyper::Error) -> Self {
        // The request body's own error: the client's stream, or the route's limit on it.
        if source.is_user() && source.source().is_some() {
            let mut causes = std::iter::successors(source.source(), |&cause| cause.source());
            if causes.any(|cause| cause.is::<LengthLimitError>()) {
                Self::BodyTooLarge { authority }
            } else {
                Self::BodyFailed { authority, source }
            }
        } else if source.is_parse() {
            Self::InvalidResponse {
                authority,
                reason: "its head is malformed or too large",
            }
        } else {
            Self::Failed { authority, source }
        }
    }

    /// Whether the upstream is to blame, so the failure counts against its instance.
    pub fn blames_upstream(&self) -> bool {
        !matches!(self, Self::BodyTooLarge { .. } | Self::BodyFailed { .. })
    }

    /// What the client is told.
    pub fn gateway_error(&self) -> GatewayError {
        match self {
            Self::InvalidRequest { .. } | Self::BodyFailed { .. } => GatewayError::BadRequest,
            Self::BodyTooLarge { .. } => GatewayError::PayloadTooLarge,
            Self::Connect { .. } | Self::Failed { .. } | Self::InvalidResponse { .. } => {
                GatewayError::BadUpstream
            }
        }
    }

    /// The client's message: what happened, without internals.
    pub fn client_message(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "the request cannot be forwarded",
            Self::BodyTooLarge { .. } => "request body is over the route's limit",
            Self::BodyFailed { .. } => "the request body could not be read",
            Self::Connect { .. } | Self::Failed { .. } => "upstream unavailable",
            Self::InvalidResponse { .. } => "the upstream sent an invalid response",
        }
    }
}

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The upstream request for a request head: method, rewritten path, forwarded headers.
pub fn request(
    head: &RequestHead,
    instance: &Instance,
    upstream_path: &str,
    headers: HeaderMap,
    body: UpstreamBody,
) -> Result<Request<UpstreamBody>, UpstreamError> {
    let invalid = |reason: &str| UpstreamError::InvalidRequest {
        authority: instance.authority.clone(),
        reason: reason.to_owned(),
    };
    let path_and_query = match &head.query {
        Some(query) => PathAndQuery::try_from(format!("{upstream_path}?{query}")),
        None => PathAndQuery::try_from(upstream_path),
    }
    .map_err(|_| invalid("the path or query is not valid"))?;
    let uri = instance
        .uri(path_and_query)
        .map_err(|_| invalid("the URI is not valid"))?;
    let mut request = Request::new(body);
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    forwarded_headers(request.headers_mut());
    Ok(request)
}

/// The `Host` moved to `X-Forwarded-Host`; `X-Forwarded-For` and `X-Forwarded-Proto`
/// were settled when the request came in (`client_ip`).
fn forwarded_headers(headers: &mut HeaderMap) {
    if let Some(host) = headers.remove(header::HOST) {
        headers.insert(X_FORWARDED_HOST, host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn the_host_moves_to_forwarded_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("api.example"));
        forwarded_headers(&mut headers);
        assert_eq!(headers[&X_FORWARDED_HOST], "api.example");
        assert!(headers.get(header::HOST).is_none());
    }
}
