//! Resilient upstreams end to end: scripted upstreams on 127.0.0.1 that fail, hang or
//! die on cue, and what clients see — health checks, retries and their budget, circuit
//! breakers, one timeout for all tries, and instances registered in the store.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archway_store::testing::RedisServer;
use archway_tests::servers::{Script, Scripted, scripted, slow_status_upstream, slow_upstream};
use archway_tests::{gateway, get, send};

/// A route `/r/*` (with `route` settings) to service `service` of `instances`
/// (`(id, upstream, extra instance settings)`), with `service_extra` settings.
fn config(
    service: &str,
    route: &str,
    service_extra: &str,
    instances: &[(&str, SocketAddr, &str)],
) -> String {
    let mut text = format!(
        "[log]\naccess_log = false\n\
         [[routes]]\nid = \"r\"\nservice_name = \"{service}\"\npath_pattern = \"/r/*\"\n\
         target_url = \"/*\"\nmethod = \"ANY\"\nrequires_auth = false\nrate_limit_rpm = 0\n{route}\n\
         [[services]]\nname = \"{service}\"\n{service_extra}\n"
    );
    for (id, addr, extra) in instances {
        text += &format!(
            "[[services.instances]]\ninstance_id = \"{id}\"\nhost = \"{}\"\nport = {}\n{extra}\n",
            addr.ip(),
            addr.port()
        );
    }
    text
}

/// The value of `archway_upstream_healthy` for an instance, from the metrics endpoint.
async fn healthy_gauge(gateway: SocketAddr, service: &str, instance: &str) -> Option<String> {
    let text = get(gateway, "/metrics", &[("accept", "text/plain")])
        .await
        .body;
    let text = String::from_utf8_lossy(&text).into_owned();
    let (service, instance) = (
        format!("service=\"{service}\""),
        format!("instance=\"{instance}\""),
    );
    text.lines()
        .find(|line| {
            line.starts_with("archway_upstream_healthy{")
                && line.contains(&service)
                && line.contains(&instance)
        })
        .and_then(|line| line.rsplit(' ').next())
        .map(str::to_owned)
}

