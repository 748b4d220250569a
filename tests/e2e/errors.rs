//! The gateway's own errors in each route's error format, the format of requests that
//! match no route, and the route's timeout bounding the whole request.

use archway_tests::artifacts::{HELLO_AUTH, MISBEHAVE};
use archway_tests::{get, upstream};

/// A trading-format route behind hello-auth, an admin-format route, a trading prefix for
/// unmatched paths, and a plugin that computes longer than its route may take.
fn config() -> String {
    format!(
        "[log]\naccess_log = false\n\
         [error_formats]\n\"/api/\" = \"trading\"\n\
         [[plugins]]\nname = \"hello-auth\"\npath = \"{HELLO_AUTH}\"\n[plugins.config]\nkeys = {{ \"k-1\" = \"alice\" }}\n\
         [[plugins]]\nname = \"slow\"\npath = \"{MISBEHAVE}\"\ntimeout_ms = 20000\n[plugins.config]\nmode = \"loop\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"trading\"\nservice_name = \"echo\"\npath_pattern = \"/api/portfolio/*\"\n\
         authenticate = [\"hello-auth\"]\nrequired_permissions = [\"trading.write\"]\nerror_format = \"trading\"\n\
         [[routes]]\nid = \"admin\"\nservice_name = \"echo\"\npath_pattern = \"/admin/*\"\nauthenticate = [\"hello-auth\"]\n\
         [[routes]]\nid = \"slow\"\npath_pattern = \"/slow\"\nhandler = \"slow\"\nrequires_auth = false\ntimeout_seconds = 1\n"
    )
}

fn assert_trading(body: &serde_json::Value, code: &str) {
    assert_eq!(body["error"], true, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["details"], serde_json::json!({}), "{body}");
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(
        timestamp.len() == 20 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
        "{timestamp}"
    );
    assert!(body.get("msg").is_none(), "{body}");
}

#[tokio::test]
async fn trading_routes_answer_in_the_trading_format() {
    let gateway = archway_tests::gateway(&config(), upstream().await).await;
    let reply = get(gateway.addr(), "/api/portfolio/7", &[]).await;
    assert_eq!(reply.status, 401);
    assert_trading(&reply.json(), "UNAUTHORIZED");

    let reply = get(gateway.addr(), "/api/portfolio/7", &[("x-api-key", "k-1")]).await;
    assert_eq!(reply.status, 403);
    assert_trading(&reply.json(), "FORBIDDEN");

    let reply = get(gateway.addr(), "/api/nope", &[]).await;
    assert_eq!(
        reply.status, 404,
        "unmatched paths under /api/ take the trading format"
    );
    assert_trading(&reply.json(), "NOT_FOUND");
    gateway.stop().await;
}

#[tokio::test]
async fn other_routes_and_paths_answer_in_the_admin_format() {
    let gateway = archway_tests::gateway(&config(), upstream().await).await;
    let reply = get(gateway.addr(), "/admin/settings", &[]).await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            401,
            serde_json::json!({"code": "F40001", "msg": "authentication required", "content": {}})
        )
    );
    let reply = get(gateway.addr(), "/elsewhere", &[]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (404, "F40400".into())
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_credential_header_sent_twice_is_refused_before_any_plugin_sees_it() {
    let gateway = archway_tests::gateway(&config(), upstream().await).await;
    let twice = [("x-api-key", "k-1"), ("x-api-key", "forged")];
    let reply = get(gateway.addr(), "/admin/settings", &twice).await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            400,
            serde_json::json!({"code": "F40000", "msg": "the request carries more than one x-api-key header", "content": {}})
        )
    );
    let bearer = [("authorization", "Bearer a"), ("authorization", "Bearer b")];
    let reply = get(gateway.addr(), "/api/portfolio/1", &bearer).await;
    assert_eq!(reply.status, 400);
    assert_trading(&reply.json(), "INVALID_PARAMETER");
    let once = get(gateway.addr(), "/admin/settings", &[("x-api-key", "k-1")]).await;
    assert_eq!(once.status, 200, "one key still works");
    gateway.stop().await;
}

#[tokio::test]
async fn the_route_timeout_bounds_a_plugin_that_computes_past_it() {
    let gateway = archway_tests::gateway(&config(), upstream().await).await;
    let started = std::time::Instant::now();
    let reply = get(gateway.addr(), "/slow", &[]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (504, "F50400".into()),
        "timeout_seconds = 1 ends a call whose CPU budget is 20 s"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "answered at the route's timeout, not the plugin's budget: {:?}",
        started.elapsed()
    );
    let again = get(gateway.addr(), "/slow", &[]).await;
    assert_eq!(again.status, 504, "the dropped call left the plugin usable");
    let other = get(gateway.addr(), "/api/portfolio/7", &[("x-api-key", "k-1")]).await;
    assert_eq!(other.status, 403, "other plugin routes still serve");
    gateway.stop().await;
}
