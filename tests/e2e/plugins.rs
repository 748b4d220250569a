//! What plugins do to a request and its response, as the upstream and the client see it:
//! request and response edits, the body a plugin reads, permission strategies, a deny's
//! own body, and instance state across requests. The `edits` fixture does what its
//! config says; the example upstream echoes what reached it.

use std::net::SocketAddr;

use archway_tests::artifacts::{EDITS, HELLO_AUTH};
use archway_tests::{get, send, upstream};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const NO_ACCESS_LOG: &str = "[log]\naccess_log = false\n";

/// The example upstream as service `echo` (the harness fills in `{upstream}`).
const ECHO_SERVICE: &str = "[[services]]\nname = \"echo\"\nurl = \"http://{upstream}\"\n";

/// hello-auth with key `k-1` for `alice` (permission `hello.read`).
fn hello_auth_plugin() -> String {
    format!(
        "[[plugins]]\nname = \"hello-auth\"\npath = \"{HELLO_AUTH}\"\n\
         [plugins.config]\nkeys = {{ \"k-1\" = \"alice\" }}\n"
    )
}

/// What the `edits` fixture's `body_header` says when it was given no body.
const NO_BODY: &str = "(none)";

/// An upstream that answers every request with exactly the body it received, where the
/// example upstream only counts the bytes.
async fn body_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind body upstream");
    let addr = listener.local_addr().expect("body upstream address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let echo = service_fn(|request: http::Request<Incoming>| async move {
                    let body = request.into_body().collect().await?.to_bytes();
                    Ok::<_, hyper::Error>(http::Response::new(Full::new(body)))
                });
                // A client hanging up mid-request is normal; there is nobody to tell.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), echo)
                    .await;
            });
        }
    });
    addr
}

/// The `content-length` the client got, as a number.
fn content_length(reply: &archway_tests::Reply) -> usize {
    reply
        .header("content-length")
        .expect("a content-length header")
        .parse()
        .expect("a numeric content-length")
}

#[tokio::test]
async fn request_edits_reach_the_upstream() {
    let raw = body_upstream().await;
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "rewrite"
        path = "{EDITS}"
        [plugins.config.request]
        set_headers = {{ "x-added" = "yes", "x-replaced" = "new" }}
        remove_headers = ["x-drop-me"]
        path = "/edited/path"
        query = "edited=1"
        body = "an edited body"

        [[plugins]]
        name = "drop-query"
        path = "{EDITS}"
        [plugins.config.request]
        query = ""

        {ECHO_SERVICE}

        [[services]]
        name = "raw"
        url = "http://{raw}"

        [[routes]]
        id = "edit"
        service_name = "echo"
        path_pattern = "/edit/*"
        target_url = "/target/*"        # the transform's new path replaces this rewrite
        requires_auth = false
        transform = ["rewrite"]

        [[routes]]
        id = "edit-raw"
        service_name = "raw"
        path_pattern = "/edit-raw/*"
        requires_auth = false
        transform = ["rewrite"]

        [[routes]]
        id = "no-query"
        service_name = "echo"
        path_pattern = "/no-query/*"
        requires_auth = false
        transform = ["drop-query"]
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let headers = [
        ("x-drop-me", "secret"),
        ("x-replaced", "old"),
        ("x-kept", "1"),
    ];

    let reply = send(
        gateway.addr(),
        "POST",
        "/edit/original?orig=1",
        &headers,
        "original",
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let echo = reply.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/edited/path", "{echo}");
    assert_eq!(echo["query"], "edited=1", "{echo}");
    let seen = &echo["headers"];
    assert_eq!(seen["x-added"], "yes", "{echo}");
    assert_eq!(
        seen["x-replaced"], "new",
        "set replaces, not appends: {echo}"
    );
    assert_eq!(seen["x-kept"], "1", "{echo}");
    assert!(seen.get("x-drop-me").is_none(), "{echo}");
    assert_eq!(echo["body_bytes"], "an edited body".len(), "{echo}");
    assert_eq!(
        seen["content-length"],
        "an edited body".len().to_string(),
        "the framing follows the new body: {echo}"
    );

    let reply = send(gateway.addr(), "POST", "/edit-raw/x", &[], "original").await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (200, &b"an edited body"[..]),
        "the upstream received exactly the edited body"
    );

    let reply = get(gateway.addr(), "/no-query/x?gone=1", &[]).await;
    let echo = reply.json();
    assert_eq!(
        (&echo["path"], &echo["query"]),
        (&"/no-query/x".into(), &serde_json::Value::Null),
        "an empty query edit removes the query: {echo}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn response_edits_reach_the_client() {
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "reshape"
        path = "{EDITS}"
        [plugins.config.response]
        status = 201
        set_headers = {{ "x-edited" = "yes" }}
        remove_headers = ["content-type"]
        body = "replaced body"

        [[plugins]]
        name = "label"
        path = "{EDITS}"
        [plugins.config.response]
        set_headers = {{ "x-edited" = "label" }}

        {ECHO_SERVICE}

        [[routes]]
        id = "reshape"
        service_name = "echo"
        path_pattern = "/reshape"
        requires_auth = false
        transform = ["reshape"]

        [[routes]]
        id = "label"
        service_name = "echo"
        path_pattern = "/label"
        requires_auth = false
        transform = ["label"]
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;

    let reply = get(gateway.addr(), "/reshape", &[]).await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("x-edited"), Some("yes"));
    assert_eq!(
        reply.header("content-type"),
        None,
        "the upstream's header was removed"
    );
    assert_eq!(&reply.body[..], b"replaced body");
    assert_eq!(content_length(&reply), reply.body.len());

    let reply = get(gateway.addr(), "/label", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-edited"), Some("label"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json()["path"],
        "/label",
        "the upstream's body is kept"
    );
    assert_eq!(content_length(&reply), reply.body.len());
    gateway.stop().await;
}

