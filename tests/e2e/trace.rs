//! Request ids and trace context end to end: what the upstream receives and what the
//! client gets back, and the spans a collector receives over OTLP.

use std::time::{Duration, Instant};

use archway::keys::{KeyStore, NewKey};
use archway_tests::servers::{Collector, collector};
use archway_tests::{get, try_gateway, upstream};
use serde_json::{Value, json};

const CONFIG: &str = "[log]\naccess_log = true\n\
    [[services]]\nname = \"echo\"\nurl = \"http://{upstream}\"\n\
    [[routes]]\nid = \"e\"\npath_pattern = \"/e/*\"\nservice_name = \"echo\"\nrequires_auth = false\n";

#[tokio::test]
async fn every_request_has_an_id_the_upstream_and_client_both_see() {
    let gateway = try_gateway(CONFIG, upstream().await)
        .await
        .expect("gateway starts");

    let reply = get(gateway.addr(), "/e/x", &[]).await;
    let returned = reply
        .header("x-request-id")
        .expect("an id comes back")
        .to_owned();
    assert_eq!(returned.len(), 32, "{returned}");
    let seen = reply.json()["headers"].clone();
    assert_eq!(
        seen["x-request-id"],
        returned.as_str(),
        "the upstream got the same id"
    );
    let traceparent = seen["traceparent"].as_str().expect("a trace starts here");
    assert!(
        traceparent.starts_with("00-") && traceparent.ends_with("-00"),
        "{traceparent}"
    );

    let other = get(gateway.addr(), "/e/x", &[]).await;
    assert_ne!(
        other.header("x-request-id"),
        Some(returned.as_str()),
        "ids differ"
    );

    let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = get(
        gateway.addr(),
        "/e/x",
        &[("x-request-id", "client-chosen-7"), ("traceparent", sent)],
    )
    .await;
    assert_eq!(reply.header("x-request-id"), Some("client-chosen-7"));
    let seen = reply.json()["headers"].clone();
    assert_eq!(seen["x-request-id"], "client-chosen-7");
    let forwarded = seen["traceparent"].as_str().expect("traceparent");
    assert!(
        forwarded.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{forwarded}"
    );
    assert!(forwarded.ends_with("-01"), "{forwarded}");
    assert_ne!(
        forwarded, sent,
        "the gateway's span is the upstream's parent"
    );

    let unmatched = get(gateway.addr(), "/nowhere", &[]).await;
    assert_eq!(unmatched.status, 404);
    assert!(
        unmatched.header("x-request-id").is_some(),
        "errors carry the id too"
    );
    gateway.stop().await;
}

/// Waits up to 5 s for the collector to hold spans of `trace_id`.
async fn spans_of(collector: &Collector, trace_id: &str, count: usize) -> Vec<(String, Value)> {
    let since = Instant::now();
    loop {
        let spans: Vec<_> = collector
            .spans()
            .into_iter()
            .filter(|(_, span)| span["traceId"] == trace_id)
            .collect();
        if spans.len() >= count || since.elapsed() > Duration::from_secs(5) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_requests_are_exported_to_the_collector_with_a_span_per_plugin_call() {
    use archway_tests::artifacts::STAMP_A;

    let collector = collector().await;
    let config = format!(
        "[tracing]\notlp_endpoint = \"{}\"\nservice_name = \"edge-1\"\n\
         [[plugins]]\nname = \"api-keys\"\nbuiltin = \"api-key-auth\"\ncapabilities = [\"kv\"]\nshare = [\"api-keys\"]\n\
         [[plugins]]\nname = \"stamp\"\npath = \"{STAMP_A}\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"t\"\npath_pattern = \"/t/*\"\nservice_name = \"echo\"\n\
         authenticate = [\"api-keys\"]\ntransform = [\"stamp\"]\n",
        collector.endpoint()
    );
    let gateway = try_gateway(&config, upstream().await)
        .await
        .expect("gateway starts");
    let keys = KeyStore::new(gateway.state().store().clone(), "api-keys");
    let key = keys
        .create(&NewKey {
            tenant: Some("acme".to_owned()),
            ..NewKey::for_subject("ops")
        })
        .await
        .expect("key")
        .key;

    let unsampled = "00-11111111111111111111111111111111-00f067aa0ba902b7-00";
    let reply = get(
        gateway.addr(),
        "/t/x",
        &[("x-api-key", &key), ("traceparent", unsampled)],
    )
    .await;
    assert_eq!(reply.status, 200);
    let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = get(
        gateway.addr(),
        "/t/x",
        &[("x-api-key", &key), ("traceparent", sent)],
    )
    .await;
    assert_eq!(reply.status, 200);
    let forwarded = reply.json()["headers"]["traceparent"]
        .as_str()
        .expect("traceparent")
        .to_owned();
    let gateway_span = &forwarded[36..52];

    let spans = spans_of(&collector, "4bf92f3577b34da6a3ce929d0e0e4736", 4).await;
    let (service, request) = spans
        .iter()
        .find(|(_, span)| span["kind"] == 2)
        .expect("the request's server span");
    assert_eq!(service, "edge-1");
    assert_eq!(
        request["spanId"], gateway_span,
        "the upstream's parent is the request span"
    );
    assert_eq!(
        request["parentSpanId"], "00f067aa0ba902b7",
        "the client's span is its parent"
    );
    assert_eq!(request["name"], "GET /t/*");
    assert_eq!(
        attribute(request, "archway.route"),
        Some(&json!({"stringValue": "t"}))
    );
    assert_eq!(
        attribute(request, "enduser.id"),
        Some(&json!({"stringValue": "ops"}))
    );
    assert_eq!(
        attribute(request, "archway.tenant"),
        Some(&json!({"stringValue": "acme"}))
    );
    assert_eq!(
        attribute(request, "http.response.status_code"),
        Some(&json!({"intValue": "200"}))
    );
    let start: u128 = request["startTimeUnixNano"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("start");
    let end: u128 = request["endTimeUnixNano"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("end");
    assert!(end > start);

    let mut children: Vec<&str> = spans
        .iter()
        .filter(|(_, span)| span["parentSpanId"] == request["spanId"])
        .map(|(_, span)| span["name"].as_str().expect("name"))
        .collect();
    children.sort_unstable();
    assert_eq!(
        children,
        [
            "plugin api-keys authenticate",
            "plugin stamp transform",
            "plugin stamp transform"
        ],
        "one child per plugin call: authenticate, then the transform both ways"
    );
    assert!(
        collector
            .spans()
            .iter()
            .all(|(_, span)| span["traceId"] != "11111111111111111111111111111111"),
        "a trace its client did not sample is not exported"
    );
    gateway.stop().await;
}
