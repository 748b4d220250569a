//! Bearer JWTs end to end: the first-party `jwt-auth` plugin in front of the echo
//! upstream, verifying with HMAC secrets, PEM public keys and a JWKS endpoint that
//! rotates and goes down; forged and out-of-policy tokens refused with RFC 6750's
//! `invalid_token`; roles granting permissions; a revocation seen by every node on Redis.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archway_store::testing::RedisServer;
use archway_tests::tokens::{
    jwks, jwks_server, key_file, now, sign, signing_key, unsigned, with_claims_of,
};
use archway_tests::{Reply, gateway, get, upstream};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "orders-api";

/// One authenticator per key set: key set `<set>` (the body of its `[jwt.key_sets]`
/// table), plugin `jwt-<set>` verifying bearer tokens with it, and route `/<set>/*`
/// requiring that plugin in front of the echo upstream. `extra` is appended.
fn config(key_sets: &[(&str, String)], extra: &str) -> String {
    let mut config = String::from(
        "[log]\naccess_log = false\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{upstream}\"\n",
    );
    for (set, table) in key_sets {
        config += &format!(
            "[jwt.key_sets.{set}]\n{table}\n\
             [[plugins]]\nname = \"jwt-{set}\"\nbuiltin = \"jwt-auth\"\n\
             capabilities = [\"jwt\", \"log\"]\nkey_sets = [\"{set}\"]\n\
             [plugins.config]\nkey_set = \"{set}\"\n\
             [[routes]]\nid = \"{set}\"\nservice_name = \"echo\"\npath_pattern = \"/{set}/*\"\n\
             target_url = \"/*\"\nauthenticate = [\"jwt-{set}\"]\nrate_limit_rpm = 0\n"
        );
    }
    config + extra
}

/// A key set verifying `alg` with the PEM public key `file` of `tests/keys`.
fn public_key(alg: &str, file: &str) -> String {
    format!(
        "algorithms = [\"{alg}\"]\npublic_key_file = \"{}\"\n",
        key_file(file).display()
    )
}

/// A key set verifying HS256 with the test secret, requiring our issuer and audience.
fn hmac() -> String {
    format!(
        "algorithms = [\"HS256\"]\nsecret_file = \"{}\"\nissuer = \"{ISSUER}\"\naudience = [\"{AUDIENCE}\"]\n",
        key_file("hmac.secret").display()
    )
}

/// `hs` (HS256 with issuer and audience), `rs` (RS256), `es` (ES256) and `ed` (EdDSA).
fn fixed_key_sets() -> Vec<(&'static str, String)> {
    vec![
        ("hs", hmac()),
        ("rs", public_key("RS256", "rsa.pub.pem")),
        ("es", public_key("ES256", "ec.pub.pem")),
        ("ed", public_key("EdDSA", "ed.pub.pem")),
    ]
}

/// Claims of subject `alice` valid for ten minutes, with `overrides` set over them.
fn claims(overrides: Value) -> Value {
    let mut claims = json!({"sub": "alice", "exp": now() + 600});
    let fields = claims.as_object_mut().expect("an object");
    for (name, value) in overrides.as_object().expect("overrides are an object") {
        fields.insert(name.clone(), value.clone());
    }
    claims
}

/// [`claims`] naming the issuer and audience the `hs` key set requires.
fn hs_claims(overrides: Value) -> Value {
    let mut claims = claims(json!({"iss": ISSUER, "aud": AUDIENCE}));
    for (name, value) in overrides.as_object().expect("overrides are an object") {
        claims[name] = value.clone();
    }
    claims
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, None, &signing_key("rsa.key"), claims)
}

fn hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, None, &signing_key("hmac.secret"), claims)
}

/// `GET path` with `Authorization: Bearer <token>` and `headers`.
async fn call(addr: SocketAddr, path: &str, token: &str, headers: &[(&str, &str)]) -> Reply {
    let authorization = format!("Bearer {token}");
    let mut all = vec![("authorization", authorization.as_str())];
    all.extend_from_slice(headers);
    get(addr, path, &all).await
}