#[tokio::test]
async fn a_transform_rewrites_the_json_response_body() {
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "inner"
        path = "{EDITS}"
        read_response_body = true
        [plugins.config.response]
        json_wrap = "data"

        [[plugins]]
        name = "outer"
        path = "{EDITS}"
        read_response_body = true
        [plugins.config.response]
        json_wrap = "envelope"

        [[plugins]]
        name = "blind"
        path = "{EDITS}"
        [plugins.config.response]
        json_wrap = "data"

        {ECHO_SERVICE}

        [[routes]]
        id = "wrapped"
        service_name = "echo"
        path_pattern = "/wrapped/*"
        requires_auth = false
        transform = ["outer", "inner"]

        [[routes]]
        id = "small"
        service_name = "echo"
        path_pattern = "/small/*"
        requires_auth = false
        transform = ["inner"]
        max_response_body_bytes = 16

        [[routes]]
        id = "blind"
        service_name = "echo"
        path_pattern = "/blind/*"
        requires_auth = false
        transform = ["blind"]
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;

    // Responses pass transforms in reverse: `inner` wraps first, `outer` sees its result.
    let reply = get(gateway.addr(), "/wrapped/x", &[]).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["envelope"]["data"]["path"], "/wrapped/x");
    assert_eq!(content_length(&reply), reply.body.len());

    let reply = get(gateway.addr(), "/small/x", &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        reply.json()["msg"],
        "the upstream response is too large to transform"
    );

    // Without read_response_body the plugin sees no body (and this one says so).
    let reply = get(gateway.addr(), "/blind/x", &[]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["msg"], "json_wrap needs read_response_body");
    gateway.stop().await;
}

