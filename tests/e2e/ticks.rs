//! Scheduled ticks: they run on their interval off the request path, a failing tick does
//! not stop the next, and with two gateways on one Redis exactly one node runs a
//! plugin's ticks until it stops, when the other takes over.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archway_store::testing::RedisServer;
use archway_tests::artifacts::TICKER;
use archway_tests::{get, upstream};
use serde_json::Value;

/// A gateway whose ticker plugin counts ticks as node `node`, on `store`.
fn config(store: &str, node: &str, mode: &str) -> String {
    format!(
        "[log]\naccess_log = false\n{store}\n\
         [[plugins]]\nname = \"ticker\"\npath = \"{TICKER}\"\ncapabilities = [\"kv\"]\ntick_interval_ms = 50\n\
         [plugins.config]\nnode = \"{node}\"\nnodes = [\"a\", \"b\"]\nmode = \"{mode}\"\n\
         [[routes]]\nid = \"ticks\"\npath_pattern = \"/ticks\"\nhandler = \"ticker\"\nrequires_auth = false\nrate_limit_rpm = 0\n"
    )
}

/// The tick counts per node, as the plugin reads them from the store.
async fn counts(addr: SocketAddr) -> (u64, u64) {
    let reply = get(addr, "/ticks", &[]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let counts: Value = reply.json();
    let count = |node: &str| counts[node].as_u64().expect("a count");
    (count("a"), count("b"))
}

/// Polls `counts` until `done` holds, for at most `limit`.
async fn wait_for(
    addr: SocketAddr,
    limit: Duration,
    what: &str,
    done: impl Fn((u64, u64)) -> bool,
) -> (u64, u64) {
    let started = Instant::now();
    loop {
        let now = counts(addr).await;
        if done(now) {
            return now;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: still {now:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn ticks_run_on_their_interval_and_a_trapping_tick_does_not_stop_the_next() {
    let gateway = archway_tests::gateway(&config("", "a", "trap"), upstream().await).await;
    wait_for(
        gateway.addr(),
        Duration::from_secs(10),
        "ticks after traps",
        |(a, _)| a >= 4,
    )
    .await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_tick_on_one_node_and_the_other_takes_over() {
    let redis = RedisServer::running();
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let upstream = upstream().await;
    let a = archway_tests::gateway(&config(&store, "a", "ok"), upstream).await;
    let b = archway_tests::gateway(&config(&store, "b", "ok"), upstream).await;

    let first = wait_for(
        a.addr(),
        Duration::from_secs(10),
        "ticks start",
        |(a, b)| a + b >= 10,
    )
    .await;
    assert!(
        first.0 == 0 || first.1 == 0,
        "both nodes ran the plugin's ticks: {first:?}"
    );
    let (holder, other) = if first.0 > 0 { (a, b) } else { (b, a) };
    let still_idle = counts(other.addr()).await;
    assert!(
        still_idle.0 == 0 || still_idle.1 == 0,
        "both nodes ran the plugin's ticks: {still_idle:?}"
    );

    holder.stop().await;
    let stopped = counts(other.addr()).await;
    let taken_over = Instant::now();
    let idle_before = if first.0 > 0 { stopped.1 } else { stopped.0 };
    wait_for(
        other.addr(),
        Duration::from_secs(8),
        "takeover",
        |(a, b)| {
            let idle_now = if first.0 > 0 { b } else { a };
            idle_now > idle_before + 3
        },
    )
    .await;
    eprintln!("the other node took over in {:?}", taken_over.elapsed());
    let after = counts(other.addr()).await;
    assert_eq!(
        if first.0 > 0 { after.0 } else { after.1 },
        if first.0 > 0 { stopped.0 } else { stopped.1 },
        "the stopped node ticks no more"
    );
    other.stop().await;
}

#[tokio::test]
async fn a_tick_schedule_on_a_plugin_without_tick_is_refused() {
    let config = format!(
        "[[plugins]]\nname = \"hello\"\npath = \"{}\"\ntick_interval_ms = 100\n\
         [plugins.config]\nkeys = {{}}\n",
        archway_tests::artifacts::HELLO_AUTH
    );
    let error = match archway_tests::try_gateway(&config, upstream().await).await {
        Ok(_) => panic!("the gateway should refuse a tick schedule it cannot run"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("tick_interval_ms is set, but plugin hello does not export the tick role"),
        "{error}"
    );
}
