//! Request ids and trace context end to end: what the upstream receives and what the
//! client gets back.

use archway_tests::{get, try_gateway, upstream};

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
