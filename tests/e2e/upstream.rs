//! Plugins calling services through the `upstream` import (an aggregation fanning out to
//! three real servers, a relay sending requests on one by one), and services reached
//! over TLS, mutual TLS included.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archway_tests::artifacts::{DASHBOARD, RELAY};
use archway_tests::servers::{mtls_upstream, rendezvous, test_ca, test_client_cert, tls_upstream};
use archway_tests::{Reply, gateway, get, send, upstream};

/// The dashboard aggregation over `users`, `orders` and `recommendations`; `extra` is
/// appended to the plugin's table (before its `[plugins.config]`).
fn dashboard_config(services: [SocketAddr; 3], upstreams: &str, extra: &str) -> String {
    let [users, orders, recommendations] = services;
    format!(
        r#"
        [log]
        access_log = false

        [[plugins]]
        name = "dashboard"
        path = "{DASHBOARD}"
        capabilities = ["upstream"]
        upstreams = {upstreams}
        {extra}

        [[services]]
        name = "users"
        url = "http://{users}"
        [[services]]
        name = "orders"
        url = "http://{orders}"
        [[services]]
        name = "recommendations"
        url = "http://{recommendations}"

        [[routes]]
        id = "dashboard"
        path_pattern = "/dashboard/{{user}}"
        method = "GET"
        handler = "dashboard"
        requires_auth = false
        "#
    )
}

const ALL: &str = r#"["users", "orders", "recommendations"]"#;

async fn three_services(slow: Duration) -> [SocketAddr; 3] {
    let fast = Duration::ZERO;
    rendezvous(&[fast, fast, slow])
        .await
        .try_into()
        .expect("three servers")
}

#[tokio::test]
async fn an_aggregation_calls_three_services_at_once() {
    let slow = Duration::from_millis(300);
    let services = three_services(slow).await;
    let gw = gateway(&dashboard_config(services, ALL, ""), upstream().await).await;

    let started = Instant::now();
    let reply = get(gw.addr(), "/dashboard/7", &[]).await;
    let took = started.elapsed();

    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["profile"]["path"], "/users/7");
    assert_eq!(body["orders"]["path"], "/orders?user=7");
    assert_eq!(body["recommendations"]["path"], "/recommendations/7");
    for part in ["profile", "orders", "recommendations"] {
        assert_eq!(
            body[part]["together"], true,
            "{part} was not in flight with the others"
        );
    }
    assert!(
        took >= slow,
        "answered before the slow service did: {took:?}"
    );
    eprintln!("aggregation of 3 calls (slowest {slow:?}): {took:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_service_the_plugin_was_not_granted_is_refused_as_a_value() {
    let services = three_services(Duration::ZERO).await;
    let config = dashboard_config(services, r#"["users", "orders"]"#, "");
    let gw = gateway(&config, upstream().await).await;

    let reply = get(gw.addr(), "/dashboard/7", &[]).await;

    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["recommendations"], serde_json::Value::Null);
    let why = body["missing"]["recommendations"]
        .as_str()
        .expect("a reason");
    assert!(
        why.contains("recommendations is not in plugin dashboard's upstreams"),
        "{why}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_call_slower_than_its_timeout_is_a_timeout_value() {
    let services = three_services(Duration::from_secs(3)).await;
    let config = format!(
        "{}\n[plugins.config]\nrecommendations_timeout_ms = 100\n",
        dashboard_config(services, ALL, "")
    );
    let gw = gateway(&config, upstream().await).await;

    let reply = get(gw.addr(), "/dashboard/7", &[]).await;

    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["missing"]["recommendations"], "timed out");
    gw.stop().await;
}

#[tokio::test]
async fn a_response_over_the_plugins_limit_is_refused() {
    let services = three_services(Duration::ZERO).await;
    let config = dashboard_config(services, ALL, "max_upstream_response_bytes = 10");
    let gw = gateway(&config, upstream().await).await;

    let reply = get(gw.addr(), "/dashboard/7", &[]).await;

    assert_eq!(reply.status, 502);
    let message = reply.json()["msg"].as_str().expect("msg").to_owned();
    assert_eq!(
        message,
        "profile unavailable: the response body is over 10 bytes"
    );
    gw.stop().await;
}

/// A gateway with the dashboard plugin over the services `users`, `orders` and
/// `recommendations` (their `[[services]]` tables in `services`), route `/users/*` to
/// `users`, `/refused/*` to `recommendations` in `error_format`, and the dashboard.
async fn tls_gateway(services: &str, error_format: &str) -> archway::Running {
    let config = format!(
        r#"
        [log]
        access_log = false

        [[plugins]]
        name = "dashboard"
        path = "{DASHBOARD}"
        capabilities = ["upstream"]
        upstreams = {ALL}

        {services}

        [[routes]]
        id = "users"
        path_pattern = "/users/*"
        service_name = "users"
        target_url = "/u/*"
        requires_auth = false

        [[routes]]
        id = "refused"
        path_pattern = "/refused/*"
        service_name = "recommendations"
        requires_auth = false
        error_format = "{error_format}"

        [[routes]]
        id = "dashboard"
        path_pattern = "/dashboard/{{user}}"
        handler = "dashboard"
        requires_auth = false
        "#
    );
    gateway(&config, upstream().await).await
}

