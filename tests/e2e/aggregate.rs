//! The first-party `aggregate` plugin end to end: three real upstreams (one echoing, one
//! slow, one failing) composed per the failure policies, and a two-wave aggregation.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archway_tests::servers::{slow_status_upstream, slow_upstream};
use archway_tests::{get, try_gateway, upstream};
use serde_json::{Value, json};

/// A gateway with an aggregation on `/overview/{team}` whose calls are `calls` (TOML
/// `[[plugins.config.calls]]` tables), over the services `echo`, `slow` (300 ms) and
/// `failing` (503).
async fn start(calls: &str, extra: &str) -> (archway::Running, SocketAddr) {
    let echo = upstream().await;
    let slow = slow_upstream(Duration::from_millis(300)).await;
    let failing = slow_status_upstream(Duration::ZERO, 503).await;
    let config = format!(
        r#"
        [log]
        access_log = false

        [[services]]
        name = "echo"
        url = "http://{echo}"
        [[services]]
        name = "slow"
        url = "http://{slow}"
        [[services]]
        name = "failing"
        url = "http://{failing}"

        [[plugins]]
        name = "overview"
        builtin = "aggregate"
        capabilities = ["upstream", "log"]
        upstreams = ["echo", "slow", "failing"]
        [plugins.config]
        {extra}
        {calls}

        [[routes]]
        id = "overview"
        path_pattern = "/overview/{{team}}"
        method = "GET"
        handler = "overview"
        requires_auth = false
        timeout_seconds = 2
        "#
    );
    let gateway = try_gateway(&config, echo).await.expect("gateway starts");
    let addr = gateway.addr();
    (gateway, addr)
}

const THREE: &str = r#"
    [[plugins.config.calls]]
    name = "agents"
    service = "echo"
    path = "/agents?team={param.team}&{query}"
    forward_headers = ["x-request-id"]
    [[plugins.config.calls]]
    name = "jobs"
    service = "slow"
    path = "/jobs"
    timeout_ms = 1000
    [[plugins.config.calls]]
    name = "stats"
    service = "failing"
    path = "/stats"
    required = false
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_upstreams_compose_with_the_slow_one_waited_for_and_the_failing_one_null() {
    let (gateway, addr) = start(THREE, "").await;
    let since = Instant::now();
    let reply = get(
        addr,
        "/overview/blue?state=running",
        &[("x-request-id", "req-7")],
    )
    .await;
    let took = since.elapsed();
    let body = reply.json();
    assert_eq!(reply.status, 200, "{body}");
    assert_eq!(body["agents"]["path"], "/agents");
    assert_eq!(body["agents"]["query"], "team=blue&state=running");
    assert_eq!(body["agents"]["headers"]["x-request-id"], "req-7");
    assert_eq!(body["jobs"], json!({"slow": true}));
    assert_eq!(body["stats"], Value::Null);
    assert_eq!(body["errors"], json!({"stats": "status 503"}));
    assert!(
        took < Duration::from_secs(2),
        "within the route's timeout: {took:?}"
    );
    println!("three calls, the slowest 300 ms: answered in {took:?}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_call_that_fails_or_times_out_fails_the_request() {
    let failing = THREE.replace("required = false", "required = true");
    let (gateway, addr) = start(&failing, "").await;
    let reply = get(addr, "/overview/blue", &[]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (502, Some("F50200"))
    );
    gateway.stop().await;

    let impatient = THREE.replace("timeout_ms = 1000", "timeout_ms = 100");
    let (gateway, addr) = start(&impatient, "").await;
    let reply = get(addr, "/overview/blue", &[]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].as_str()),
        (504, Some("F50400"))
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_wave_reads_the_first_waves_answers() {
    let calls = r#"
        [[plugins.config.calls]]
        name = "detail"
        service = "echo"
        method = "POST"
        path = "/detail?from={calls.first/path}"
        body = { team = "{param.team}", first_method = "{calls.first/method}" }
        [[plugins.config.calls]]
        name = "first"
        service = "echo"
        path = "/first/{param.team}"
    "#;
    let fields = r#"compose = "pick"
        fields = { first_path = "/first/path", detail_query = "/detail/query", detail_method = "/detail/method", detail_bytes = "/detail/body_bytes" }"#;
    let (gateway, addr) = start(calls, fields).await;
    let reply = get(addr, "/overview/red", &[]).await;
    let body = reply.json();
    assert_eq!(reply.status, 200, "{body}");
    assert_eq!(body["first_path"], "/first/red");
    assert_eq!(body["detail_query"], "from=%2Ffirst%2Fred");
    assert_eq!(body["detail_method"], "POST");
    let sent = json!({"team": "red", "first_method": "GET"}).to_string();
    assert_eq!(
        body["detail_bytes"].as_u64(),
        Some(sent.len() as u64),
        "{body}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_overview_example_answers_agents_and_jobs_in_one_call() {
    let upstream = upstream().await;
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/scheduler-overview/archway.toml");
    let text = std::fs::read_to_string(example)
        .expect("the example's config")
        .replace("127.0.0.1:9000", &upstream.to_string())
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("path = \".archway/store.redb\"", "");
    let gateway = try_gateway(&text, upstream)
        .await
        .expect("the example starts");
    let reply = get(gateway.addr(), "/overview/default", &[]).await;
    let body = reply.json();
    assert_eq!(reply.status, 200, "{body}");
    assert_eq!(
        (body["agent_total"].as_u64(), body["job_total"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(body["agents"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(body["agents"][0]["name"], "agent-01");
    assert_eq!(body["jobs"][0]["name"], "data-processing-job");
    let batch = get(gateway.addr(), "/overview/batch", &[]).await.json();
    assert_eq!(batch["agents"][0]["namespace_id"], "batch");
    assert_eq!(batch["jobs"][0]["name"], "backfill");
    gateway.stop().await;
}
