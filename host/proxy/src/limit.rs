//! Request budgets, counted in the store so that on Redis each one holds across every
//! node. Before authentication: the route-wide limit and the per-address flood guard.
//! Once the caller is known: per principal (and its tenant) for a request that
//! authenticated, per client address for one that did not; then the quotas an
//! authenticated principal carries, per plugin that issued it. When the store cannot
//! answer, the route's `rate_limit_failure` policy decides. Responses tell the client the
//! tightest budget that counted them (`X-RateLimit-*`), and a refusal the one it exhausted.

use std::net::IpAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use archway_config::{RateLimitAlgorithm, RateLimitFailure};
use archway_runtime::Principal;
use archway_store::{RateAlgorithm, RateDecision, Store};
use http::{HeaderMap, HeaderName, HeaderValue, Response, header};

use crate::body::ProxyBody;
use crate::error::GatewayError;
use crate::route::Route;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

const MINUTE: Duration = Duration::from_secs(60);

/// A budget as counted for one request: what the response reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counted {
    limit: u32,
    remaining: u32,
    /// Until the whole budget is available again.
    reset: Duration,
}

/// Who a request turned out to be, for the per-caller budgets.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Caller<'a> {
    /// Authenticated by the plugin `issuer`.
    Principal {
        issuer: &'a str,
        principal: &'a Principal,
    },
    /// No principal: known by its address.
    Anonymous(IpAddr),
}

/// One budget a request is counted against.
struct Budget {
    key: String,
    limit: u32,
    period: Duration,
    algorithm: RateAlgorithm,
}

/// Counts the request against the budgets that hold before authentication: the
/// route-wide limit and the per-address flood guard.
pub(crate) async fn check_client(
    store: Option<&Store>,
    route: &Route,
    client_ip: IpAddr,
    counted: &mut Option<Counted>,
) -> ControlFlow<Response<ProxyBody>> {
    let config = &route.config;
    let id = &route.limit_segment;
    let budgets = [
        per_minute(route, config.rate_limit_route_rpm, || format!("route/{id}")),
        per_minute(route, config.rate_limit_ip_rpm, || {
            format!("ip/{id}/{client_ip}")
        }),
    ];
    count_all(store, route, budgets.into_iter().flatten(), counted).await
}

/// Counts the request against its caller's budgets: the principal's and its tenant's,
/// or the client address's when it has no principal.
pub(crate) async fn check_caller(
    store: Option<&Store>,
    route: &Route,
    caller: Caller<'_>,
    counted: &mut Option<Counted>,
) -> ControlFlow<Response<ProxyBody>> {
    let config = &route.config;
    let id = &route.limit_segment;
    let budgets = match caller {
        Caller::Principal { issuer, principal } => [
            per_minute(route, config.rate_limit_rpm, || {
                format!("caller/{id}/{}/{}", segment(issuer), principal.subject)
            }),
            principal.tenant.as_ref().and_then(|tenant| {
                per_minute(route, config.rate_limit_tenant_rpm, || {
                    format!("tenant/{id}/{tenant}")
                })
            }),
        ],
        Caller::Anonymous(client_ip) => {
            let limit = config
                .rate_limit_anonymous_rpm
                .unwrap_or(config.rate_limit_rpm);
            [
                per_minute(route, limit, || format!("anonymous/{id}/{client_ip}")),
                None,
            ]
        }
    };
    count_all(store, route, budgets.into_iter().flatten(), counted).await
}

/// Counts the request against its tenant's budget over every route, `rpm` requests per
/// minute (0: unlimited).
pub(crate) async fn check_tenant(
    store: Option<&Store>,
    route: &Route,
    tenant: &str,
    rpm: u32,
    counted: &mut Option<Counted>,
) -> ControlFlow<Response<ProxyBody>> {
    let budget = per_minute(route, rpm, || format!("tenant-wide/{}", segment(tenant)));
    count_all(store, route, budget, counted).await
}

/// Counts the request against each quota of the principal that `issuer` (the
/// authenticating plugin) established, under keys of that plugin, so two plugins that
/// pick the same quota key do not share a budget. Quotas count with GCRA whatever the
/// route's algorithm: they may be daily, and GCRA keeps one number per key.
pub(crate) async fn check_quotas(
    store: Option<&Store>,
    route: &Route,
    issuer: &str,
    principal: &Principal,
    counted: &mut Option<Counted>,
) -> ControlFlow<Response<ProxyBody>> {
    let budgets: Vec<Budget> = principal
        .quotas
        .iter()
        .map(|quota| Budget {
            key: quota_key(issuer, &quota.key, quota.window_seconds),
            limit: quota.limit,
            period: Duration::from_secs(quota.window_seconds.into()),
            algorithm: RateAlgorithm::Gcra,
        })
        .collect();
    count_all(store, route, budgets, counted).await
}

/// A per-minute budget of the route's algorithm under the key `key` makes; `None` when
/// `limit` is 0 (unlimited).
fn per_minute(route: &Route, limit: u32, key: impl FnOnce() -> String) -> Option<Budget> {
    (limit > 0).then(|| Budget {
        key: key(),
        limit,
        period: MINUTE,
        algorithm: match route.config.rate_limit_algorithm {
            RateLimitAlgorithm::SlidingWindow => RateAlgorithm::SlidingWindow,
            RateLimitAlgorithm::Gcra => RateAlgorithm::Gcra,
        },
    })
}

/// A key segment that cannot reach into another's: `/` and `%` are escaped.
pub(crate) fn segment(text: &str) -> String {
    text.replace('%', "%25").replace('/', "%2F")
}

/// Where a quota is counted: `quota/<issuer>/<key>/<window>`.
fn quota_key(issuer: &str, key: &str, window_seconds: u32) -> String {
    format!("quota/{}/{key}/{window_seconds}", segment(issuer))
}

