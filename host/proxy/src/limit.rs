//! Request budgets, counted in the store with GCRA so that on Redis each one holds across
//! every node: the route's `rate_limit_rpm` per client address, and the quotas an
//! authenticated principal carries, per plugin that issued it. When the store cannot
//! answer, the route's `rate_limit_failure` policy decides. Responses tell the client the
//! tightest budget that counted them (`X-RateLimit-*`), and a refusal the one it exhausted.

use std::net::IpAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use archway_config::RateLimitFailure;
use archway_runtime::Principal;
use archway_store::{RateDecision, Store};
use http::{HeaderMap, HeaderName, HeaderValue, Response, header};

use crate::body::ProxyBody;
use crate::error::GatewayError;
use crate::route::Route;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// A budget as counted for one request: what the response reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counted {
    limit: u32,
    remaining: u32,
    /// Until the whole budget is available again.
    reset: Duration,
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
    let period = Duration::from_secs(60);
    match count(store, route, &key, limit, period).await? {
        Ok(counted) => Continue(counted),
        Err(refused) => Break(refused.response),
    }
}

/// Counts the request against each quota of the principal that `issuer` (the
/// authenticating plugin) established, under keys of that plugin, so two plugins that
/// pick the same quota key do not share a budget. `counted` is the tightest budget so
/// far; it becomes the tighter of itself and each quota, or the quota that refused.
pub(crate) async fn check_quotas(
    store: Option<&Store>,
    route: &Route,
    issuer: &str,
    principal: Option<&Principal>,
    counted: &mut Option<Counted>,
) -> ControlFlow<Response<ProxyBody>> {
    let (Some(store), Some(principal)) = (store, principal) else {
        return Continue(());
    };
    for quota in &principal.quotas {
        let key = quota_key(issuer, &quota.key, quota.window_seconds);
        let period = Duration::from_secs(quota.window_seconds.into());
        match count(store, route, &key, quota.limit, period).await? {
            Ok(None) => {}
            Ok(Some(this)) => *counted = Some(tighter(*counted, this)),
            Err(refused) => {
                *counted = Some(refused.exhausted);
                return Break(refused.response);
            }
        }
    }
    Continue(())
}

/// Where a quota is counted: `quota/<issuer>/<key>/<window>`. The issuer is escaped, so
/// neither it nor the key can reach into another plugin's counters.
fn quota_key(issuer: &str, key: &str, window_seconds: u32) -> String {
    let issuer = issuer.replace('%', "%25").replace('/', "%2F");
    format!("quota/{issuer}/{key}/{window_seconds}")
}

/// The budget with fewer requests left (the earlier one on a tie).
fn tighter(so_far: Option<Counted>, this: Counted) -> Counted {
    match so_far {
        Some(so_far) if so_far.remaining <= this.remaining => so_far,
        _ => this,
    }
}

/// A request refused for an exhausted budget.
struct Refused {
    exhausted: Counted,
    response: Response<ProxyBody>,
}

/// Counts one request against one budget: `Ok(Some(..))` allowed and counted, `Ok(None)`
/// not counted (the store is unreachable and the route fails open), `Err` over the
/// budget; a `Break` when the store is unreachable and the route fails closed.
async fn count(
    store: &Store,
    route: &Route,
    key: &str,
    limit: u32,
    period: Duration,
) -> ControlFlow<Response<ProxyBody>, Result<Option<Counted>, Refused>> {
    match store.rate_limit(key, limit, period).await {
        Ok(RateDecision {
            allowed: true,
            remaining,
            reset_after,
            ..
        }) => Continue(Ok(Some(Counted {
            limit,
            remaining,
            reset: reset_after,
        }))),
        Ok(decision) => {
            route.metrics.rate_limited();
            let exhausted = Counted {
                limit,
                remaining: 0,
                reset: decision.reset_after,
            };
            let mut response = route.error(GatewayError::RateLimited, "rate limit exceeded");
            let wait = decision.retry_after.unwrap_or(decision.reset_after);
            let headers = response.headers_mut();
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(whole_seconds(wait).max(1)),
            );
            report(headers, &exhausted);
            Continue(Err(Refused {
                exhausted,
                response,
            }))
        }
        Err(error) => match route.config.rate_limit_failure {
            RateLimitFailure::Open => {
                tracing::debug!(target: "archway.limit", route = &*route.id, key, %error, "counters unreachable, failing open");
                Continue(Ok(None))
            }
            RateLimitFailure::Closed => {
                tracing::warn!(target: "archway.limit", route = &*route.id, key, %error, "counters unreachable, failing closed");
                Break(route.error(GatewayError::Unavailable, "rate limiter unavailable"))
            }
        },
    }
}

