//! The first-party `transform` plugin end to end: a request rewritten on the way to the
//! real upstream (which echoes what it got), and its answer rewritten byte for byte.

use archway_tests::{send, try_gateway, upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_responses_are_rewritten_as_configured() {
    let upstream = upstream().await;
    let config = r#"
        [log]
        access_log = false
        [[services]]
        name = "echo"
        url = "http://{upstream}"
        [[plugins]]
        name = "rewrite"
        builtin = "transform"
        capabilities = ["log"]
        read_body = true
        read_response_body = true
        [plugins.config.request]
        set_headers = { "x-gateway" = "archway" }
        rename_headers = { "x-user" = "x-auth-user" }
        strip_prefix = "/v1"
        add_prefix = "/api/v2"
        rename_query = { q = "search" }
        remove_query = ["debug"]
        body = [{ op = "set", path = "/source", value = "gateway" }]
        [plugins.config.response]
        status = { "200" = 202 }
        body = [
            { op = "remove", path = "/headers" },
            { op = "remove", path = "/service" },
            { op = "move", from = "/path", to = "/upstream/path" },
            { op = "move", from = "/query", to = "/upstream/query" },
            { op = "set", path = "/code", value = 0 },
        ]
        [[routes]]
        id = "rewritten"
        service_name = "echo"
        path_pattern = "/v1/*"
        requires_auth = false
        transform = ["rewrite"]
    "#;
    let gateway = try_gateway(config, upstream).await.expect("gateway starts");
    let reply = send(
        gateway.addr(),
        "POST",
        "/v1/orders/7?q=a%20b&debug=1",
        &[("x-user", "ann"), ("content-type", "application/json")],
        r#"{"qty":5}"#,
    )
    .await;
    assert_eq!(reply.status, 202);
    // The echo saw the rewritten request: its body grew by the field the transform set.
    let sent = r#"{"qty":5,"source":"gateway"}"#.len();
    let expected = format!(
        r#"{{"body_bytes":{sent},"code":0,"method":"POST","upstream":{{"path":"/api/v2/orders/7","query":"search=a%20b"}}}}"#
    );
    assert_eq!(String::from_utf8_lossy(&reply.body), expected);

    // The headers the upstream saw, without the response edits.
    let config = config.replace("{ op = \"remove\", path = \"/headers\" },", "");
    gateway.stop().await;
    let gateway = try_gateway(&config, upstream)
        .await
        .expect("gateway starts");
    let reply = send(gateway.addr(), "GET", "/v1/x", &[("x-user", "ann")], "").await;
    let echo = reply.json();
    assert_eq!(echo["headers"]["x-auth-user"], "ann");
    assert_eq!(echo["headers"]["x-gateway"], "archway");
    assert!(echo["headers"].get("x-user").is_none(), "{echo}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_wrapped_in_the_api_conventions_envelope() {
    let echo = upstream().await;
    let down = archway_tests::servers::slow_status_upstream(std::time::Duration::ZERO, 503).await;
    let config = format!(
        r#"
        [log]
        access_log = false
        [[services]]
        name = "echo"
        url = "http://{echo}"
        [[services]]
        name = "down"
        url = "http://{down}"
        [[plugins]]
        name = "conventions"
        builtin = "transform"
        capabilities = ["log"]
        read_response_body = true
        [plugins.config.response]
        body = [{{ op = "remove", path = "/headers" }}]
        [plugins.config.response.envelope]
        style = "conventions"
        numbers = {{ body_bytes = {{ display = 2 }} }}
        enums = ["service"]
        [[routes]]
        id = "echo"
        service_name = "echo"
        path_pattern = "/echo/*"
        target_url = "/*"
        requires_auth = false
        transform = ["conventions"]
        [[routes]]
        id = "down"
        service_name = "down"
        path_pattern = "/down/*"
        requires_auth = false
        retry_count = 0
        transform = ["conventions"]
        "#
    );
    let gateway = try_gateway(&config, echo).await.expect("gateway starts");
    let reply = send(gateway.addr(), "POST", "/echo/orders", &[], "12345").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        r#"{"code":0,"data":{"body_bytes":"5.00","method":"POST","path":"/orders","query":null,"service":"UPSTREAM"},"msg":"ok"}"#
    );
    let reply = send(gateway.addr(), "GET", "/down/x", &[], "").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        r#"{"code":5001,"data":null,"msg":"upstream answered 503"}"#
    );
    gateway.stop().await;
}