/// 401 with a `Bearer error="invalid_token"` challenge (RFC 6750 section 3.1).
fn assert_invalid_token(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {:?}", reply.body);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{what}: www-authenticate {challenge:?}"
    );
}

/// What the upstream received, from the echo: 200 expected.
fn echoed(reply: &Reply, what: &str) -> Value {
    assert_eq!(reply.status, 200, "{what}: {:?}", reply.body);
    reply.json()
}

#[tokio::test]
async fn tokens_of_each_pinned_algorithm_are_accepted_and_name_the_principal() {
    let gateway = gateway(&config(&fixed_key_sets(), ""), upstream().await).await;
    let principal = json!({"sub": "alice", "tenant": "acme", "roles": ["reader", "writer"]});
    let tokens = [
        ("hs", hs256(&hs_claims(principal.clone()))),
        ("rs", rs256(&claims(principal.clone()))),
        (
            "es",
            sign(
                Algorithm::ES256,
                None,
                &signing_key("ec.key"),
                &claims(principal.clone()),
            ),
        ),
        (
            "ed",
            sign(
                Algorithm::EdDSA,
                None,
                &signing_key("ed.key"),
                &claims(principal.clone()),
            ),
        ),
    ];
    for (set, token) in tokens {
        let echo = echoed(
            &call(gateway.addr(), &format!("/{set}/orders"), &token, &[]).await,
            set,
        );
        assert_eq!(echo["path"], "/orders", "{set}");
        let headers = &echo["headers"];
        assert_eq!(
            [
                &headers["x-auth-subject"],
                &headers["x-auth-tenant"],
                &headers["x-auth-roles"]
            ],
            ["alice", "acme", "reader,writer"],
            "{set}: {echo}"
        );
        assert!(
            headers.get("authorization").is_none(),
            "{set}: the gateway consumes the token: {echo}"
        );
    }
    // Clocks drift: 30 s of leeway (the default) on either side.
    let now = now();
    for (what, token) in [
        ("expired 5 s ago", rs256(&claims(json!({"exp": now - 5})))),
        (
            "valid in 5 s",
            rs256(&claims(json!({"nbf": now + 5, "exp": now + 600}))),
        ),
    ] {
        echoed(&call(gateway.addr(), "/rs/x", &token, &[]).await, what);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn forged_tokens_are_refused_as_invalid_token() {
    let gateway = gateway(&config(&fixed_key_sets(), ""), upstream().await).await;
    let addr = gateway.addr();
    let genuine = rs256(&claims(json!({"roles": ["reader"]})));
    let genuine_hs = hs256(&hs_claims(json!({})));
    echoed(
        &call(addr, "/rs/x", &genuine, &[]).await,
        "the genuine token",
    );
    echoed(
        &call(addr, "/hs/x", &genuine_hs, &[]).await,
        "the genuine HS256 token",
    );

    let rsa_public_pem = std::fs::read(key_file("rsa.pub.pem")).expect("the RSA public key");
    let confused = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(&rsa_public_pem).expect("an HMAC key"),
        &claims(json!({})),
    );
    let promoted = rs256(&claims(json!({"sub": "root", "roles": ["admin"]})));
    let other_key = sign(
        Algorithm::RS256,
        None,
        &signing_key("rsa2.key"),
        &claims(json!({})),
    );
    let other_family = sign(
        Algorithm::ES256,
        None,
        &signing_key("ec.key"),
        &claims(json!({})),
    );
    for (what, path, token) in [
        ("alg none", "/rs/x", unsigned(&genuine)),
        (
            "alg none on an HMAC key set",
            "/hs/x",
            unsigned(&genuine_hs),
        ),
        (
            "HS256 keyed with the RSA public key's PEM (key confusion)",
            "/rs/x",
            confused,
        ),
        (
            "claims changed after signing",
            "/rs/x",
            with_claims_of(&genuine, &promoted),
        ),
        ("signed by another RSA key", "/rs/x", other_key),
        ("ES256 on an RS256 key set", "/rs/x", other_family),
    ] {
        assert_invalid_token(&call(addr, path, &token, &[]).await, what);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn tokens_outside_their_key_sets_rules_are_refused_as_invalid_token() {
    let gateway = gateway(&config(&fixed_key_sets(), ""), upstream().await).await;
    let addr = gateway.addr();
    let now = now();

    let expired = call(
        addr,
        "/rs/x",
        &rs256(&claims(json!({"exp": now - 3600}))),
        &[],
    )
    .await;
    assert_invalid_token(&expired, "expired an hour ago");
    assert_eq!(
        expired.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token", error_description="token expired""#)
    );
    for (what, path, token) in [
        (
            "not valid for an hour",
            "/rs/x",
            rs256(&claims(json!({"nbf": now + 3600}))),
        ),
        (
            "exp as a string",
            "/rs/x",
            rs256(&claims(json!({"exp": (now + 600).to_string()}))),
        ),
        ("no exp", "/rs/x", rs256(&json!({"sub": "alice"}))),
        (
            "another issuer",
            "/hs/x",
            hs256(&hs_claims(json!({"iss": "https://elsewhere.test"}))),
        ),
        (
            "another audience",
            "/hs/x",
            hs256(&hs_claims(json!({"aud": "billing-api"}))),
        ),
        (
            "no audience",
            "/hs/x",
            hs256(&claims(json!({"iss": ISSUER}))),
        ),
    ] {
        assert_invalid_token(&call(addr, path, &token, &[]).await, what);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_request_without_a_bearer_token_is_401_where_auth_is_required() {
    let gateway = gateway(&config(&fixed_key_sets(), ""), upstream().await).await;
    let addr = gateway.addr();
    for (what, headers) in [
        ("no authorization header", &[][..]),
        (
            "basic credentials",
            &[("authorization", "Basic YWxpY2U6cHc=")][..],
        ),
        (
            "an opaque bearer token",
            &[("authorization", "Bearer opaque")][..],
        ),
    ] {
        let reply = get(addr, "/rs/x", headers).await;
        assert_eq!(
            (reply.status, reply.json()["code"].clone()),
            (401, "F40001".into()),
            "{what}"
        );
    }
    gateway.stop().await;
}

#[tokio::test]
async fn identity_headers_sent_by_the_client_never_reach_the_upstream() {
    let optional = "[[routes]]\nid = \"optional\"\nservice_name = \"echo\"\npath_pattern = \"/optional\"\n\
                    authenticate = [\"jwt-rs\"]\nrequires_auth = false\nrate_limit_rpm = 0\n";
    let gateway = gateway(&config(&fixed_key_sets(), optional), upstream().await).await;
    let spoofed = [
        ("x-auth-subject", "root"),
        ("X-Auth-Tenant", "victim-corp"),
        ("x-auth-roles", "admin"),
    ];

    let token = rs256(&claims(json!({"roles": ["reader"]})));
    let echo = echoed(
        &call(gateway.addr(), "/rs/x", &token, &spoofed).await,
        "with a token",
    );
    let headers = &echo["headers"];
    assert_eq!(headers["x-auth-subject"], "alice", "{echo}");
    assert_eq!(headers["x-auth-roles"], "reader", "{echo}");
    assert!(
        headers.get("x-auth-tenant").is_none(),
        "the token names no tenant: {echo}"
    );

    let echo = echoed(
        &get(gateway.addr(), "/optional", &spoofed).await,
        "without a token",
    );
    for (name, _) in spoofed {
        let name = name.to_ascii_lowercase();
        assert!(echo["headers"].get(&name).is_none(), "{name}: {echo}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn roles_grant_the_permissions_that_any_and_all_routes_require() {
    let extra = "[roles]\nreader = [\"orders.read\"]\nwriter = [\"orders.write\"]\n\
                 [[routes]]\nid = \"all\"\nservice_name = \"echo\"\npath_pattern = \"/all\"\n\
                 authenticate = [\"jwt-rs\"]\nrate_limit_rpm = 0\n\
                 required_permissions = [\"orders.read\", \"orders.write\"]\npermission_check_strategy = \"all\"\n\
                 [[routes]]\nid = \"any\"\nservice_name = \"echo\"\npath_pattern = \"/any\"\n\
                 authenticate = [\"jwt-rs\"]\nrate_limit_rpm = 0\n\
                 required_permissions = [\"orders.read\", \"orders.write\"]\npermission_check_strategy = \"any\"\n";
    let key_sets = [("rs", public_key("RS256", "rsa.pub.pem"))];
    let gateway = gateway(&config(&key_sets, extra), upstream().await).await;
    // Tokens carry roles only; the permissions come from [roles].
    for (roles, any, all) in [
        (json!([]), 403, 403),
        (json!(["reader"]), 200, 403),
        (json!(["writer"]), 200, 403),
        (json!(["reader", "writer"]), 200, 200),
        (json!(["orders.read", "orders.write"]), 403, 403),
    ] {
        let token = rs256(&claims(json!({"roles": roles})));
        let statuses = (
            call(gateway.addr(), "/any", &token, &[]).await.status,
            call(gateway.addr(), "/all", &token, &[]).await.status,
        );
        assert_eq!(statuses, (any, all), "roles {roles} on /any and /all");
    }
    let reader = rs256(&claims(json!({"roles": ["reader"]})));
    let refused = call(gateway.addr(), "/all", &reader, &[]).await;
    assert_eq!(
        refused.header("www-authenticate"),
        Some(r#"Bearer error="insufficient_scope""#),
        "a valid token without enough permissions is told so (RFC 6750 3.1)"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_kid_the_jwks_does_not_publish_is_refused_without_refetching_each_time() {
    let idp = jwks_server(jwks(&[("rsa.key", "k1", Algorithm::RS256)])).await;
    let set = format!("algorithms = [\"RS256\"]\njwks_url = \"{}\"\n", idp.url());
    let gateway = gateway(&config(&[("idp", set)], ""), upstream().await).await;
    let exp = json!({"exp": now() + 600});
    let rsa2 = signing_key("rsa2.key");
    for (what, kid, key) in [
        ("an unknown kid", "ghost", &rsa2),
        ("a known kid, signed by another key", "k1", &rsa2),
    ] {
        for _ in 0..3 {
            let token = sign(Algorithm::RS256, Some(kid), key, &claims(exp.clone()));
            assert_invalid_token(&call(gateway.addr(), "/idp/x", &token, &[]).await, what);
        }
    }
    assert_eq!(
        idp.requests(),
        1,
        "unknown kids refetch at most once per jwks_min_refresh_seconds (60)"
    );
    let token = sign(
        Algorithm::RS256,
        Some("k1"),
        &signing_key("rsa.key"),
        &claims(exp),
    );
    echoed(&call(gateway.addr(), "/idp/x", &token, &[]).await, "k1");
    gateway.stop().await;
}

#[tokio::test]
async fn a_rotated_jwks_is_picked_up_live_and_cached_keys_outlive_the_issuer() {
    const ROTATION_WAIT: Duration = Duration::from_secs(10);
    let idp = jwks_server(jwks(&[("rsa.key", "k1", Algorithm::RS256)])).await;
    let set = format!(
        "algorithms = [\"RS256\", \"ES256\"]\njwks_url = \"{}\"\njwks_min_refresh_seconds = 1\n",
        idp.url()
    );
    let gateway = gateway(&config(&[("idp", set)], ""), upstream().await).await;
    let addr = gateway.addr();
    let old = sign(
        Algorithm::RS256,
        Some("k1"),
        &signing_key("rsa.key"),
        &claims(json!({"sub": "old"})),
    );
    let new = sign(
        Algorithm::ES256,
        Some("k2"),
        &signing_key("ec.key"),
        &claims(json!({"sub": "new"})),
    );
    echoed(&call(addr, "/idp/x", &old, &[]).await, "k1 before rotation");
    assert_invalid_token(
        &call(addr, "/idp/x", &new, &[]).await,
        "k2 before the issuer publishes it",
    );

    idp.publish(jwks(&[
        ("rsa.key", "k1", Algorithm::RS256),
        ("ec.key", "k2", Algorithm::ES256),
    ]));
    let published = Instant::now();
    let fetches_before = idp.requests();
    loop {
        let reply = call(addr, "/idp/x", &new, &[]).await;
        if reply.status == 200 {
            assert_eq!(reply.json()["headers"]["x-auth-subject"], "new");
            break;
        }
        assert_invalid_token(&reply, "k2 while the refresh interval runs");
        assert!(
            published.elapsed() < ROTATION_WAIT,
            "k2 still refused {ROTATION_WAIT:?} after it was published"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(idp.requests() > fetches_before, "the new kid was fetched");
    echoed(&call(addr, "/idp/x", &old, &[]).await, "k1 after rotation");

    idp.stop();
    let fetches = idp.requests();
    for (what, token) in [("k1", &old), ("k2", &new)] {
        echoed(
            &call(addr, "/idp/x", token, &[]).await,
            &format!("{what} with the issuer down"),
        );
    }
    assert_eq!(
        idp.requests(),
        fetches,
        "known kids are served from the cache"
    );
    let unknown = sign(
        Algorithm::RS256,
        Some("k3"),
        &signing_key("rsa2.key"),
        &claims(json!({})),
    );
    assert_invalid_token(
        &call(addr, "/idp/x", &unknown, &[]).await,
        "an unknown kid with the issuer down (judged, not 503)",
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_node_is_refused_on_another_sharing_redis() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let config = config(&[("hs", hmac())], &store);
    let a = gateway(&config, upstream).await;
    let b = gateway(&config, upstream).await;
    let revoked = hs256(&hs_claims(json!({"jti": "token-1"})));
    let kept = hs256(&hs_claims(json!({"jti": "token-2"})));
    echoed(
        &call(b.addr(), "/hs/x", &revoked, &[]).await,
        "before revocation",
    );

    let (jti, _) = archway_jwt::revoke_token(a.state().store(), &revoked)
        .await
        .expect("node A revokes the token");
    assert_eq!(jti, "token-1");
    for (node, gateway) in [("B", &b), ("A", &a)] {
        assert_invalid_token(
            &call(gateway.addr(), "/hs/x", &revoked, &[]).await,
            &format!("the revoked token on node {node}"),
        );
    }
    echoed(
        &call(b.addr(), "/hs/x", &kept, &[]).await,
        "another token on node B",
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn roles_managed_in_the_store_grant_their_permissions_without_a_restart() {
    let extra = "[roles]\nreader = [\"orders.read\"]\n\
                 [[routes]]\nid = \"all\"\nservice_name = \"echo\"\npath_pattern = \"/all\"\n\
                 authenticate = [\"jwt-rs\"]\nrate_limit_rpm = 0\n\
                 required_permissions = [\"orders.read\", \"orders.write\"]\npermission_check_strategy = \"all\"\n";
    let key_sets = [("rs", public_key("RS256", "rsa.pub.pem"))];
    let gateway = gateway(&config(&key_sets, extra), upstream().await).await;
    let reader = rs256(&claims(json!({"roles": ["reader"]})));
    let auditor = rs256(&claims(json!({"roles": ["auditor"]})));
    assert_eq!(call(gateway.addr(), "/all", &reader, &[]).await.status, 403);
    assert_eq!(
        call(gateway.addr(), "/all", &auditor, &[]).await.status,
        403
    );
    let state = gateway.state();
    for (role, permissions) in [
        ("reader", vec!["orders.write"]),
        ("auditor", vec!["orders.read", "orders.write"]),
    ] {
        let record = archway::RoleRecord {
            permissions: permissions.into_iter().map(str::to_owned).collect(),
        };
        state
            .put(archway::Kind::Role, role, &record)
            .await
            .expect("role stored");
    }
    // The change feed rebuilds the routing snapshot; poll (bounded) until it has.
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(gateway.addr(), "/all", &auditor, &[]).await.status != 200 {
        assert!(
            Instant::now() < deadline,
            "the managed role never took effect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        call(gateway.addr(), "/all", &reader, &[]).await.status,
        200,
        "a managed role adds to the file's role of the same name"
    );
    state
        .delete(archway::Kind::Role, "auditor")
        .await
        .expect("role deleted");
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(gateway.addr(), "/all", &auditor, &[]).await.status != 403 {
        assert!(Instant::now() < deadline, "the deleted role still grants");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gateway.stop().await;
}
