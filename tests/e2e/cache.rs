//! The response cache end to end: a real upstream that counts what reaches it, hits and
//! misses told by `X-Cache` and by that count, expiry, principals kept apart, the
//! upstream's `Cache-Control`, `Set-Cookie` and `Vary` honoured, and two gateway nodes
//! sharing entries through a real redis-server.

use std::net::SocketAddr;
use std::time::Duration;

use archway_store::testing::RedisServer;
use archway_tests::artifacts::HELLO_AUTH;
use archway_tests::servers::{Shaped, shaped};
use archway_tests::{Reply, get, send};

/// One caching route `/c/*` to `upstream`, plus `extra` config; `route` adds route fields.
fn cache_config(upstream: &Shaped, route: &str, extra: &str) -> String {
    format!(
        "[log]\naccess_log = false\n{extra}\n\
         [[plugins]]\nname = \"hello-auth\"\npath = \"{HELLO_AUTH}\"\ncapabilities = [\"log\"]\n\
         [plugins.config]\nkeys = {{ \"k-alice\" = \"alice\", \"k-bob\" = \"bob\" }}\n\
         [[services]]\nname = \"shaped\"\nurl = \"http://{}\"\n\
         [[routes]]\nid = \"cached\"\nservice_name = \"shaped\"\npath_pattern = \"/c/*\"\n\
         cache_enabled = true\nrate_limit_rpm = 100\n{route}\n",
        upstream.addr()
    )
}

/// A gateway serving `config` (its upstream address is already in it).
async fn gateway(config: &str) -> archway::Running {
    let unused = "127.0.0.1:9".parse().expect("address");
    archway_tests::gateway(config, unused).await
}

async fn fetch(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let reply = get(addr, path, headers).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    reply
}

fn x_cache(reply: &Reply) -> &str {
    reply.header("x-cache").unwrap_or("none")
}

#[tokio::test]
async fn a_repeated_get_is_served_from_the_cache_until_its_lifetime_ends() {
    let upstream = shaped().await;
    let config = cache_config(
        &upstream,
        "requires_auth = false\ncache_ttl_seconds = 2",
        "",
    );
    let gateway = gateway(&config).await;
    let addr = gateway.addr();

    let first = fetch(addr, "/c/a?x=1", &[]).await;
    assert_eq!(x_cache(&first), "MISS");
    let second = fetch(addr, "/c/a?x=1", &[]).await;
    assert_eq!(x_cache(&second), "HIT");
    assert_eq!(
        second.body, first.body,
        "the cached answer is the first one"
    );
    assert_eq!(second.json()["request"], 1);
    assert!(second.header("age").is_some(), "{:?}", second.headers);
    assert_eq!(upstream.requests(), 1, "the hit never reached the upstream");
    let remaining = |reply: &Reply| {
        let value = reply
            .header("x-ratelimit-remaining")
            .expect("rate-limit headers");
        value.parse::<u32>().expect("a count")
    };
    assert!(
        remaining(&second) < remaining(&first),
        "a hit counts against the rate limit"
    );

    let other_query = fetch(addr, "/c/a?x=2", &[]).await;
    assert_eq!((x_cache(&other_query), upstream.requests()), ("MISS", 2));
    let head = send(addr, "HEAD", "/c/a?x=1", &[], "").await;
    assert_eq!(
        (head.status, x_cache(&head)),
        (200, "MISS"),
        "HEAD has its own entries"
    );
    let posted = send(addr, "POST", "/c/a?x=1", &[], "").await;
    assert_eq!(
        posted.header("x-cache"),
        None,
        "only GET and HEAD are cached"
    );
    assert_eq!(upstream.requests(), 4);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = fetch(addr, "/c/a?x=1", &[]).await;
    assert_eq!(x_cache(&expired), "MISS", "the entry expired after its 2 s");
    assert_eq!(expired.json()["request"], 5);
    gateway.stop().await;
}

#[tokio::test]
async fn principals_never_share_an_entry() {
    let upstream = shaped().await;
    let gateway = gateway(&cache_config(
        &upstream,
        "authenticate = [\"hello-auth\"]",
        "",
    ))
    .await;
    let addr = gateway.addr();
    let alice = [("x-api-key", "k-alice")];
    let bob = [("x-api-key", "k-bob")];

    let alice_first = fetch(addr, "/c/me", &alice).await;
    assert_eq!(
        (x_cache(&alice_first), &alice_first.json()["subject"]),
        ("MISS", &"alice".into())
    );
    let bob_first = fetch(addr, "/c/me", &bob).await;
    assert_eq!(
        (x_cache(&bob_first), &bob_first.json()["subject"]),
        ("MISS", &"bob".into()),
        "bob does not get alice's entry"
    );
    let alice_again = fetch(addr, "/c/me", &alice).await;
    assert_eq!(
        (x_cache(&alice_again), &alice_again.json()["subject"]),
        ("HIT", &"alice".into())
    );
    let bob_again = fetch(addr, "/c/me", &bob).await;
    assert_eq!(
        (x_cache(&bob_again), &bob_again.json()["subject"]),
        ("HIT", &"bob".into())
    );
    assert_eq!(upstream.requests(), 2);

    let anonymous = get(addr, "/c/me", &[]).await;
    assert_eq!(
        anonymous.status, 401,
        "a cached answer never skips authentication"
    );
    let wrong_key = get(addr, "/c/me", &[("x-api-key", "k-mallory")]).await;
    assert_eq!(wrong_key.status, 401);
    gateway.stop().await;
}

