//! CORS at the edge, from a browser's point of view: preflights answered by the gateway
//! without reaching the auth chain or the upstream, and the allow headers on every
//! answer of a route with CORS rules, the gateway's own 401 and 429 included.

use std::net::SocketAddr;

use archway_tests::artifacts::BARE_AUTHENTICATOR;
use archway_tests::servers::scripted;
use archway_tests::{Reply, gateway, send};

const APP: &str = "http://localhost:3000";

/// A route `/cors/*` authenticated by the `x-user` header with the trading contract's
/// rules for `APP` (gateway-wide), limited to `rpm` requests a minute, and a route
/// `/open/*` with its own rules for any origin.
fn config(rpm: u32) -> String {
    format!(
        "[log]\naccess_log = false\n\
         [cors]\nallowed_origins = [\"{APP}\", \"https://yourdomain.com\"]\n\
         [[plugins]]\nname = \"bare\"\npath = \"{BARE_AUTHENTICATOR}\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"cors\"\nservice_name = \"echo\"\npath_pattern = \"/cors/*\"\n\
         method = \"GET\"\nauthenticate = [\"bare\"]\nrate_limit_rpm = {rpm}\n\
         [[routes]]\nid = \"open\"\nservice_name = \"echo\"\npath_pattern = \"/open/*\"\n\
         requires_auth = false\nrate_limit_rpm = 0\n\
         [routes.cors]\nallowed_origins = [\"*\"]\nexposed_headers = []\n"
    )
}

/// A browser's preflight from `origin` for a `method` request to `path`.
async fn preflight(addr: SocketAddr, path: &str, origin: &str, method: &str) -> Reply {
    let headers = [
        ("origin", origin),
        ("access-control-request-method", method),
        ("access-control-request-headers", "authorization"),
    ];
    send(addr, "OPTIONS", path, &headers, "").await
}

#[tokio::test]
async fn a_preflight_is_answered_by_the_gateway_without_auth_or_upstream() {
    let upstream = scripted("echo").await;
    let gateway = gateway(&config(0), upstream.addr()).await;
    let addr = gateway.addr();
    let reply = preflight(addr, "/cors/x", APP, "GET").await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        reply.header("access-control-allow-methods"),
        Some("GET, POST, PUT, DELETE, OPTIONS")
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some("authorization, content-type, x-api-key")
    );
    assert_eq!(reply.header("access-control-max-age"), Some("600"));
    assert_eq!(reply.header("vary"), Some("origin"));
    assert_eq!(upstream.requests(), 0, "nothing reached the upstream");

    let refused = preflight(addr, "/cors/x", "https://evil.example", "GET").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["code"], "F40003");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let wrong_method = preflight(addr, "/cors/x", APP, "PATCH").await;
    assert_eq!(
        wrong_method.status, 404,
        "the route takes GET only: no route for PATCH"
    );

    let any = preflight(addr, "/open/x", "https://any.example", "PUT").await;
    assert_eq!(any.status, 204);
    assert_eq!(any.header("access-control-allow-origin"), Some("*"));
    assert_eq!(upstream.requests(), 0);
    gateway.stop().await;
}

fn allowed(reply: &Reply) -> Option<&str> {
    reply.header("access-control-allow-origin")
}

#[tokio::test]
async fn answers_carry_cors_headers_the_gateways_own_401_and_429_included() {
    let upstream = scripted("echo").await;
    // One call a minute per caller: ada's second call is refused.
    let gateway = gateway(&config(1), upstream.addr()).await;
    let addr = gateway.addr();
    let from_app = [("origin", APP), ("x-user", "ada")];
    let ok = send(addr, "GET", "/cors/x", &from_app, "").await;
    assert_eq!(ok.status, 200);
    assert_eq!(allowed(&ok), Some(APP));
    assert_eq!(
        ok.header("access-control-expose-headers"),
        Some("x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after")
    );

    let unauthenticated = send(addr, "GET", "/cors/x", &[("origin", APP)], "").await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(
        allowed(&unauthenticated),
        Some(APP),
        "a browser can read the 401"
    );

    let limited = send(addr, "GET", "/cors/x", &from_app, "").await;
    assert_eq!(limited.status, 429);
    assert_eq!(allowed(&limited), Some(APP), "a browser can read the 429");
    assert!(limited.header("retry-after").is_some());

    let other = send(
        addr,
        "GET",
        "/open/x",
        &[("origin", "https://evil.example")],
        "",
    )
    .await;
    assert_eq!(allowed(&other), Some("*"));
    assert_eq!(other.header("access-control-expose-headers"), None);
    let stranger = send(
        addr,
        "GET",
        "/cors/x",
        &[("origin", "https://evil.example"), ("x-user", "ada")],
        "",
    )
    .await;
    assert_eq!(stranger.status, 429, "still limited");
    assert_eq!(
        allowed(&stranger),
        None,
        "an origin not allowed gets no CORS headers"
    );
    gateway.stop().await;
}
