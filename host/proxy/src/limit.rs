//! Route rate limits: one GCRA count per route and client address in the store, so on
//! Redis a limit holds across every node; when the store cannot answer, the route's
//! `rate_limit_failure` policy decides.

use std::net::IpAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use archway_config::RateLimitFailure;
use archway_store::{RateDecision, Store};
use http::{HeaderMap, HeaderName, HeaderValue, Response, header};

use crate::body::ProxyBody;
use crate::error::GatewayError;
use crate::route::Route;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");

/// A route's limit as counted for one request: what the response reports.
pub(crate) struct Counted {
    limit: u32,
    remaining: u32,
}

/// Counts the request against its route's limit; `None` when the route is unlimited or
/// the counters are unreachable and the route fails open.
pub(crate) async fn check(
    store: Option<&Store>,
    route: &Route,
    client_ip: IpAddr,
) -> ControlFlow<Response<ProxyBody>, Option<Counted>> {
    let limit = route.config.rate_limit_rpm;
    let Some(store) = store.filter(|_| limit > 0) else {
        return Continue(None);
    };
    let key = format!("route/{}/{client_ip}", route.id);
    match store.rate_limit(&key, limit, Duration::from_secs(60)).await {
        Ok(RateDecision {
            allowed: true,
            remaining,
            ..
        }) => Continue(Some(Counted { limit, remaining })),
        Ok(decision) => {
            route.metrics.rate_limited();
            let mut response = route.error(GatewayError::RateLimited, "rate limit exceeded");
            let wait = decision.retry_after.unwrap_or(decision.reset_after);
            let headers = response.headers_mut();
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            report(
                headers,
                &Counted {
                    limit,
                    remaining: 0,
                },
            );
            Break(response)
        }
        Err(error) => match route.config.rate_limit_failure {
            RateLimitFailure::Open => {
                tracing::debug!(target: "archway.limit", route = &*route.id, %error, "counters unreachable, failing open");
                Continue(None)
            }
            RateLimitFailure::Closed => {
                tracing::warn!(target: "archway.limit", route = &*route.id, %error, "counters unreachable, failing closed");
                Break(route.error(GatewayError::Unavailable, "rate limiter unavailable"))
            }
        },
    }
}

/// Tells the client its limit and what is left of it.
pub(crate) fn report(headers: &mut HeaderMap, counted: &Counted) {
    headers.insert(LIMIT, HeaderValue::from(counted.limit));
    headers.insert(REMAINING, HeaderValue::from(counted.remaining));
}