#[tokio::test]
async fn read_body_shows_the_plugin_the_body_and_the_upstream_gets_it_unchanged() {
    let raw = body_upstream().await;
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "reader"
        path = "{EDITS}"
        read_body = true
        [plugins.config.request]
        body_header = "x-body-seen"

        [[plugins]]
        name = "blind"
        path = "{EDITS}"
        [plugins.config.request]
        body_header = "x-body-seen"

        [[plugins]]
        name = "echo-body"
        path = "{EDITS}"
        [plugins.config]
        handle = "echo-body"

        {ECHO_SERVICE}

        [[services]]
        name = "raw"
        url = "http://{raw}"

        [[routes]]
        id = "reader"
        service_name = "echo"
        path_pattern = "/reader"
        requires_auth = false
        transform = ["reader"]

        [[routes]]
        id = "reader-raw"
        service_name = "raw"
        path_pattern = "/reader-raw"
        requires_auth = false
        transform = ["reader"]

        [[routes]]
        id = "blind"
        service_name = "echo"
        path_pattern = "/blind"
        requires_auth = false
        transform = ["blind"]

        [[routes]]
        id = "handler"
        path_pattern = "/handler"
        handler = "echo-body"
        requires_auth = false
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let body = "hello archway";

    let echo = send(gateway.addr(), "POST", "/reader", &[], body)
        .await
        .json();
    assert_eq!(echo["headers"]["x-body-seen"], body, "{echo}");
    assert_eq!(echo["body_bytes"], body.len(), "{echo}");
    assert_eq!(echo["headers"]["content-length"], body.len().to_string());

    let reply = send(gateway.addr(), "POST", "/reader-raw", &[], body).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (200, body.as_bytes()),
        "the upstream received the body the plugin read, byte for byte"
    );

    let echo = send(gateway.addr(), "POST", "/blind", &[], body)
        .await
        .json();
    assert_eq!(
        echo["headers"]["x-body-seen"], NO_BODY,
        "without read_body the plugin sees no body: {echo}"
    );
    assert_eq!(
        echo["body_bytes"],
        body.len(),
        "the body still streams upstream"
    );

    let reply = send(gateway.addr(), "POST", "/handler", &[], body).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (200, body.as_bytes()),
        "a handler always sees the body"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn permission_strategy_any_needs_one_permission_and_all_needs_every_one() {
    let hello_auth = hello_auth_plugin();
    let config = format!(
        r#"{NO_ACCESS_LOG}
        {hello_auth}

        {ECHO_SERVICE}

        [[routes]]
        id = "any"
        service_name = "echo"
        path_pattern = "/any"
        authenticate = ["hello-auth"]
        required_permissions = ["hello.read", "hello.write"]
        permission_check_strategy = "any"

        [[routes]]
        id = "all"
        service_name = "echo"
        path_pattern = "/all"
        authenticate = ["hello-auth"]
        required_permissions = ["hello.read", "hello.write"]
        permission_check_strategy = "all"
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    // hello-auth's principal has `hello.read` only.
    let key = [("x-api-key", "k-1")];

    let reply = get(gateway.addr(), "/any", &key).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["path"], "/any");

    let reply = get(gateway.addr(), "/all", &key).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (403, "F40003".into()),
        "{:?}",
        reply.body
    );
    gateway.stop().await;
}

