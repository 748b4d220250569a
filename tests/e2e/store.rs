//! The store end to end: the `visits` example plugin keeps its counts in `kv` and its log
//! in `streams`, on the embedded store or on a real redis-server shared by two gateways.

use std::time::{Duration, Instant};

use archway_store::testing::RedisServer;
use archway_tests::artifacts::VISITS;
use archway_tests::{Reply, get, scratch_dir, send, upstream};
use serde_json::Value;

/// A gateway config with the visits plugin on `/visits...` and a plain upstream route,
/// on the store `store` describes (a TOML `[store]` table).
fn visits_config(store: &str) -> String {
    format!(
        "[log]\naccess_log = false\n{store}\n\
         [[plugins]]\nname = \"visits\"\npath = \"{VISITS}\"\ncapabilities = [\"kv\", \"streams\"]\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"count\"\npath_pattern = \"/visits/{{page}}\"\nmethod = \"ANY\"\nhandler = \"visits\"\nrequires_auth = false\nrate_limit_rpm = 0\n\
         [[routes]]\nid = \"log\"\npath_pattern = \"/visits\"\nhandler = \"visits\"\nrequires_auth = false\n\
         [[routes]]\nid = \"plain\"\nservice_name = \"echo\"\npath_pattern = \"/plain/*\"\ntarget_url = \"/*\"\nrequires_auth = false\n"
    )
}

fn redis_store(redis: &RedisServer) -> String {
    format!("[store]\nredis_url = \"{}\"\n", redis.url())
}

async fn visit(addr: std::net::SocketAddr, page: &str) -> Reply {
    send(addr, "POST", &format!("/visits/{page}"), &[], "").await
}