/// Counts the request against each budget in turn. `counted` is the tightest budget so
/// far; it becomes the tighter of itself and each budget, or the budget that refused.
async fn count_all(
    store: Option<&Store>,
    route: &Route,
    budgets: impl IntoIterator<Item = Budget>,
    counted: &mut Option<Counted>,
) -> ControlFlow<Response<ProxyBody>> {
    let Some(store) = store else {
        return Continue(());
    };
    for budget in budgets {
        match count(store, route, &budget).await? {
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
    budget: &Budget,
) -> ControlFlow<Response<ProxyBody>, Result<Option<Counted>, Refused>> {
    let Budget {
        key,
        limit,
        period,
        algorithm,
    } = budget;
    let limit = *limit;
    match Box::pin(store.rate_limit(key, limit, *period, *algorithm)).await {
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

/// Tells the client its budget, what is left of it and when (Unix seconds, rounded up) it
/// is whole again.
pub(crate) fn report(headers: &mut HeaderMap, counted: &Counted) {
    headers.insert(LIMIT, HeaderValue::from(counted.limit));
    headers.insert(REMAINING, HeaderValue::from(counted.remaining));
    headers.insert(
        RESET,
        HeaderValue::from(reset_at(SystemTime::now(), counted.reset)),
    );
}

/// The Unix time, in whole seconds rounded up, `reset` after `now`.
fn reset_at(now: SystemTime, reset: Duration) -> u64 {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    whole_seconds(since_epoch + reset)
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
            let flow = check_quotas(Some(&store), &route, "keys", &caller, &mut counted);
            assert!(flow.await.is_continue());
            let counted = counted.expect("counted");
            assert_eq!((counted.limit, counted.remaining), (2, remaining));
        }
        let Break(refused) =
            check_quotas(Some(&store), &route, "keys", &caller, &mut counted).await
        else {
            panic!("the daily quota is exhausted");
        };
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, "x-ratelimit-limit").as_deref(), Some("2"));
        assert_eq!(
            header(&refused, "x-ratelimit-remaining").as_deref(),
            Some("0")
        );
        let reset = seconds_until(&header(&refused, "x-ratelimit-reset").expect("reset"));
        assert!((43_199..=86_401).contains(&reset), "{reset}");
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
            let flow = check_quotas(Some(&store), &route, issuer, &caller, &mut counted);
            assert!(flow.await.is_continue(), "{issuer} has its own budget");
        }
        let mut counted = None;
        let flow = check_quotas(Some(&store), &route, "keys", &caller, &mut counted);
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
        let flow = check_quotas(Some(&store), &route, "keys", &caller, &mut counted);
        assert!(flow.await.is_continue());
        assert_eq!(counted.map(|c| c.limit), Some(5));
        let mut headers = HeaderMap::new();
        report(&mut headers, &counted.expect("counted"));
        let reset = headers["x-ratelimit-reset"].to_str().expect("ASCII");
        assert!((11..=13).contains(&seconds_until(reset)), "{reset}");
    }

    #[tokio::test]
    async fn unreachable_counters_follow_the_routes_failure_policy() {
        let store = Store::open(&StoreConfig::redis("redis://127.0.0.1:1"))
            .await
            .expect("a Redis store opens while Redis is down");
        let caller = principal(&[("key:k1", 1, 60)]);
        let mut counted = None;
        let open = route("");
        let flow = check_quotas(Some(&store), &open, "keys", &caller, &mut counted);
        assert!(flow.await.is_continue(), "fails open by default");
        assert_eq!(counted, None, "nothing was counted");
        let closed = route("rate_limit_failure = \"closed\"");
        let Break(refused) =
            check_quotas(Some(&store), &closed, "keys", &caller, &mut counted).await
        else {
            panic!("fails closed when the route says so");
        };
        assert_eq!(refused.status(), 503);
    }

    /// Seconds from now until the Unix time `epoch_seconds`.
    fn seconds_until(epoch_seconds: &str) -> u64 {
        let at: u64 = epoch_seconds.parse().expect("Unix seconds");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970");
        at.saturating_sub(now.as_secs())
    }

    #[tokio::test]
    async fn callers_are_counted_per_principal_or_per_address() {
        let (store, _dir) = embedded().await;
        let route = route("rate_limit_rpm = 2\nrate_limit_anonymous_rpm = 1");
        let alice = principal(&[]);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let mut counted = None;
        let anonymous = check_caller(Some(&store), &route, Caller::Anonymous(ip), &mut counted);
        assert!(anonymous.await.is_continue());
        for _ in 0..2 {
            let as_alice = Caller::Principal {
                issuer: "keys",
                principal: &alice,
            };
            let mut counted = None;
            let flow = check_caller(Some(&store), &route, as_alice, &mut counted);
            assert!(flow.await.is_continue(), "alice has her own budget of 2");
        }
        let again = check_caller(Some(&store), &route, Caller::Anonymous(ip), &mut counted);
        assert!(again.await.is_break(), "the address's budget of 1 is spent");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        let mut counted = None;
        let flow = check_caller(Some(&store), &route, Caller::Anonymous(other), &mut counted);
        assert!(flow.await.is_continue(), "another address has its own");
    }

    #[test]
    fn reset_is_a_unix_time_rounded_up() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        assert_eq!(reset_at(now, Duration::from_millis(400)), 1_700_000_001);
        assert_eq!(reset_at(now, Duration::from_secs(60)), 1_700_000_061);
    }

    #[test]
    fn reset_and_retry_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(60)), 60);
        assert_eq!(whole_seconds(Duration::from_millis(60_001)), 61);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