#[tokio::test]
async fn deny_with_its_own_body_and_headers_reaches_the_client_unchanged() {
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "paywall"
        path = "{EDITS}"
        [plugins.config.deny]
        status = 402
        message = "payment required"
        body = '{{"why":"pay"}}'
        headers = {{ "x-deny-reason" = "quota", "content-type" = "application/json" }}

        [[plugins]]
        name = "label"
        path = "{EDITS}"
        [plugins.config.response]
        set_headers = {{ "x-edited" = "yes" }}

        {ECHO_SERVICE}

        [[routes]]
        id = "paid"
        service_name = "echo"
        path_pattern = "/paid"
        requires_auth = false
        authorize = ["paywall"]
        transform = ["label"]
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let reply = get(gateway.addr(), "/paid", &[]).await;
    assert_eq!(reply.status, 402);
    assert_eq!(
        reply.body,
        Bytes::from_static(br#"{"why":"pay"}"#),
        "the plugin's body, not the envelope"
    );
    assert_eq!(reply.header("x-deny-reason"), Some("quota"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(content_length(&reply), reply.body.len());
    assert_eq!(
        reply.header("x-edited"),
        None,
        "the deny ends the chain before any response transform"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn pooled_instances_keep_state_and_per_request_instances_start_fresh() {
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "pooled"
        path = "{EDITS}"
        [plugins.config]
        handle = "count"

        [[plugins]]
        name = "fresh"
        path = "{EDITS}"
        instances = "per-request"
        [plugins.config]
        handle = "count"

        [[routes]]
        id = "pooled"
        path_pattern = "/pooled"
        handler = "pooled"
        requires_auth = false

        [[routes]]
        id = "fresh"
        path_pattern = "/fresh"
        handler = "fresh"
        requires_auth = false
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    // One request at a time, so the pool holds one instance and every request reuses it.
    assert_eq!(
        three_answers(gateway.addr(), "/pooled").await,
        ["1", "2", "3"]
    );
    assert_eq!(
        three_answers(gateway.addr(), "/fresh").await,
        ["1", "1", "1"]
    );
    gateway.stop().await;
}

/// The bodies of three requests in a row.
async fn three_answers(addr: SocketAddr, path: &str) -> Vec<String> {
    let mut answers = Vec::new();
    for _ in 0..3 {
        let reply = get(addr, path, &[]).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        answers.push(String::from_utf8_lossy(&reply.body).into_owned());
    }
    answers
}

#[tokio::test]
async fn an_instance_that_returned_an_invalid_value_is_not_reused() {
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "flaky"
        path = "{EDITS}"
        [plugins.config]
        handle = "count-invalid-first"

        [[routes]]
        id = "flaky"
        path_pattern = "/flaky"
        handler = "flaky"
        requires_auth = false
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    // Each instance's first answer is invalid; a reused instance would answer "2".
    for attempt in 0..3 {
        let reply = get(gateway.addr(), "/flaky", &[]).await;
        assert_eq!(
            (reply.status, reply.json()["code"].clone()),
            (500, "F50000".into()),
            "attempt {attempt}: {:?}",
            reply.body
        );
    }
    gateway.stop().await;
}

#[tokio::test]
async fn plugins_read_the_matched_routes_settings() {
    let hello_auth = hello_auth_plugin();
    let config = format!(
        r#"{NO_ACCESS_LOG}
        {hello_auth}

        [[plugins]]
        name = "facts"
        path = "{EDITS}"
        [plugins.config.request]
        route_header = "x-route"

        {ECHO_SERVICE}

        [[routes]]
        id = "orders"
        service_name = "echo"
        path_pattern = "/orders/*"
        version = "v2"
        authenticate = ["hello-auth"]
        required_permissions = ["hello.read"]
        transform = ["facts"]
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let echo = get(gateway.addr(), "/orders/7", &[("x-api-key", "k-1")])
        .await
        .json();
    let facts: serde_json::Value = serde_json::from_str(
        echo["headers"]["x-route"]
            .as_str()
            .expect("the transform set x-route"),
    )
    .expect("JSON");
    assert_eq!(
        facts,
        serde_json::json!({
            "id": "orders",
            "service_name": "echo",
            "version": "v2",
            "required_permissions": ["hello.read"],
        })
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_upstream_learns_the_principal_from_the_gateway_never_from_the_client() {
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [[plugins]]
        name = "who"
        path = "{EDITS}"
        [plugins.config.principal]
        subject = "alice"
        tenant = "acme"
        roles = ["trader", "viewer"]

        {ECHO_SERVICE}

        [[routes]]
        id = "private"
        service_name = "echo"
        path_pattern = "/private/*"
        authenticate = ["who"]

        [[routes]]
        id = "passthrough"
        service_name = "echo"
        path_pattern = "/passthrough/*"
        authenticate = ["who"]
        forward_credentials = true

        [[routes]]
        id = "public"
        service_name = "echo"
        path_pattern = "/public/*"
        requires_auth = false
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let forged = [
        ("x-api-key", "k-1"),
        ("x-auth-subject", "root"),
        ("x-auth-tenant", "other"),
        ("x-auth-roles", "admin"),
    ];

    let seen = get(gateway.addr(), "/private/x", &forged).await.json();
    let headers = &seen["headers"];
    assert_eq!(headers["x-auth-subject"], "alice");
    assert_eq!(headers["x-auth-tenant"], "acme");
    assert_eq!(headers["x-auth-roles"], "trader,viewer");
    assert!(
        headers.get("x-api-key").is_none(),
        "the consumed credential stays at the gateway"
    );

    let seen = get(gateway.addr(), "/passthrough/x", &forged).await.json();
    assert_eq!(seen["headers"]["x-api-key"], "k-1", "the route opted in");
    assert_eq!(seen["headers"]["x-auth-subject"], "alice");

    let seen = get(gateway.addr(), "/public/x", &forged).await.json();
    for name in ["x-auth-subject", "x-auth-tenant", "x-auth-roles"] {
        assert!(
            seen["headers"].get(name).is_none(),
            "{name} claimed by the client was removed"
        );
    }
    assert_eq!(
        seen["headers"]["x-api-key"], "k-1",
        "no authenticator consumed it"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn roles_grant_the_permissions_routes_require() {
    let config = format!(
        r#"{NO_ACCESS_LOG}
        [roles]
        trader = ["portfolio.read", "portfolio.write"]
        viewer = ["portfolio.read"]

        [[plugins]]
        name = "who"
        path = "{EDITS}"
        [plugins.config.principal]
        subject = "alice"
        roles = ["trader"]

        {ECHO_SERVICE}

        [[routes]]
        id = "write"
        service_name = "echo"
        path_pattern = "/portfolio/*"
        authenticate = ["who"]
        required_permissions = ["portfolio.read", "portfolio.write"]
        permission_check_strategy = "all"

        [[routes]]
        id = "admin"
        service_name = "echo"
        path_pattern = "/admin/*"
        authenticate = ["who"]
        required_permissions = ["admin.write"]
        "#
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let key = [("x-api-key", "any")];

    let reply = get(gateway.addr(), "/portfolio/1", &key).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let reply = get(gateway.addr(), "/admin/1", &key).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["msg"], "insufficient permissions");
    gateway.stop().await;
}