/// A duration in seconds, rounded up, so a client that waits that long is not early.
fn whole_seconds(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// Tells the client its budget, what is left of it and when it is whole again.
pub(crate) fn report(headers: &mut HeaderMap, counted: &Counted) {
    headers.insert(LIMIT, HeaderValue::from(counted.limit));
    headers.insert(REMAINING, HeaderValue::from(counted.remaining));
    headers.insert(RESET, HeaderValue::from(whole_seconds(counted.reset)));
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use archway_config::Config;
    use archway_runtime::Quota;
    use archway_store::StoreConfig;

    use super::*;
    use crate::service::Services;
    use crate::upstreams::Upstreams;

    fn route(extra: &str) -> Route {
        let text = format!(
            "[[services]]\nname = \"s\"\nurl = \"http://127.0.0.1:1\"\n\
             [[routes]]\nid = \"r\"\nservice_name = \"s\"\npath_pattern = \"/\"\nrequires_auth = false\n{extra}\n"
        );
        let config = Config::from_toml_str(&text, std::path::Path::new(".")).expect("valid config");
        let services =
            Services::build(&config.services, &Upstreams::default()).expect("services resolve");
        Route::build(&config, &config.routes[0], &services, &HashMap::new()).expect("route builds")
    }

    async fn embedded() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("limits.redb");
        let store = Store::open(&StoreConfig::Embedded { path })
            .await
            .expect("store opens");
        (store, dir)
    }

    fn principal(quotas: &[(&str, u32, u32)]) -> Principal {
        Principal {
            subject: "k1".to_owned(),
            tenant: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            claims: "{}".to_owned(),
            quotas: quotas
                .iter()
                .map(|&(key, limit, window_seconds)| Quota {
                    key: key.to_owned(),
                    limit,
                    window_seconds,
                })
                .collect(),
        }
    }

    fn header(response: &Response<ProxyBody>, name: &str) -> Option<String> {
        let value = response.headers().get(name)?;
        Some(value.to_str().expect("ASCII header").to_owned())
    }

    #[tokio::test]
    async fn the_tightest_quota_is_reported_and_the_exhausted_one_refuses() {
        let (store, _dir) = embedded().await;
        let route = route("");
        let caller = principal(&[("key:k1", 3, 60), ("key:k1", 2, 86_400)]);
        let mut counted = None;
        for remaining in [1, 0] {
            let flow = check_quotas(Some(&store), &route, "keys", Some(&caller), &mut counted);
            assert!(flow.await.is_continue());
            let counted = counted.expect("counted");
            assert_eq!((counted.limit, counted.remaining), (2, remaining));
        }
        let Break(refused) =
            check_quotas(Some(&store), &route, "keys", Some(&caller), &mut counted).await
        else {
            panic!("the daily quota is exhausted");
        };
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, "x-ratelimit-limit").as_deref(), Some("2"));
        assert_eq!(
            header(&refused, "x-ratelimit-remaining").as_deref(),
            Some("0")
        );
        let reset: u64 = header(&refused, "x-ratelimit-reset")
            .and_then(|v| v.parse().ok())
            .expect("reset seconds");
        assert!((43_200..=86_400).contains(&reset), "{reset}");
        let retry: u64 = header(&refused, "retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After seconds");
        assert!((43_000..=43_200).contains(&retry), "{retry}");
        let exhausted = counted.expect("the exhausted quota is what the response reports");
        assert_eq!((exhausted.limit, exhausted.remaining), (2, 0));
    }

    #[tokio::test]
    async fn quotas_are_counted_per_issuing_plugin() {
        let (store, _dir) = embedded().await;
        let route = route("");
        let caller = principal(&[("key:k1", 1, 60)]);
        for issuer in ["keys", "other", "keys/x", "keys%2Fx"] {
            let mut counted = None;
            let flow = check_quotas(Some(&store), &route, issuer, Some(&caller), &mut counted);
            assert!(flow.await.is_continue(), "{issuer} has its own budget");
        }
        let mut counted = None;
        let flow = check_quotas(Some(&store), &route, "keys", Some(&caller), &mut counted);
        assert!(flow.await.is_break());
    }

    #[tokio::test]
    async fn a_route_limit_tighter_than_the_quotas_stays_reported() {
        let (store, _dir) = embedded().await;
        let route = route("");
        let mut counted = Some(Counted {
            limit: 5,
            remaining: 0,
            reset: Duration::from_secs(12),
        });
        let caller = principal(&[("key:k1", 10, 60)]);
        let flow = check_quotas(Some(&store), &route, "keys", Some(&caller), &mut counted);
        assert!(flow.await.is_continue());
        assert_eq!(counted.map(|c| c.limit), Some(5));
        let mut headers = HeaderMap::new();
        report(&mut headers, &counted.expect("counted"));
        assert_eq!(headers["x-ratelimit-reset"], "12");
    }

    #[tokio::test]
    async fn unreachable_counters_follow_the_routes_failure_policy() {
        let store = Store::open(&StoreConfig::redis("redis://127.0.0.1:1"))
            .await
            .expect("a Redis store opens while Redis is down");
        let caller = principal(&[("key:k1", 1, 60)]);
        let mut counted = None;
        let open = route("");
        let flow = check_quotas(Some(&store), &open, "keys", Some(&caller), &mut counted);
        assert!(flow.await.is_continue(), "fails open by default");
        assert_eq!(counted, None, "nothing was counted");
        let closed = route("rate_limit_failure = \"closed\"");
        let Break(refused) =
            check_quotas(Some(&store), &closed, "keys", Some(&caller), &mut counted).await
        else {
            panic!("fails closed when the route says so");
        };
        assert_eq!(refused.status(), 503);
    }

    #[test]
    fn reset_and_retry_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(60)), 60);
        assert_eq!(whole_seconds(Duration::from_millis(60_001)), 61);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