/// Waits up to `seconds` for an instance's `archway_upstream_healthy` to read `value`.
async fn gauge_becomes(
    gateway: SocketAddr,
    service: &str,
    instance: &str,
    value: &str,
    seconds: u64,
) {
    let started = Instant::now();
    while healthy_gauge(gateway, service, instance).await.as_deref() != Some(value) {
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "{service}/{instance} never became {value}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn statuses(gateway: SocketAddr, method: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(send(gateway, method, "/r/x", &[], "").await.status);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_is_marked_unhealthy_and_skipped_while_every_request_succeeds() {
    let (a, b) = (scripted("a").await, scripted("b").await);
    let probe = "health_check_url = \"/health\"\nhealth_check_interval_seconds = 1";
    let text = config(
        "killed",
        "",
        "",
        &[("a", a.addr(), probe), ("b", b.addr(), probe)],
    );
    let gateway = gateway(&text, a.addr()).await;
    let addr = gateway.addr();
    assert_eq!(statuses(addr, "GET", 10).await, [200; 10]);
    assert_eq!((a.requests(), b.requests()), (5, 5), "round robin");
    assert_eq!(
        healthy_gauge(addr, "killed", "a").await.as_deref(),
        Some("1")
    );

    a.kill();
    // Tries that find the instance gone go again to the other one: no client sees it.
    assert_eq!(statuses(addr, "GET", 20).await, [200; 20]);
    gauge_becomes(addr, "killed", "a", "0", 5).await;
    let before = b.requests();
    assert_eq!(statuses(addr, "GET", 10).await, [200; 10]);
    assert_eq!(b.requests() - before, 10, "every request went to b");
    gateway.stop().await;
}

#[tokio::test]
async fn an_instance_whose_probes_fail_is_skipped_until_they_pass_again() {
    let (a, b) = (scripted("a").await, scripted("b").await);
    let probe = "health_check_url = \"/health\"\nhealth_check_interval_seconds = 1";
    let text = config(
        "probed",
        "retry_count = 0",
        "[services.health]\nunhealthy_threshold = 1\nhealthy_threshold = 1\npassive_failures = 0",
        &[("a", a.addr(), probe), ("b", b.addr(), "")],
    );
    let gateway = gateway(&text, a.addr()).await;
    let addr = gateway.addr();
    a.set(Script::Status(503));
    gauge_becomes(addr, "probed", "a", "0", 3).await;
    let before = a.requests();
    assert_eq!(
        statuses(addr, "GET", 6).await,
        [200; 6],
        "b answers them all"
    );
    assert_eq!(a.requests(), before, "a got none");
    a.set(Script::Serve);
    gauge_becomes(addr, "probed", "a", "1", 3).await;
    assert_eq!(statuses(addr, "GET", 6).await, [200; 6]);
    assert_eq!(a.requests() - before, 3, "a takes its turns again");
    gateway.stop().await;
}

#[tokio::test]
async fn the_breaker_opens_at_the_threshold_answers_f50301_untouched_and_recovers_half_open() {
    let upstream = scripted("only").await;
    let text = config(
        "fragile",
        "retry_count = 0",
        "[services.circuit_breaker]\nfailure_threshold = 3\nwindow_seconds = 10\nopen_seconds = 1\n\
         [services.health]\npassive_failures = 0",
        &[("only", upstream.addr(), "")],
    );
    let gateway = gateway(&text, upstream.addr()).await;
    let addr = gateway.addr();
    upstream.set(Script::Status(500));
    assert_eq!(
        statuses(addr, "GET", 3).await,
        [500; 3],
        "the upstream's answers"
    );
    let refused = get(addr, "/r/x", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["code"], "F50301");
    assert_eq!(
        upstream.requests(),
        3,
        "the open breaker did not touch the upstream"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let probe = get(addr, "/r/x", &[]).await;
    assert_eq!(
        (probe.status, upstream.requests()),
        (500, 4),
        "half-open: one probe"
    );
    assert_eq!(
        get(addr, "/r/x", &[]).await.json()["code"],
        "F50301",
        "open again"
    );

    upstream.set(Script::Serve);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        statuses(addr, "GET", 5).await,
        [200; 5],
        "closed after a good probe"
    );
    assert_eq!(upstream.requests(), 9);
    gateway.stop().await;
}

#[tokio::test]
async fn get_is_retried_but_a_post_that_reached_the_upstream_is_not_unless_the_route_opts_in() {
    let failing = scripted("failing").await;
    failing.set(Script::Status(503));
    let no_breaker = "circuit_breaker_enabled = false\nretry_count = 2";
    let quiet = "[services.health]\npassive_failures = 0";
    let text = config("once", no_breaker, quiet, &[("f", failing.addr(), "")]);
    let gateway = gateway(&text, failing.addr()).await;
    let addr = gateway.addr();
    assert_eq!(send(addr, "GET", "/r/x", &[], "").await.status, 503);
    assert_eq!(failing.requests(), 3, "a GET: the try and two retries");
    let post = send(addr, "POST", "/r/x", &[], "order=1").await;
    assert_eq!(post.status, 503, "the upstream's own answer");
    assert_eq!(failing.requests(), 4, "the POST was sent once");
    gateway.stop().await;

    let text = config(
        "opted",
        &format!("{no_breaker}\nretry_non_idempotent = true"),
        quiet,
        &[("f", failing.addr(), "")],
    );
    let gateway = archway_tests::gateway(&text, failing.addr()).await;
    let before = failing.requests();
    send(gateway.addr(), "POST", "/r/x", &[], "order=2").await;
    assert_eq!(failing.requests() - before, 3, "opted in: retried");
    gateway.stop().await;
}

#[tokio::test]
async fn a_post_is_retried_on_another_instance_when_its_connection_was_refused() {
    let (dead, alive) = (scripted("dead").await, scripted("alive").await);
    dead.kill();
    let text = config(
        "refusing",
        "",
        "",
        &[("dead", dead.addr(), ""), ("alive", alive.addr(), "")],
    );
    let gateway = gateway(&text, alive.addr()).await;
    for n in 0..4 {
        let reply = send(gateway.addr(), "POST", "/r/x", &[], &format!("order={n}")).await;
        assert_eq!(reply.status, 200, "nothing was sent to the dead one");
        assert_eq!(
            reply.json()["body"],
            format!("order={n}"),
            "the body arrived whole"
        );
    }
    assert_eq!(alive.requests(), 4);
    gateway.stop().await;
}

#[tokio::test]
async fn the_retry_budget_caps_retries_during_an_outage() {
    let failing = scripted("outage").await;
    failing.set(Script::Status(503));
    let text = config(
        "outage",
        "circuit_breaker_enabled = false\nretry_count = 3",
        "[services.retry_budget]\npercent = 20\nreserve = 5\n[services.health]\npassive_failures = 0",
        &[("f", failing.addr(), "")],
    );
    let gateway = gateway(&text, failing.addr()).await;
    assert_eq!(statuses(gateway.addr(), "GET", 50).await, [503; 50]);
    // Without a budget: 50 tries and 150 retries. With it: the reserve of 5 and one
    // retry per five requests.
    let retries = failing.requests() - 50;
    assert!(
        (10..=15).contains(&retries),
        "{retries} retries for 50 requests"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_route_timeout_is_one_budget_for_every_try() {
    // The first instance answers 503 after 700 ms, so the retry to the second one, which
    // hangs, gets what is left of the route's second.
    let first = slow_status_upstream(Duration::from_millis(700), 503).await;
    let slow = slow_upstream(Duration::from_secs(5)).await;
    let text = config(
        "budgeted",
        "timeout_seconds = 1\nretry_count = 3\ncircuit_breaker_enabled = false",
        "",
        &[("first", first, ""), ("hangs", slow, "")],
    );
    let gateway = gateway(&text, first).await;
    let started = Instant::now();
    let reply = get(gateway.addr(), "/r/x", &[]).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 504);
    assert_eq!(reply.json()["code"], "F50400");
    assert!(
        elapsed >= Duration::from_millis(950) && elapsed < Duration::from_millis(1900),
        "the retry got what was left, not a timeout of its own: {elapsed:?}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn without_probes_failing_requests_take_an_instance_out_for_eject_seconds() {
    let (a, b) = (scripted("a").await, scripted("b").await);
    let text = config(
        "ejecting",
        "retry_count = 0\ncircuit_breaker_enabled = false",
        "[services.health]\npassive_failures = 2\neject_seconds = 1",
        &[("a", a.addr(), ""), ("b", b.addr(), "")],
    );
    let gateway = gateway(&text, a.addr()).await;
    let addr = gateway.addr();
    a.set(Script::Status(500));
    // Round robin: a fails twice in a row (its answers reach the client: no retries).
    assert_eq!(statuses(addr, "GET", 4).await, [500, 200, 500, 200]);
    assert_eq!(
        healthy_gauge(addr, "ejecting", "a").await.as_deref(),
        Some("0")
    );
    assert_eq!(
        statuses(addr, "GET", 4).await,
        [200; 4],
        "b alone while a is out"
    );
    assert_eq!(a.requests(), 2);
    a.set(Script::Serve);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(statuses(addr, "GET", 4).await, [200; 4]);
    assert_eq!(a.requests(), 4, "back after eject_seconds");
    gateway.stop().await;
}

/// The service `registered` as an admin record, with instances on these upstreams.
fn registered(upstreams: &[&Scripted]) -> archway_config::ServiceConfig {
    let mut text = "[[services]]\nname = \"registered\"\n".to_owned();
    for (n, upstream) in upstreams.iter().enumerate() {
        text += &format!(
            "[[services.instances]]\ninstance_id = \"i{n}\"\nhost = \"127.0.0.1\"\nport = {}\n",
            upstream.addr().port()
        );
    }
    let config: archway_config::Config = toml::from_str(&text).expect("service record");
    config.services[0].clone()
}

#[tokio::test]
async fn an_instance_registered_in_the_store_serves_on_a_second_node_within_a_second() {
    let redis = RedisServer::running();
    let (first, second) = (scripted("first").await, scripted("second").await);
    let text = format!(
        "[log]\naccess_log = false\n[store]\nredis_url = \"{}\"\n",
        redis.url()
    );
    let a = archway_tests::gateway(&text, first.addr()).await;
    let b = archway_tests::gateway(&text, first.addr()).await;
    let route: archway_config::Config = toml::from_str(
        "[[routes]]\nid = \"r\"\nservice_name = \"registered\"\npath_pattern = \"/r/*\"\n\
         target_url = \"/*\"\nrequires_auth = false\nrate_limit_rpm = 0\n",
    )
    .expect("route record");
    let state = a.state();
    state
        .put(archway::Kind::Service, "registered", &registered(&[&first]))
        .await
        .expect("service stored");
    state
        .put(
            archway::Kind::Route,
            "r",
            &archway::RouteRecord::new(route.routes[0].clone()),
        )
        .await
        .expect("route stored");
    let routed = Instant::now();
    while get(b.addr(), "/r/x", &[]).await.status != 200 {
        assert!(
            routed.elapsed() < Duration::from_secs(1),
            "route not served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let written = Instant::now();
    state
        .put(
            archway::Kind::Service,
            "registered",
            &registered(&[&first, &second]),
        )
        .await
        .expect("instance registered");
    while second.requests() == 0 {
        assert_eq!(get(b.addr(), "/r/x", &[]).await.status, 200);
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "node B did not send to the new instance within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.stop().await;
    b.stop().await;
}
