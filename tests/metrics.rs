//! The metrics endpoint after real traffic: scraped over HTTP, parsed as Prometheus text,
//! and checked series by series against the requests this test made. It runs in its own
//! process, so the process-wide recorder holds this gateway's series alone.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use archway_tests::artifacts::{METERED, MISBEHAVE};
use archway_tests::{get, scratch_dir, send, upstream};
use prometheus_parse::{Sample, Scrape, Value};

fn config(upstream: std::net::SocketAddr, dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
        [log]
        access_log = false
        [store]
        path = "{store}"

        [[plugins]]
        name = "metered"
        path = "{METERED}"
        capabilities = ["metrics"]
        max_metric_series = 5

        [[plugins]]
        name = "misbehave"
        path = "{MISBEHAVE}"
        [plugins.config]
        mode = "trap"

        [[services]]
        name = "echo"
        url = "http://{upstream}"

        [[routes]]
        id = "proxied"
        path_pattern = "/proxied/*"
        service_name = "echo"
        requires_auth = false

        [[routes]]
        id = "limited"
        path_pattern = "/limited/*"
        service_name = "echo"
        requires_auth = false
        rate_limit_rpm = 1

        [[routes]]
        id = "metered"
        path_pattern = "/metered/{{label}}"
        handler = "metered"
        requires_auth = false

        [[routes]]
        id = "broken"
        path_pattern = "/broken"
        handler = "misbehave"
        requires_auth = false
        {extra}
        "#,
        store = dir.join("store.redb").display(),
    )
}

/// The scrape, by metric name.
struct Metrics(HashMap<String, Vec<Sample>>);

impl Metrics {
    /// The value of the one sample of `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Value> {
        let matching: Vec<&Sample> = self
            .0
            .get(name)?
            .iter()
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert!(
            matching.len() <= 1,
            "{name}{labels:?} matches {} samples",
            matching.len()
        );
        matching.first().map(|s| &s.value)
    }

    /// A counter's value; 0 when the series is absent.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.value(name, labels) {
            Some(Value::Counter(v) | Value::Untyped(v)) => *v,
            None => 0.0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.value(name, labels) {
            Some(Value::Gauge(v)) => *v,
            other => panic!("{name}{labels:?} is not a gauge: {other:?}"),
        }
    }

    /// How many observations a histogram holds (its `+Inf` bucket).
    fn observations(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.value(name, labels) {
            Some(Value::Histogram(buckets)) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map_or(0.0, |b| b.count),
            other => panic!("{name}{labels:?} is not a histogram: {other:?}"),
        }
    }
}

async fn scrape(addr: std::net::SocketAddr) -> Metrics {
    let reply = get(addr, "/metrics", &[("accept", "text/plain;version=0.0.4")]).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "{:?}",
        reply.headers
    );
    let text = String::from_utf8(reply.body.to_vec()).expect("UTF-8 text");
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    let mut by_name: HashMap<String, Vec<Sample>> = HashMap::new();
    for sample in parsed.samples {
        by_name
            .entry(sample.metric.clone())
            .or_default()
            .push(sample);
    }
    Metrics(by_name)
}

