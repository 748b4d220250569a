//! API keys end to end: keys made with `archway keys`' library (`archway::keys`) in the
//! running gateway's store, checked by the built-in `api-key-auth` plugin, their quotas
//! counted by the gateway, on the embedded store and on a real redis-server shared by two
//! gateways. (The `archway keys` command line itself is tested in `host/gateway/tests`,
//! where cargo builds the binary.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use archway::keys::{CreatedKey, KeyStore, NewKey};
use archway_store::testing::RedisServer;
use archway_tests::{Reply, get, try_gateway, upstream};

/// A route behind the `api-key-auth` plugin (config `plugin_config`), on `store` (a TOML
/// `[store]` table or nothing).
fn config(store: &str, plugin_config: &str) -> String {
    format!(
        r#"
        [log]
        access_log = false
        {store}

        [[plugins]]
        name = "api-keys"
        builtin = "api-key-auth"
        capabilities = ["kv"]
        share = ["api-keys"]
        [plugins.config]
        {plugin_config}

        [[services]]
        name = "echo"
        url = "http://{{upstream}}"

        [[routes]]
        id = "orders"
        service_name = "echo"
        path_pattern = "/orders/*"
        authenticate = ["api-keys"]
        "#
    )
}

fn redis_store(redis: &RedisServer) -> String {
    format!("[store]\nredis_url = \"{}\"\n", redis.url())
}

/// The keys of a running gateway's plugin, through its own store handle (an embedded
/// store opens in one process at a time).
fn keys(gateway: &archway::Running) -> KeyStore {
    KeyStore::new(gateway.state().store().clone(), "api-keys")
}

async fn create(keys: &KeyStore, new: NewKey) -> CreatedKey {
    keys.create(&new).await.expect("key created")
}

async fn call(gateway: &archway::Running, key: &str) -> Reply {
    get(gateway.addr(), "/orders/7", &[("x-api-key", key)]).await
}

fn header_number(reply: &Reply, name: &str) -> u64 {
    reply
        .header(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{name} is a number: {:?}", reply.headers))
}

/// Seconds from now until the budget is whole again (`X-RateLimit-Reset` is a Unix time).
fn seconds_to_reset(reply: &Reply) -> u64 {
    header_number(reply, "x-ratelimit-reset").saturating_sub(archway_tests::tokens::now())
}

#[tokio::test]
async fn a_valid_key_reaches_the_upstream_as_its_principal_with_quota_headers() {
    let gateway = archway_tests::gateway(&config("", ""), upstream().await).await;
    let made = create(
        &keys(&gateway),
        NewKey {
            tenant: Some("acme".to_owned()),
            roles: vec!["trader".to_owned(), "viewer".to_owned()],
            per_minute: Some(5),
            per_day: Some(100),
            ..NewKey::for_subject("alice")
        },
    )
    .await;
    let reply = call(&gateway, &made.key).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let seen = reply.json()["headers"].clone();
    assert_eq!(seen["x-auth-subject"], "alice");
    assert_eq!(seen["x-auth-tenant"], "acme");
    assert_eq!(seen["x-auth-roles"], "trader,viewer");
    assert!(
        seen.get("x-api-key").is_none(),
        "the key stays at the gateway"
    );
    assert_eq!(
        reply.header("x-ratelimit-limit"),
        Some("5"),
        "the tightest budget: the per-minute quota, not the route's 1000"
    );
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("4"));
    assert!((1..=61).contains(&seconds_to_reset(&reply)));
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_expired_and_missing_keys_are_401() {
    let gateway = archway_tests::gateway(&config("", ""), upstream().await).await;
    let unknown = call(&gateway, "ak_not-a-key").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.json(),
        serde_json::json!({"code": "F40001", "msg": "invalid API key", "content": {}})
    );
    let missing = get(gateway.addr(), "/orders/7", &[]).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["msg"], "authentication required");

    let short = NewKey {
        expires_in: Some(Duration::from_secs(1)),
        ..NewKey::for_subject("brief")
    };
    let made = create(&keys(&gateway), short).await;
    let expires_at = made.record.expires_at.expect("expires");
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
    };
    while now() < expires_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let expired = call(&gateway, &made.key).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["msg"], "API key expired");
    gateway.stop().await;
}

