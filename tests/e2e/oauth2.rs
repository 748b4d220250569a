//! The built-in `oauth2-introspect` authenticator against a real RFC 7662 introspection
//! endpoint: active tokens become the principal the upstream hears about, inactive ones
//! are 401 `invalid_token`, answers are cached, and an endpoint that is gone fails closed.

use std::time::{SystemTime, UNIX_EPOCH};

use archway_tests::servers::{Introspection, introspection};
use archway_tests::{Reply, gateway, get, upstream};
use serde_json::json;

/// What the gateway sends as its client credentials: `gateway:s3cret` in base64.
const CLIENT_AUTHORIZATION: &str = "Basic Z2F0ZXdheTpzM2NyZXQ=";

fn in_an_hour() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600
}

/// An endpoint that knows an active token with the `orders.read` scope, another active
/// token without it, a third active one, and an inactive token.
async fn idp() -> Introspection {
    let active = |sub: &str, scope: &str| {
        json!({
            "active": true,
            "sub": sub,
            "tenant": "acme",
            "roles": ["trader"],
            "scope": scope,
            "client_id": "web",
            "exp": in_an_hour(),
        })
    };
    introspection(
        CLIENT_AUTHORIZATION,
        &[
            ("alice-token", active("alice", "orders.read profile")),
            ("bob-token", active("bob", "profile")),
            ("carol-token", active("carol", "orders.read")),
            ("revoked-token", json!({"active": false})),
        ],
    )
    .await
}

/// A route that needs `orders.read`, authenticated by introspection at `idp`.
fn config(idp: &Introspection, client_secret: &str) -> String {
    format!(
        r#"
        [log]
        access_log = false

        [identity]
        subject_header = "x-user"
        tenant_header = "x-org"
        roles_header = "x-groups"

        [[plugins]]
        name = "oauth2"
        builtin = "oauth2-introspect"
        capabilities = ["upstream", "kv", "log"]
        upstreams = ["idp"]
        [plugins.config]
        service = "idp"
        client_id = "gateway"
        client_secret = "{client_secret}"
        cache_ttl_seconds = 60
        timeout_ms = 2000

        [[services]]
        name = "idp"
        url = "http://{idp}"

        [[services]]
        name = "echo"
        url = "http://{{upstream}}"

        [[routes]]
        id = "orders"
        service_name = "echo"
        path_pattern = "/orders/*"
        authenticate = ["oauth2"]
        required_permissions = ["orders.read"]
        "#,
        idp = idp.addr(),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn body(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

#[tokio::test]
async fn an_active_token_reaches_the_upstream_as_its_principal_and_is_then_cached() {
    let idp = idp().await;
    let gw = gateway(&config(&idp, "s3cret"), upstream().await).await;
    let alice = bearer("alice-token");

    let reply = get(gw.addr(), "/orders/1", &[("authorization", &alice)]).await;
    assert_eq!(reply.status, 200, "{}", body(&reply));
    let headers = &reply.json()["headers"];
    assert_eq!(headers["x-user"], "alice");
    assert_eq!(headers["x-org"], "acme");
    assert_eq!(headers["x-groups"], "trader");
    assert!(
        headers.get("authorization").is_none(),
        "the token stays at the gateway: {headers}"
    );
    assert_eq!(idp.calls(), 1);

    let again = get(gw.addr(), "/orders/2", &[("authorization", &alice)]).await;
    assert_eq!(again.status, 200, "{}", body(&again));
    assert_eq!(again.json()["headers"]["x-user"], "alice");
    assert_eq!(
        idp.calls(),
        1,
        "the second request was answered from the cache"
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_inactive_token_is_401_invalid_token() {
    let idp = idp().await;
    let gw = gateway(&config(&idp, "s3cret"), upstream().await).await;

    let reply = get(
        gw.addr(),
        "/orders/1",
        &[("authorization", &bearer("revoked-token"))],
    )
    .await;
    assert_eq!(reply.status, 401, "{}", body(&reply));
    let challenge = reply.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert_eq!(
        reply.json(),
        json!({"code": "F40001", "msg": "invalid token", "content": {}})
    );

    let unknown = get(
        gw.addr(),
        "/orders/1",
        &[("authorization", "Bearer nobody")],
    )
    .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(idp.calls(), 2, "inactive answers are not cached");
    gw.stop().await;
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_by_the_gateway() {
    let idp = idp().await;
    let gw = gateway(&config(&idp, "s3cret"), upstream().await).await;

    let reply = get(gw.addr(), "/orders/1", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.json(),
        json!({"code": "F40001", "msg": "authentication required", "content": {}})
    );
    let basic = get(gw.addr(), "/orders/1", &[("authorization", "Basic dTpw")]).await;
    assert_eq!(basic.status, 401, "another scheme is no Bearer token");
    assert_eq!(idp.calls(), 0, "nothing to introspect");
    gw.stop().await;
}

#[tokio::test]
async fn the_scopes_of_a_token_are_the_permissions_a_route_checks() {
    let idp = idp().await;
    let gw = gateway(&config(&idp, "s3cret"), upstream().await).await;

    let reply = get(
        gw.addr(),
        "/orders/1",
        &[("authorization", &bearer("bob-token"))],
    )
    .await;
    assert_eq!(reply.status, 403, "{}", body(&reply));
    assert_eq!(reply.json()["code"], "F40003");
    gw.stop().await;
}

#[tokio::test]
async fn an_unreachable_introspection_service_fails_closed_while_cached_tokens_serve() {
    let idp = idp().await;
    let gw = gateway(&config(&idp, "s3cret"), upstream().await).await;
    let alice = bearer("alice-token");
    assert_eq!(
        get(gw.addr(), "/orders/1", &[("authorization", &alice)])
            .await
            .status,
        200
    );

    idp.stop();
    let reply = get(
        gw.addr(),
        "/orders/1",
        &[("authorization", &bearer("carol-token"))],
    )
    .await;
    assert_eq!(reply.status, 503, "{}", body(&reply));
    assert_eq!(
        reply.json(),
        json!({"code": "F50300", "msg": "authentication service unavailable", "content": {}})
    );
    assert!(reply.header("www-authenticate").is_none());

    let cached = get(gw.addr(), "/orders/1", &[("authorization", &alice)]).await;
    assert_eq!(cached.status, 200, "{}", body(&cached));
    gw.stop().await;
}

#[tokio::test]
async fn wrong_client_credentials_fail_closed() {
    let idp = idp().await;
    let gw = gateway(&config(&idp, "wrong"), upstream().await).await;

    let reply = get(
        gw.addr(),
        "/orders/1",
        &[("authorization", &bearer("alice-token"))],
    )
    .await;
    assert_eq!(reply.status, 503, "{}", body(&reply));
    assert_eq!(idp.calls(), 1, "the endpoint refused the client");
    gw.stop().await;
}