async fn eventually<F: Future<Output = bool>>(what: &str, mut probe: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_endpoint_reports_the_traffic_it_saw() {
    let upstream = upstream().await;
    let dir = scratch_dir();
    let path = dir.join("archway.toml");
    let gw = archway_tests::watching(&path, &config(upstream, &dir, "")).await;
    let addr = gw.addr();

    for _ in 0..3 {
        assert_eq!(get(addr, "/proxied/x", &[]).await.status, 200);
    }
    assert_eq!(
        send(addr, "POST", "/proxied/x", &[], "hello").await.status,
        200
    );
    assert_eq!(get(addr, "/nowhere", &[]).await.status, 404);
    assert_eq!(get(addr, "/limited/x", &[]).await.status, 200);
    assert_eq!(get(addr, "/limited/x", &[]).await.status, 429);
    for label in ["a", "b", "c", "d", "e"] {
        assert_eq!(
            get(addr, &format!("/metered/{label}"), &[]).await.status,
            200
        );
    }
    assert_eq!(get(addr, "/metered/a?name=bad-name", &[]).await.status, 200);
    assert_eq!(get(addr, "/broken", &[]).await.status, 500);

    // One config applied, one refused.
    let added = "[[routes]]\nid = \"added\"\npath_pattern = \"/added\"\nservice_name = \"echo\"\nrequires_auth = false\n";
    std::fs::write(&path, config(upstream, &dir, added)).expect("rewrite config");
    eventually("the new config serves", || async {
        gw.config_status().reloads == 1
    })
    .await;
    std::fs::write(&path, "[[routes]]\nid = 1\n").expect("break config");
    eventually("the broken config is refused", || async {
        gw.config_status().failed_reloads == 1
    })
    .await;

    let m = scrape(addr).await;
    let requests = |route: &str, method: &str, status: &str| {
        m.counter(
            "archway_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("proxied", "GET", "2xx"), 3.0);
    assert_eq!(requests("proxied", "POST", "2xx"), 1.0);
    assert_eq!(requests("none", "GET", "4xx"), 1.0);
    assert_eq!(requests("limited", "GET", "2xx"), 1.0);
    assert_eq!(requests("limited", "GET", "4xx"), 1.0);
    assert_eq!(requests("metered", "GET", "2xx"), 6.0);
    assert_eq!(requests("broken", "GET", "5xx"), 1.0);
    assert_eq!(
        m.observations("archway_request_duration_seconds", &[("route", "proxied")]),
        4.0
    );
    assert_eq!(
        m.observations("archway_upstream_duration_seconds", &[("service", "echo")]),
        5.0
    );
    assert_eq!(m.counter("archway_received_body_bytes_total", &[]), 5.0);
    assert!(m.counter("archway_sent_body_bytes_total", &[]) > 0.0);
    assert!(
        m.gauge("archway_open_connections", &[]) >= 1.0,
        "the scrape's own connection is open"
    );
    assert_eq!(
        m.counter("archway_rate_limited_total", &[("route", "limited")]),
        1.0
    );

    let metered = [("plugin", "metered"), ("role", "handle")];
    assert_eq!(m.counter("archway_plugin_calls_total", &metered), 6.0);
    assert_eq!(
        m.observations("archway_plugin_call_duration_seconds", &metered),
        6.0
    );
    assert_eq!(
        m.counter(
            "archway_plugin_call_failures_total",
            &[
                ("plugin", "misbehave"),
                ("role", "handle"),
                ("kind", "trap")
            ]
        ),
        1.0
    );
    assert_eq!(
        m.counter("archway_config_reloads_total", &[("result", "applied")]),
        1.0
    );
    assert_eq!(
        m.counter("archway_config_reloads_total", &[("result", "refused")]),
        1.0
    );

    // The plugin's own series, under its name, capped at 5.
    for label in ["a", "b", "c"] {
        assert_eq!(
            m.counter("metered_hits_total", &[("label", label)]),
            1.0,
            "{label}"
        );
    }
    for label in ["d", "e"] {
        assert!(
            m.value("metered_hits_total", &[("label", label)]).is_none(),
            "{label} is over the cap"
        );
    }
    assert_eq!(m.gauge("metered_last_label_bytes", &[]), 1.0);
    assert_eq!(m.observations("metered_label_bytes", &[]), 6.0);
    let drops = |reason: &str| {
        m.counter(
            "archway_plugin_metric_drops_total",
            &[("plugin", "metered"), ("reason", reason)],
        )
    };
    assert_eq!(drops("series_cap"), 2.0);
    assert_eq!(drops("invalid"), 1.0);
    gw.stop().await;
}
