//! Rate limits by identity, as a client sees them: anonymous callers counted per address
//! and authenticated ones per principal (the trading contract's 100 and 1000 a minute),
//! tenants and the whole route, both algorithms exact at the boundary with the
//! `X-RateLimit-*` headers on every answer, shared by two nodes on Redis, and an address
//! that `X-Forwarded-For` cannot fake unless the peer is a trusted proxy.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use archway_store::testing::RedisServer;
use archway_tests::artifacts::BARE_AUTHENTICATOR;
use archway_tests::servers::scripted;
use archway_tests::tokens::{now, sign, signing_key};
use archway_tests::{Reply, get};
use jsonwebtoken::Algorithm;
use serde_json::json;

const ALGORITHMS: [&str; 2] = ["sliding_window", "gcra"];

/// Route `/api/*`, authenticated by the `x-user` header when there is one (anonymous
/// callers pass), with the route fields `limits`; `extra` is added to the file.
fn config(limits: &str, extra: &str) -> String {
    required_config(&format!("requires_auth = false\n{limits}"), extra)
}

/// [`config`] without the `requires_auth = false`.
fn required_config(route: &str, extra: &str) -> String {
    format!(
        "[log]\naccess_log = false\n{extra}\n\
         [[plugins]]\nname = \"bare\"\npath = \"{BARE_AUTHENTICATOR}\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"api\"\nservice_name = \"echo\"\npath_pattern = \"/api/*\"\n\
         target_url = \"/*\"\nauthenticate = [\"bare\"]\n{route}\n"
    )
}

/// `GET /api/x` as `user` (anonymous with `None`), with `headers`.
async fn call(addr: SocketAddr, user: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if let Some(user) = user {
        all.push(("x-user", user));
    }
    get(addr, "/api/x", &all).await
}

/// Asserts the answer reports a budget of `limit` with `remaining` left, whole again
/// within the minute (an absolute Unix time, as the trading contract has it).
fn assert_budget(reply: &Reply, limit: u32, remaining: u32, what: &str) {
    assert_eq!(
        reply.header("x-ratelimit-limit"),
        Some(limit.to_string().as_str()),
        "{what}"
    );
    assert_eq!(
        reply.header("x-ratelimit-remaining"),
        Some(remaining.to_string().as_str()),
        "{what}"
    );
    let reset: u64 = reply
        .header("x-ratelimit-reset")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no X-RateLimit-Reset"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(
        (now..=now + 61).contains(&reset),
        "{what}: reset {reset} is not within the minute after {now}"
    );
}

/// Asserts a refusal for an exhausted budget of `limit`, in the admin envelope.
fn assert_refused(reply: &Reply, limit: u32, what: &str) {
    assert_eq!(reply.status, 429, "{what}: {:?}", reply.body);
    assert_eq!(reply.json()["code"], "F42900", "{what}");
    assert_budget(reply, limit, 0, what);
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no Retry-After"));
    assert!((1..=60).contains(&retry_after), "{what}: {retry_after}");
}

/// Sends `count` calls as `user` and asserts each passes with the budget counting down.
async fn spend(addr: SocketAddr, user: Option<&str>, limit: u32, count: u32, what: &str) {
    for n in 0..count {
        let reply = call(addr, user, &[]).await;
        assert_eq!(reply.status, 200, "{what} #{n}: {:?}", reply.body);
        assert_budget(&reply, limit, limit - n - 1, &format!("{what} #{n}"));
    }
}

#[tokio::test]
async fn anonymous_callers_are_limited_per_address_and_users_per_principal() {
    for algorithm in ALGORITHMS {
        let upstream = scripted("echo").await;
        let limits = format!(
            "rate_limit_rpm = 5\nrate_limit_anonymous_rpm = 3\nrate_limit_algorithm = \"{algorithm}\""
        );
        let gateway = archway_tests::gateway(&config(&limits, ""), upstream.addr()).await;
        let addr = gateway.addr();
        spend(addr, None, 3, 3, &format!("{algorithm}: anonymous")).await;
        let over = call(addr, None, &[]).await;
        assert_refused(&over, 3, &format!("{algorithm}: the 4th anonymous call"));
        spend(addr, Some("alice"), 5, 5, &format!("{algorithm}: alice")).await;
        let over = call(addr, Some("alice"), &[]).await;
        assert_refused(&over, 5, &format!("{algorithm}: alice's 6th call"));
        spend(addr, Some("bob"), 5, 1, &format!("{algorithm}: bob")).await;
        assert_eq!(
            upstream.requests(),
            3 + 5 + 1,
            "{algorithm}: refusals never reach it"
        );
        gateway.stop().await;
    }
}