/// What the TLS tests check of a [`tls_gateway`]: the route and the plugin reach `users`
/// and `orders` over TLS, while the handshake with `recommendations` fails: its route
/// answers 502 (returned) and the plugin's call comes back null.
async fn reaches_users_and_orders_but_not_recommendations(gw: &archway::Running) -> Reply {
    let proxied = get(gw.addr(), "/users/7", &[]).await;
    assert_eq!(
        proxied.status,
        200,
        "{}",
        String::from_utf8_lossy(&proxied.body)
    );
    assert_eq!(proxied.json()["path"], "/u/7");
    assert_eq!(proxied.json()["tls"], true);

    let refused = get(gw.addr(), "/refused/x", &[]).await;
    assert_eq!(refused.status, 502);

    let aggregated = get(gw.addr(), "/dashboard/7", &[]).await;
    assert_eq!(aggregated.status, 200);
    let body = aggregated.json();
    assert_eq!(body["profile"]["tls"], true, "{body}");
    assert_eq!(body["orders"]["path"], "/orders?user=7", "{body}");
    assert_eq!(body["recommendations"], serde_json::Value::Null, "{body}");
    refused
}

#[tokio::test]
async fn routes_and_plugins_reach_an_https_service_that_a_configured_ca_signs() {
    let port = tls_upstream().await.port();
    let ca = test_ca();
    let ca = ca.display();
    // The system's roots do not include the test CA, so recommendations' handshake fails.
    let services = format!(
        r#"
        [[services]]
        name = "users"
        url = "https://localhost:{port}"
        ca_file = "{ca}"
        [[services]]
        name = "orders"
        url = "https://127.0.0.1:{port}"
        ca_file = "{ca}"
        [[services]]
        name = "recommendations"
        url = "https://127.0.0.1:{port}"
        "#
    );
    let gw = tls_gateway(&services, "admin").await;
    let refused = reaches_users_and_orders_but_not_recommendations(&gw).await;
    assert_eq!(refused.json()["code"], "F50200");
    gw.stop().await;
}

#[tokio::test]
async fn routes_and_plugins_present_the_configured_client_certificate_to_an_mtls_service() {
    let port = mtls_upstream().await.port();
    let (ca, (cert, key)) = (test_ca(), test_client_cert());
    let (ca, cert, key) = (ca.display(), cert.display(), key.display());
    // Without a client certificate, the upstream ends recommendations' handshake.
    let services = format!(
        r#"
        [[services]]
        name = "users"
        url = "https://localhost:{port}"
        ca_file = "{ca}"
        client_cert_file = "{cert}"
        client_key_file = "{key}"
        [[services]]
        name = "orders"
        url = "https://127.0.0.1:{port}"
        ca_file = "{ca}"
        client_cert_file = "{cert}"
        client_key_file = "{key}"
        [[services]]
        name = "recommendations"
        url = "https://127.0.0.1:{port}"
        ca_file = "{ca}"
        "#
    );
    let gw = tls_gateway(&services, "trading").await;
    let body = reaches_users_and_orders_but_not_recommendations(&gw)
        .await
        .json();
    assert_eq!(body["error"], true, "{body}");
    assert_eq!(body["code"], "BAD_GATEWAY", "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn a_relayed_request_reaches_the_service_whole_and_its_answer_comes_back() {
    let config = format!(
        r#"
        [log]
        access_log = false

        [[plugins]]
        name = "relay"
        path = "{RELAY}"
        capabilities = ["upstream"]
        upstreams = ["echo"]
        [plugins.config]
        service = "echo"

        [[services]]
        name = "echo"
        url = "http://{{upstream}}"

        [[routes]]
        id = "relay"
        path_pattern = "/relay/*"
        handler = "relay"
        requires_auth = false

        [[routes]]
        id = "ungranted"
        path_pattern = "/relay-ungranted/*"
        handler = "relay"
        requires_auth = false
        "#
    );
    let gw = gateway(&config, upstream().await).await;

    let reply = send(
        gw.addr(),
        "POST",
        "/relay/orders?limit=2",
        &[
            ("x-trace", "t-1"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
        ],
        "twelve bytes",
    )
    .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let echo = reply.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/relay/orders");
    assert_eq!(echo["query"], "limit=2");
    assert_eq!(echo["body_bytes"], 12);
    assert_eq!(echo["headers"]["x-trace"], "t-1");
    assert!(
        echo["headers"].get("connection").is_none(),
        "hop-by-hop stripped"
    );
    assert!(
        echo["headers"].get("x-hop").is_none(),
        "a header that connection names is stripped"
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));

    let refused = get(gw.addr(), "/relay-ungranted/x", &[]).await;
    assert_eq!(refused.status, 502);
    assert_eq!(
        refused.json()["msg"],
        "service not-granted is not in plugin relay's upstreams"
    );
    gw.stop().await;
}