#[tokio::test]
async fn a_key_over_its_quota_gets_429_with_retry_after_and_its_budget() {
    let gateway = archway_tests::gateway(&config("", ""), upstream().await).await;
    let keys = keys(&gateway);
    let limited = NewKey {
        per_minute: Some(2),
        ..NewKey::for_subject("alice")
    };
    let made = create(&keys, limited).await;
    for remaining in ["1", "0"] {
        let reply = call(&gateway, &made.key).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-remaining"), Some(remaining));
    }
    let over = call(&gateway, &made.key).await;
    assert_eq!(over.status, 429);
    assert_eq!(over.json()["code"], "F42900");
    assert!((1..=30).contains(&header_number(&over, "retry-after")));
    assert_eq!(over.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(over.header("x-ratelimit-remaining"), Some("0"));
    assert!((30..=61).contains(&seconds_to_reset(&over)));

    let other = create(&keys, NewKey::for_subject("alice")).await;
    assert_eq!(
        call(&gateway, &other.key).await.status,
        200,
        "each key has its own budget, even for one subject"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_quota_is_one_budget_across_nodes_on_redis() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let config = config(&redis_store(&redis), "");
    let a = archway_tests::gateway(&config, upstream).await;
    let b = archway_tests::gateway(&config, upstream).await;
    let limited = NewKey {
        per_minute: Some(4),
        ..NewKey::for_subject("alice")
    };
    let made = create(&keys(&a), limited).await;
    for node in [&a, &b, &a, &b] {
        assert_eq!(call(node, &made.key).await.status, 200);
    }
    for node in [&a, &b] {
        let over = call(node, &made.key).await;
        assert_eq!(over.status, 429, "the budget is spent on both nodes");
        assert_eq!(over.header("x-ratelimit-limit"), Some("4"));
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_401_on_every_node() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let config = config(&redis_store(&redis), "");
    let a = archway_tests::gateway(&config, upstream).await;
    let b = archway_tests::gateway(&config, upstream).await;
    let keys = keys(&a);
    let made = create(&keys, NewKey::for_subject("alice")).await;
    assert_eq!(call(&b, &made.key).await.status, 200);
    keys.revoke(&made.record.id).await.expect("revoked");
    for node in [&a, &b] {
        let revoked = call(node, &made.key).await;
        assert_eq!(revoked.status, 401);
        assert_eq!(revoked.json()["msg"], "invalid API key");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_a_key_cannot_be_checked_and_gets_503() {
    let mut redis = RedisServer::running();
    let gateway = archway_tests::gateway(&config(&redis_store(&redis), ""), upstream().await).await;
    let made = create(&keys(&gateway), NewKey::for_subject("alice")).await;
    assert_eq!(call(&gateway, &made.key).await.status, 200);
    redis.stop();
    let down = call(&gateway, &made.key).await;
    assert_eq!(down.status, 503);
    assert_eq!(down.json()["code"], "F50300");
    gateway.stop().await;
}

#[tokio::test]
async fn a_custom_header_carries_the_key_once_and_is_not_forwarded() {
    let plugin_config = r#"header = "x-partner-key""#;
    let identity = "[identity]\nextra_credential_headers = [\"x-partner-key\"]";
    let gateway = archway_tests::gateway(&config(identity, plugin_config), upstream().await).await;
    let made = create(&keys(&gateway), NewKey::for_subject("partner")).await;
    let reply = get(gateway.addr(), "/orders/7", &[("x-partner-key", &made.key)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["headers"]["x-auth-subject"], "partner");
    assert!(
        reply.json()["headers"].get("x-partner-key").is_none(),
        "the consumed key stays at the gateway"
    );
    let twice = [
        ("x-partner-key", made.key.as_str()),
        ("x-partner-key", "forged"),
    ];
    let refused = get(gateway.addr(), "/orders/7", &twice).await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["msg"],
        "the request carries more than one x-partner-key header",
        "the gateway refuses it before any plugin runs"
    );
    assert_eq!(
        call(&gateway, &made.key).await.status,
        401,
        "x-api-key is not this plugin's header"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_plugin_that_has_not_joined_its_namespace_is_refused_at_start() {
    let unjoined = config("", "").replace("share = [\"api-keys\"]", "");
    let error = try_gateway(&unjoined, upstream().await)
        .await
        .err()
        .expect("refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("has not joined shared namespace \"api-keys\"")
            && message.contains("share = [\"api-keys\"]"),
        "{message}"
    );
    let bad = config("", "namespace = \"api-keys\"\nheaders = \"x\"");
    let error = try_gateway(&bad, upstream().await)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{error:#}").contains("unknown field `headers`"),
        "{error:#}"
    );
}