#[tokio::test]
async fn the_trading_contract_limits_anonymous_callers_to_100_and_users_to_1000() {
    let upstream = scripted("echo").await;
    let limits = "rate_limit_rpm = 1000\nrate_limit_anonymous_rpm = 100";
    let gateway = archway_tests::gateway(&config(limits, ""), upstream.addr()).await;
    let addr = gateway.addr();
    spend(addr, None, 100, 100, "anonymous").await;
    assert_refused(
        &call(addr, None, &[]).await,
        100,
        "the 101st anonymous call",
    );
    spend(
        addr,
        Some("alice"),
        1000,
        150,
        "alice, from the same address",
    )
    .await;
    gateway.stop().await;
}

#[tokio::test]
async fn refused_credentials_count_against_the_address() {
    let upstream = scripted("echo").await;
    let gateway = archway_tests::gateway(
        &required_config("rate_limit_anonymous_rpm = 2", ""),
        upstream.addr(),
    )
    .await;
    let addr = gateway.addr();
    for n in 0..2 {
        let reply = call(addr, None, &[]).await;
        assert_eq!(reply.status, 401, "#{n}");
        assert_budget(&reply, 2, 1 - n, &format!("401 #{n}"));
    }
    assert_refused(
        &call(addr, None, &[]).await,
        2,
        "the 3rd call without credentials",
    );
    assert_eq!(call(addr, Some("alice"), &[]).await.status, 200);
    assert_eq!(upstream.requests(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn route_wide_and_flood_limits_count_every_caller() {
    let upstream = scripted("echo").await;
    let limits = "rate_limit_route_rpm = 4\nrate_limit_rpm = 100";
    let gateway = archway_tests::gateway(&config(limits, ""), upstream.addr()).await;
    let addr = gateway.addr();
    for (n, user) in ["alice", "bob", "carol", "dave"].into_iter().enumerate() {
        let reply = call(addr, Some(user), &[]).await;
        assert_eq!(reply.status, 200, "{user}");
        let remaining = u32::try_from(3 - n).expect("small");
        assert_budget(
            &reply,
            4,
            remaining,
            &format!("{user} reports the tighter route budget"),
        );
    }
    assert_refused(
        &call(addr, Some("erin"), &[]).await,
        4,
        "the route's 5th call",
    );
    gateway.stop().await;

    let limits = "rate_limit_ip_rpm = 3\nrate_limit_rpm = 100";
    let gateway = archway_tests::gateway(&config(limits, ""), upstream.addr()).await;
    let addr = gateway.addr();
    for user in ["alice", "bob", "carol"] {
        assert_eq!(call(addr, Some(user), &[]).await.status, 200, "{user}");
    }
    assert_refused(
        &call(addr, Some("dave"), &[]).await,
        3,
        "the address's 4th call",
    );
    gateway.stop().await;
}

#[tokio::test]
async fn tenants_share_one_budget() {
    let upstream = scripted("echo").await;
    let secret = archway_tests::tokens::key_file("hmac.secret");
    let text = format!(
        "[log]\naccess_log = false\n\
         [jwt.key_sets.hs]\nalgorithms = [\"HS256\"]\nsecret_file = \"{}\"\n\
         issuer = \"https://issuer.test\"\naudience = [\"orders-api\"]\n\
         [[plugins]]\nname = \"jwt\"\nbuiltin = \"jwt-auth\"\ncapabilities = [\"jwt\", \"log\"]\n\
         key_sets = [\"hs\"]\n[plugins.config]\nkey_set = \"hs\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"api\"\nservice_name = \"echo\"\npath_pattern = \"/api/*\"\n\
         target_url = \"/*\"\nauthenticate = [\"jwt\"]\nrate_limit_tenant_rpm = 3\n",
        secret.display()
    );
    let gateway = archway_tests::gateway(&text, upstream.addr()).await;
    let token = |subject: &str, tenant: &str| {
        let claims = json!({
            "sub": subject, "tenant": tenant, "exp": now() + 600,
            "iss": "https://issuer.test", "aud": "orders-api",
        });
        format!(
            "Bearer {}",
            sign(Algorithm::HS256, None, &signing_key("hmac.secret"), &claims)
        )
    };
    let addr = gateway.addr();
    for subject in ["alice", "bob", "carol"] {
        let reply = call(addr, None, &[("authorization", &token(subject, "acme"))]).await;
        assert_eq!(reply.status, 200, "{subject} of acme: {:?}", reply.body);
    }
    let over = call(addr, None, &[("authorization", &token("dave", "acme"))]).await;
    assert_refused(&over, 3, "acme's 4th call");
    let other = call(addr, None, &[("authorization", &token("erin", "globex"))]).await;
    assert_eq!(other.status, 200, "another tenant has its own budget");
    gateway.stop().await;
}

/// An anonymous call that arrives with `X-Forwarded-For: chain`.
async fn behind(addr: SocketAddr, chain: &str) -> Reply {
    call(addr, None, &[("x-forwarded-for", chain)]).await
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_through_trusted_proxies() {
    let upstream = scripted("echo").await;
    let limits = "rate_limit_anonymous_rpm = 2";
    let gateway = archway_tests::gateway(&config(limits, ""), upstream.addr()).await;
    let addr = gateway.addr();
    for spoofed in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(behind(addr, spoofed).await.status, 200, "{spoofed}");
    }
    let reply = behind(addr, "198.51.100.3").await;
    assert_refused(&reply, 2, "an untrusted peer is counted by its own address");
    gateway.stop().await;

    let trusted = "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]";
    let gateway = archway_tests::gateway(&config(limits, trusted), upstream.addr()).await;
    let addr = gateway.addr();
    assert_eq!(behind(addr, "198.51.100.1").await.status, 200);
    let through_two = behind(addr, "198.51.100.1, 10.0.0.5").await;
    assert_eq!(through_two.status, 200, "through two proxies");
    let spoofed = behind(addr, "203.0.113.66, 198.51.100.1").await;
    assert_refused(&spoofed, 2, "the rightmost untrusted hop is the client");
    assert_eq!(
        behind(addr, "198.51.100.2").await.status,
        200,
        "another client"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_upstream_sees_the_peer_appended_to_a_trusted_chain_only() {
    let upstream = archway_tests::upstream().await;
    let trusted = "[server]\ntrusted_proxies = [\"127.0.0.1\"]";
    let gateway = archway_tests::gateway(&config("rate_limit_rpm = 0", trusted), upstream).await;
    let reply = behind(gateway.addr(), "198.51.100.1").await;
    assert_eq!(
        reply.json()["headers"]["x-forwarded-for"],
        "198.51.100.1, 127.0.0.1"
    );
    gateway.stop().await;
    let gateway = archway_tests::gateway(&config("rate_limit_rpm = 0", ""), upstream).await;
    let reply = behind(gateway.addr(), "198.51.100.1").await;
    assert_eq!(
        reply.json()["headers"]["x-forwarded-for"],
        "127.0.0.1",
        "an untrusted peer's claim is dropped"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_by_identity_hold_across_two_nodes_on_redis() {
    let redis = RedisServer::running();
    for algorithm in ALGORITHMS {
        let upstream = scripted("echo").await;
        let limits = format!(
            "rate_limit_rpm = 4\nrate_limit_anonymous_rpm = 2\nrate_limit_algorithm = \"{algorithm}\""
        );
        let store = format!("[store]\nredis_url = \"{}\"", redis.url());
        let text = config(&limits, &store);
        let (a, b) = (
            archway_tests::gateway(&text, upstream.addr()).await,
            archway_tests::gateway(&text, upstream.addr()).await,
        );
        for (n, node) in [&a, &b].into_iter().enumerate() {
            let reply = call(node.addr(), None, &[]).await;
            assert_eq!(reply.status, 200, "{algorithm}: anonymous #{n}");
        }
        assert_refused(
            &call(a.addr(), None, &[]).await,
            2,
            &format!("{algorithm}: anonymous on a"),
        );
        assert_refused(
            &call(b.addr(), None, &[]).await,
            2,
            &format!("{algorithm}: anonymous on b"),
        );
        for (n, node) in [&a, &b, &a, &b].into_iter().enumerate() {
            let reply = call(node.addr(), Some("alice"), &[]).await;
            assert_eq!(reply.status, 200, "{algorithm}: alice #{n}");
            let remaining = u32::try_from(3 - n).expect("small");
            assert_budget(&reply, 4, remaining, &format!("{algorithm}: alice #{n}"));
        }
        assert_refused(
            &call(b.addr(), Some("alice"), &[]).await,
            4,
            &format!("{algorithm}: alice's 5th"),
        );
        a.stop().await;
        b.stop().await;
    }
}
