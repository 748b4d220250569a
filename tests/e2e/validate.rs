//! The first-party `validate` plugin end to end: a query and a body that break the
//! route's JSON Schemas are refused with 400 naming the field, in the route's error
//! format, before the upstream sees them.

use archway_tests::servers::scripted;
use archway_tests::{send, try_gateway};

const SCHEMAS: &str = r#"
    [[plugins]]
    name = "orders-schema"
    builtin = "validate"
    capabilities = ["log"]
    read_body = true
    [plugins.config.query]
    type = "object"
    properties = { dry_run = { type = "boolean" } }
    [plugins.config.body]
    type = "object"
    required = ["symbol", "quantity"]
    additionalProperties = false
    [plugins.config.body.properties]
    symbol = { type = "string", pattern = "^[A-Z]{1,6}$" }
    quantity = { type = "integer", minimum = 1, maximum = 10000 }
"#;

fn config(upstream: std::net::SocketAddr) -> String {
    format!(
        r#"
        [log]
        access_log = false
        {SCHEMAS}
        [[services]]
        name = "orders"
        url = "http://{upstream}"
        [[routes]]
        id = "orders"
        service_name = "orders"
        path_pattern = "/orders"
        method = "POST"
        requires_auth = false
        transform = ["orders-schema"]
        [[routes]]
        id = "trading-orders"
        service_name = "orders"
        path_pattern = "/api/orders"
        target_url = "/orders"
        method = "POST"
        requires_auth = false
        error_format = "trading"
        transform = ["orders-schema"]
        "#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_break_the_schema_never_reach_the_upstream() {
    let upstream = scripted("orders").await;
    let gateway = try_gateway(&config(upstream.addr()), upstream.addr())
        .await
        .expect("gateway starts");
    let addr = gateway.addr();
    let post = async |path: &str, body: &str| {
        send(
            addr,
            "POST",
            path,
            &[("content-type", "application/json")],
            body,
        )
        .await
    };
    let cases = [
        (
            "/orders",
            r#"{"symbol": "ACME"}"#,
            "body: \"quantity\" is a required property",
        ),
        (
            "/orders",
            r#"{"symbol": "ACME", "quantity": 0}"#,
            "body.quantity: 0 is less than the minimum of 1",
        ),
        (
            "/orders",
            r#"{"symbol": "acme", "quantity": 1}"#,
            "body.symbol: \"acme\" does not match",
        ),
        (
            "/orders",
            r#"{"symbol": "ACME", "quantity": 1, "x": 1}"#,
            "body: Additional properties are not allowed",
        ),
        (
            "/orders?dry_run=maybe",
            r#"{"symbol": "ACME", "quantity": 1}"#,
            "query.dry_run: \"maybe\" is not of type \"boolean\"",
        ),
        ("/orders", "not json", "body: not valid JSON"),
    ];
    for (path, body, expected) in cases {
        let reply = post(path, body).await;
        let answer = reply.json();
        assert_eq!(
            (reply.status, answer["code"].as_str()),
            (400, Some("F40000")),
            "{answer}"
        );
        let msg = answer["msg"].as_str().unwrap_or_default();
        assert!(msg.starts_with(expected), "{path} {body}: {msg}");
    }
    let trading = post("/api/orders", r#"{"symbol": "ACME", "quantity": 99999}"#).await;
    let answer = trading.json();
    assert_eq!(
        (trading.status, answer["code"].as_str()),
        (400, Some("INVALID_PARAMETER")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("body.quantity: 99999"),
        "{answer}"
    );
    assert_eq!(
        upstream.requests(),
        0,
        "nothing that broke a schema went upstream"
    );

    let fitting = post(
        "/orders?dry_run=true",
        r#"{"symbol": "ACME", "quantity": 5}"#,
    )
    .await;
    assert_eq!(fitting.status, 200);
    assert_eq!(upstream.requests(), 1);
    gateway.stop().await;
}