async fn count(addr: std::net::SocketAddr, page: &str) -> i64 {
    let reply = get(addr, &format!("/visits/{page}"), &[]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["visits"].as_i64().expect("a count")
}

/// The log's `visits` field of each entry, in stream order.
async fn log_counts(addr: std::net::SocketAddr) -> Vec<String> {
    let reply = get(addr, "/visits?after=0&limit=1000", &[]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            e["fields"]["visits"]
                .as_str()
                .expect("visits field")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_share_kv_and_streams() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let config = visits_config(&redis_store(&redis));
    let a = archway_tests::gateway(&config, upstream).await;
    let b = archway_tests::gateway(&config, upstream).await;

    for _ in 0..3 {
        assert_eq!(visit(a.addr(), "home").await.status, 200);
    }
    assert_eq!(visit(b.addr(), "home").await.status, 200);
    assert_eq!(count(b.addr(), "home").await, 4, "B sees A's writes");
    assert_eq!(count(a.addr(), "home").await, 4, "A sees B's writes");
    assert_eq!(
        log_counts(b.addr()).await,
        ["1", "2", "3", "4"],
        "entries appended on A and B are read in order on B"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_incremented_concurrently_on_two_nodes_is_exact() {
    const PER_NODE: usize = 1000;
    const CLIENTS: usize = 8;
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let config = visits_config(&redis_store(&redis));
    let nodes = [
        archway_tests::gateway(&config, upstream).await,
        archway_tests::gateway(&config, upstream).await,
    ];
    let mut clients = Vec::new();
    for node in &nodes {
        for _ in 0..CLIENTS {
            let addr = node.addr();
            clients.push(tokio::spawn(async move {
                for _ in 0..PER_NODE / CLIENTS {
                    assert_eq!(visit(addr, "race").await.status, 200);
                }
            }));
        }
    }
    for client in clients {
        client.await.expect("client task");
    }
    assert_eq!(count(nodes[0].addr(), "race").await, 2 * PER_NODE as i64);
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_leaves_the_gateway_serving_and_reconnecting() {
    let mut redis = RedisServer::running();
    let upstream = upstream().await;
    let gateway = archway_tests::gateway(&visits_config(&redis_store(&redis)), upstream).await;
    assert_eq!(visit(gateway.addr(), "up").await.status, 200);

    redis.stop();
    let started = Instant::now();
    let reply = visit(gateway.addr(), "up").await;
    assert_eq!(reply.status, 503, "the plugin gets an error value");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a store call during the outage answers promptly, took {:?}",
        started.elapsed()
    );
    assert_eq!(get(gateway.addr(), "/plain/health", &[]).await.status, 200);

    redis.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if visit(gateway.addr(), "up").await.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no reconnect within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway.stop().await;
}

#[tokio::test]
async fn embedded_store_keeps_data_across_a_restart() {
    let path = scratch_dir().join("store.redb");
    let config = visits_config(&format!(
        "[store]\npath = {:?}\n",
        path.display().to_string()
    ));
    let upstream = upstream().await;
    let first = archway_tests::gateway(&config, upstream).await;
    assert_eq!(visit(first.addr(), "kept").await.status, 200);
    first.stop().await;

    let second = archway_tests::gateway(&config, upstream).await;
    assert_eq!(count(second.addr(), "kept").await, 1);
    assert_eq!(log_counts(second.addr()).await, ["1"]);
    second.stop().await;
}

#[tokio::test]
async fn plugins_cannot_read_each_others_keys() {
    let upstream = upstream().await;
    let config = format!(
        "{}[[plugins]]\nname = \"visits-2\"\npath = \"{VISITS}\"\ncapabilities = [\"kv\", \"streams\"]\n\
         [[routes]]\nid = \"other\"\npath_pattern = \"/other/{{page}}\"\nmethod = \"ANY\"\nhandler = \"visits-2\"\nrequires_auth = false\n",
        visits_config("")
    );
    let gateway = archway_tests::gateway(&config, upstream).await;
    assert_eq!(visit(gateway.addr(), "home").await.status, 200);
    let other: Value = get(gateway.addr(), "/other/home", &[]).await.json();
    assert_eq!(
        other["visits"], 0,
        "another plugin's counter is not visible"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_added_through_one_node_is_served_by_the_other_within_a_second() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let config = visits_config(&redis_store(&redis));
    let a = archway_tests::gateway(&config, upstream).await;
    let b = archway_tests::gateway(&config, upstream).await;
    assert_eq!(get(b.addr(), "/managed/hello", &[]).await.status, 404);

    let route: archway_config::Config = toml::from_str(
        "[[routes]]\nid = \"managed\"\nservice_name = \"echo\"\npath_pattern = \"/managed/*\"\ntarget_url = \"/*\"\nrequires_auth = false\n",
    )
    .expect("route record");
    let written = Instant::now();
    a.state()
        .put(
            archway::Kind::Route,
            "managed",
            &archway::RouteRecord::new(route.routes[0].clone()),
        )
        .await
        .expect("route stored");
    let served = loop {
        let reply = get(b.addr(), "/managed/hello", &[]).await;
        if reply.status == 200 {
            break reply;
        }
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "node B still answers {} a second after the write",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        served.json()["path"],
        "/hello",
        "proxied through the new route"
    );

    a.state()
        .delete(archway::Kind::Route, "managed")
        .await
        .expect("route deleted");
    let deleted = Instant::now();
    while get(b.addr(), "/managed/hello", &[]).await.status != 404 {
        assert!(
            deleted.elapsed() < Duration::from_secs(1),
            "deletion not seen within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.stop().await;
    b.stop().await;
}

/// Routes limited to `rpm` requests a minute per client: one failing open and one
/// failing closed when the counters are unreachable.
fn limited_config(store: &str, rpm: u32) -> String {
    format!(
        "[log]\naccess_log = false\n{store}\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"open\"\nservice_name = \"echo\"\npath_pattern = \"/open/*\"\ntarget_url = \"/*\"\n\
         requires_auth = false\nrate_limit_rpm = {rpm}\n\
         [[routes]]\nid = \"closed\"\nservice_name = \"echo\"\npath_pattern = \"/closed/*\"\ntarget_url = \"/*\"\n\
         requires_auth = false\nrate_limit_rpm = {rpm}\nrate_limit_failure = \"closed\"\n"
    )
}

#[tokio::test]
async fn requests_over_the_route_limit_get_429_with_retry_after() {
    let upstream = upstream().await;
    let gateway = archway_tests::gateway(&limited_config("", 3), upstream).await;
    for remaining in ["2", "1", "0"] {
        let reply = get(gateway.addr(), "/open/echo", &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(reply.header("x-ratelimit-remaining"), Some(remaining));
    }
    let limited = get(gateway.addr(), "/open/echo", &[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["code"], "F42900");
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        get(gateway.addr(), "/closed/echo", &[]).await.status,
        200,
        "each route counts on its own"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_limit_holds_across_nodes_on_redis() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let config = limited_config(&redis_store(&redis), 4);
    let a = archway_tests::gateway(&config, upstream).await;
    let b = archway_tests::gateway(&config, upstream).await;
    for node in [&a, &b, &a, &b] {
        assert_eq!(get(node.addr(), "/open/echo", &[]).await.status, 200);
    }
    assert_eq!(get(a.addr(), "/open/echo", &[]).await.status, 429);
    assert_eq!(get(b.addr(), "/open/echo", &[]).await.status, 429);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_limited_routes_follow_their_failure_policy() {
    let mut redis = RedisServer::running();
    let upstream = upstream().await;
    let gateway =
        archway_tests::gateway(&limited_config(&redis_store(&redis), 100), upstream).await;
    assert_eq!(get(gateway.addr(), "/closed/echo", &[]).await.status, 200);

    redis.stop();
    let open = get(gateway.addr(), "/open/echo", &[]).await;
    assert_eq!(open.status, 200, "fails open by default");
    assert_eq!(
        open.header("x-ratelimit-limit"),
        None,
        "nothing was counted"
    );
    let closed = get(gateway.addr(), "/closed/echo", &[]).await;
    assert_eq!(closed.status, 503);
    assert_eq!(closed.json()["code"], "F50300");

    redis.start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(gateway.addr(), "/closed/echo", &[]).await.status != 200 {
        assert!(Instant::now() < deadline, "no reconnect within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway.stop().await;
}

/// Redis frozen by SIGSTOP for longer than the plugin's CPU budget (100 ms; the store's
/// `op_timeout_ms` is 250): the plugin's `kv` call waits without spending its budget and
/// gets `unavailable`, which the plugin answers itself (503, not a 500 trap). The whole
/// gateway runs on one thread here, so a route that does not touch Redis (no rate limit)
/// answering while the plugin waits proves a waiting plugin holds no worker.
#[tokio::test(flavor = "current_thread")]
async fn paused_redis_gives_plugins_unavailable_and_leaves_the_worker_free() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let config = visits_config(&redis_store(&redis))
        + "[[routes]]\nid = \"free\"\nservice_name = \"echo\"\npath_pattern = \"/free/*\"\n\
           target_url = \"/*\"\nrequires_auth = false\nrate_limit_rpm = 0\n";
    let gateway = archway_tests::gateway(&config, upstream).await;
    let addr = gateway.addr();
    assert_eq!(visit(addr, "frozen").await.status, 200);

    redis.pause();
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        (visit(addr, "frozen").await, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..5 {
        assert_eq!(get(addr, "/free/while-frozen", &[]).await.status, 200);
    }
    assert!(
        !waiting.is_finished(),
        "the plugin's kv call ended before the plain route answered: a waiting plugin held the worker"
    );
    let (reply, waited) = waiting.await.expect("client task");
    redis.resume();
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    let message = reply.json()["msg"].as_str().expect("msg").to_owned();
    assert!(message.starts_with("store unavailable"), "{message}");
    assert!(
        waited >= Duration::from_millis(250),
        "the call waited out the store's op timeout, not the plugin's budget: {waited:?}"
    );
    // The store reconnects by itself; the first call after SIGCONT may still find the
    // connection it gave up on, so poll (bounded) rather than expect the very next one.
    let recovered = std::time::Instant::now() + Duration::from_secs(10);
    while visit(addr, "frozen").await.status != 200 {
        assert!(
            std::time::Instant::now() < recovered,
            "the store did not recover within 10 s after SIGCONT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway.stop().await;
}