#[tokio::test]
async fn no_store_private_no_cache_and_cookies_are_never_cached() {
    let upstream = shaped().await;
    let gateway = gateway(&cache_config(&upstream, "requires_auth = false", "")).await;
    let addr = gateway.addr();
    for shape in [
        "h=cache-control:no-store",
        "h=cache-control:private,max-age=60",
        "h=cache-control:no-cache",
        "h=set-cookie:session=abc",
    ] {
        let before = upstream.requests();
        let path = format!("/c/refused?{shape}");
        for _ in 0..2 {
            let reply = fetch(addr, &path, &[]).await;
            assert_eq!(x_cache(&reply), "MISS", "{shape}");
        }
        assert_eq!(
            upstream.requests(),
            before + 2,
            "{shape}: both reached the upstream"
        );
    }
    let capped = "/c/capped?h=cache-control:public,max-age=30";
    fetch(addr, capped, &[]).await;
    assert_eq!(
        x_cache(&fetch(addr, capped, &[]).await),
        "HIT",
        "max-age within the route's lifetime"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn responses_are_kept_per_value_of_the_headers_the_upstream_varies_by() {
    let upstream = shaped().await;
    let gateway = gateway(&cache_config(&upstream, "requires_auth = false", "")).await;
    let addr = gateway.addr();
    let path = "/c/greeting?h=vary:x-lang";
    let english = [("x-lang", "en")];
    let french = [("x-lang", "fr")];
    assert_eq!(x_cache(&fetch(addr, path, &english).await), "MISS");
    assert_eq!(x_cache(&fetch(addr, path, &french).await), "MISS");
    let english_again = fetch(addr, path, &english).await;
    assert_eq!(
        (x_cache(&english_again), &english_again.json()["lang"]),
        ("HIT", &"en".into())
    );
    let french_again = fetch(addr, path, &french).await;
    assert_eq!(
        (x_cache(&french_again), &french_again.json()["lang"]),
        ("HIT", &"fr".into())
    );
    assert_eq!(upstream.requests(), 2);
    gateway.stop().await;
}

#[tokio::test]
async fn credentials_on_a_route_without_an_authenticator_bypass_the_cache() {
    let upstream = shaped().await;
    let gateway = gateway(&cache_config(&upstream, "requires_auth = false", "")).await;
    let addr = gateway.addr();
    let token = [("authorization", "Bearer for-the-upstream")];
    for _ in 0..2 {
        let reply = fetch(addr, "/c/own", &token).await;
        assert_eq!(reply.header("x-cache"), None);
    }
    assert_eq!(
        upstream.requests(),
        2,
        "the upstream judged each credential"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_share_cached_responses() {
    let redis = RedisServer::running();
    let upstream = shaped().await;
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let config = cache_config(&upstream, "requires_auth = false", &store);
    let one = gateway(&config).await;
    let two = gateway(&config).await;

    let first = fetch(one.addr(), "/c/shared", &[]).await;
    assert_eq!(x_cache(&first), "MISS");
    // The entry reaches Redis in the background once the body has gone out.
    let mut stored = String::new();
    for _ in 0..100 {
        stored = redis.cli(["--scan", "--pattern", "archway:cache:*"]);
        if !stored.trim().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !stored.trim().is_empty(),
        "no entry under archway:cache: in Redis"
    );

    let other_node = fetch(two.addr(), "/c/shared", &[]).await;
    assert_eq!(
        x_cache(&other_node),
        "HIT",
        "the second node serves the first's entry"
    );
    assert_eq!(other_node.body, first.body);
    assert_eq!(upstream.requests(), 1);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn the_metrics_endpoint_counts_hits_and_misses_and_shows_what_the_cache_holds() {
    // A route id of its own: the metrics recorder is one per test process.
    let upstream = shaped().await;
    let config = format!(
        "[log]\naccess_log = false\n\
         [[services]]\nname = \"shaped\"\nurl = \"http://{}\"\n\
         [[routes]]\nid = \"cache-counted\"\nservice_name = \"shaped\"\n\
         path_pattern = \"/counted/*\"\nrequires_auth = false\ncache_enabled = true\n",
        upstream.addr()
    );
    let gateway = gateway(&config).await;
    let addr = gateway.addr();
    for path in ["/counted/a", "/counted/a", "/counted/a", "/counted/b"] {
        fetch(addr, path, &[]).await;
    }
    let lookups = |text: &str, result: &str| {
        let labels = format!("{{route=\"cache-counted\",result=\"{result}\"}} ");
        text.lines()
            .find_map(|line| {
                line.strip_prefix("archway_response_cache_lookups_total")?
                    .strip_prefix(labels.as_str())
            })
            .map(str::to_owned)
    };
    let gauge = |text: &str, name: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    // Another test's gateway in this process may set the tier's gauges between this
    // gateway's update and its answer; the next scrape sets them again.
    let mut text = String::new();
    for _ in 0..5 {
        let reply = get(addr, "/metrics", &[("accept", "text/plain")]).await;
        text = String::from_utf8_lossy(&reply.body).into_owned();
        if gauge(&text, "archway_response_cache_entries") == 2.0 {
            break;
        }
    }
    assert_eq!(lookups(&text, "hit").as_deref(), Some("2"), "{text}");
    assert_eq!(lookups(&text, "miss").as_deref(), Some("2"), "{text}");
    assert_eq!(
        gauge(&text, "archway_response_cache_entries"),
        2.0,
        "{text}"
    );
    let bytes = gauge(&text, "archway_response_cache_bytes");
    assert!(
        (2.0 * 1024.0..64.0 * 1024.0).contains(&bytes),
        "two small responses and their bookkeeping: {bytes} bytes"
    );
    gateway.stop().await;
}
