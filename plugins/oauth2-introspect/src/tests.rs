//! The plugin against the SDK's fakes: `upstream::fake` plays the authorization server,
//! the per-thread fake store holds the cache.

use archway_sdk::serde_json::json;
use archway_sdk::upstream::{UpstreamError, fake};
use archway_sdk::{FakeRequest, Response, query_pairs};

use super::*;

fn configured(config: Value) -> Introspect {
    Introspect::from_json(&config.to_string()).expect("valid config")
}

fn config_error(config: Value) -> String {
    Introspect::from_json(&config.to_string())
        .err()
        .expect("refused")
}

fn in_an_hour() -> u64 {
    now_ms() / 1000 + 3600
}

/// An authorization server that knows `alice-token` (active) and `gone-token` (inactive)
/// and answers `fallback` for any other token.
fn serve_idp(fallback: Value) {
    let exp = in_an_hour();
    fake::answer("idp", move |call| {
        let body = String::from_utf8(call.body.clone()).expect("a text body");
        let token = query_pairs(&body)
            .into_iter()
            .find_map(|(name, value)| (name == "token").then_some(value))
            .expect("a token field");
        let answer = match token.as_str() {
            "alice-token" => json!({
                "active": true,
                "sub": "alice",
                "tenant": "acme",
                "roles": ["trader"],
                "scope": "orders.read orders.write",
                "exp": exp,
            }),
            "gone-token" => json!({"active": false}),
            _ => fallback.clone(),
        };
        Ok(Response::json(200, &answer))
    });
}

fn ask(plugin: &Introspect, authorization: Option<&str>) -> Result<Option<Principal>, Deny> {
    let mut fake = FakeRequest::new("GET", "/orders/1");
    if let Some(value) = authorization {
        fake = fake.header("authorization", value);
    }
    plugin.authenticate(&fake.request())
}

fn status(result: Result<Option<Principal>, Deny>) -> u16 {
    match result {
        Ok(principal) => panic!("accepted: {principal:?}"),
        Err(deny) => deny.status,
    }
}

fn www_authenticate(deny: &Deny) -> Option<&str> {
    deny.headers
        .iter()
        .find(|(name, _)| name == "www-authenticate")
        .map(|(_, value)| value.as_str())
}

#[test]
fn an_active_token_becomes_the_principal_it_describes() {
    serve_idp(json!({"active": false}));
    let plugin = configured(json!({"service": "idp"}));
    let principal = ask(&plugin, Some("Bearer alice-token"))
        .expect("accepted")
        .expect("a principal");
    assert_eq!(principal.subject, "alice");
    assert_eq!(principal.tenant.as_deref(), Some("acme"));
    assert_eq!(principal.roles, ["trader"]);
    assert_eq!(principal.permissions, ["orders.read", "orders.write"]);
    let claims: Value = serde_json::from_str(&principal.claims).expect("JSON claims");
    assert_eq!(claims["scope"], "orders.read orders.write");
}

#[test]
fn the_introspection_request_is_an_rfc_7662_form_post_with_client_credentials() {
    serve_idp(json!({"active": false}));
    let plugin = configured(json!({
        "service": "idp",
        "path": "/oauth2/introspect",
        "client_id": "gateway",
        "client_secret": "s3cret",
        "timeout_ms": 250,
    }));
    ask(&plugin, Some("Bearer a+b/c=")).expect_err("unknown token");
    let calls = fake::take_calls();
    let [call] = calls.as_slice() else {
        panic!("one call expected: {calls:?}");
    };
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/oauth2/introspect")
    );
    assert_eq!(
        call.body,
        b"token=a%2Bb%2Fc%3D&token_type_hint=access_token"
    );
    let header = |name: &str| {
        call.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(header("authorization"), Some("Basic Z2F0ZXdheTpzM2NyZXQ="));
    assert_eq!(call.timeout_ms, Some(250));
}

#[test]
fn without_client_credentials_no_authorization_is_sent() {
    serve_idp(json!({"active": false}));
    ask(&configured(json!({"service": "idp"})), Some("Bearer x")).expect_err("unknown token");
    let calls = fake::take_calls();
    assert_eq!(calls[0].path, "/introspect", "the default path");
    assert!(
        calls[0].headers.iter().all(|(n, _)| n != "authorization"),
        "{:?}",
        calls[0].headers
    );
    assert_eq!(calls[0].timeout_ms, None);
}

#[test]
fn no_bearer_token_is_left_to_the_next_authenticator() {
    serve_idp(json!({"active": false}));
    let plugin = configured(json!({"service": "idp"}));
    assert!(ask(&plugin, None).expect("no deny").is_none());
    assert!(ask(&plugin, Some("Basic dTpw")).expect("no deny").is_none());
    assert!(fake::take_calls().is_empty(), "the service was not asked");
    let malformed = ask(&plugin, Some("Bearer two words")).expect_err("malformed");
    assert_eq!(malformed.status, 401);
}

#[test]
fn an_inactive_token_is_an_invalid_token_and_is_not_cached() {
    serve_idp(json!({"active": false}));
    let plugin = configured(json!({"service": "idp"}));
    for _ in 0..2 {
        let deny = ask(&plugin, Some("Bearer gone-token")).expect_err("inactive");
        assert_eq!((deny.status, deny.message.as_str()), (401, "invalid token"));
        assert_eq!(
            www_authenticate(&deny),
            Some(r#"Bearer error="invalid_token", error_description="invalid token""#)
        );
    }
    assert_eq!(fake::take_calls().len(), 2, "each request asked again");
}

#[test]
fn an_active_answer_is_cached_under_the_tokens_hash_only() {
    serve_idp(json!({"active": false}));
    let plugin = configured(json!({"service": "idp"}));
    for _ in 0..3 {
        let principal = ask(&plugin, Some("Bearer alice-token"))
            .expect("accepted")
            .expect("a principal");
        assert_eq!(principal.subject, "alice");
    }
    assert_eq!(fake::take_calls().len(), 1, "later requests used the cache");
    let stored = kv::scan("", 10).expect("scan");
    let keys: Vec<&str> = stored.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [format!("token/{}", encoding::sha256_hex("alice-token"))]
    );
    assert!(
        stored
            .iter()
            .all(|(_, value)| !String::from_utf8_lossy(value).contains("alice-token")),
        "the token itself is stored nowhere"
    );
}

#[test]
fn a_zero_ttl_asks_the_service_every_time() {
    serve_idp(json!({"active": false}));
    let plugin = configured(json!({"service": "idp", "cache_ttl_seconds": 0}));
    for _ in 0..2 {
        ask(&plugin, Some("Bearer alice-token")).expect("accepted");
    }
    assert_eq!(fake::take_calls().len(), 2);
    assert!(kv::scan("", 10).expect("scan").is_empty());
}

#[test]
fn the_cache_never_outlives_the_token() {
    let plugin = configured(json!({"service": "idp", "cache_ttl_seconds": 60}));
    let now = 1_000_000_000_000;
    let answer = |exp: Option<u64>| json!({"active": true, "sub": "a", "exp": exp});
    assert_eq!(plugin.cache_ttl_ms(&answer(None), now), Some(60_000));
    assert_eq!(
        plugin.cache_ttl_ms(&answer(Some(now / 1000 + 3600)), now),
        Some(60_000)
    );
    assert_eq!(
        plugin.cache_ttl_ms(&answer(Some(now / 1000 + 5)), now),
        Some(5_000)
    );
    assert_eq!(plugin.cache_ttl_ms(&answer(Some(now / 1000)), now), None);
    let uncached = configured(json!({"service": "idp", "cache_ttl_seconds": 0}));
    assert_eq!(uncached.cache_ttl_ms(&answer(None), now), None);
}

#[test]
fn an_expired_token_is_refused_even_when_cached() {
    let past = now_ms() / 1000 - 10;
    serve_idp(json!({"active": true, "sub": "bob", "exp": past}));
    let plugin = configured(json!({"service": "idp"}));
    let deny = ask(&plugin, Some("Bearer bob-token")).expect_err("expired");
    assert_eq!((deny.status, deny.message.as_str()), (401, "token expired"));
    assert_eq!(
        www_authenticate(&deny),
        Some(r#"Bearer error="invalid_token", error_description="token expired""#)
    );
    // An entry that outlived its token (a clock step on the store) is judged again.
    let key = cache_key("stale-token");
    let stale = json!({"active": true, "sub": "carol", "exp": past});
    kv::set(&key, stale.to_string().as_bytes(), None).expect("set");
    let deny = ask(&plugin, Some("Bearer stale-token")).expect_err("expired");
    assert_eq!(deny.message, "token expired");
}

#[test]
fn the_subject_falls_back_to_username_then_client_id() {
    let plugin = configured(json!({"service": "idp", "cache_ttl_seconds": 0}));
    for (answer, subject) in [
        (
            json!({"active": true, "username": "ada", "client_id": "app"}),
            Some("ada"),
        ),
        (json!({"active": true, "client_id": "app"}), Some("app")),
        (json!({"active": true, "scope": "orders.read"}), None),
    ] {
        fake::answer("idp", move |_| Ok(Response::json(200, &answer)));
        match (ask(&plugin, Some("Bearer t")), subject) {
            (Ok(Some(principal)), Some(subject)) => assert_eq!(principal.subject, subject),
            (Err(deny), None) => assert_eq!(deny.message, "invalid token"),
            (other, _) => panic!("expected {subject:?}, got {other:?}"),
        }
    }
}

#[test]
fn configured_claim_names_shape_the_principal() {
    let exp = in_an_hour();
    fake::answer("idp", move |_| {
        Ok(Response::json(
            200,
            &json!({"active": true, "uid": "u-7", "org": "acme", "groups": "admins ops", "exp": exp}),
        ))
    });
    let plugin = configured(json!({
        "service": "idp",
        "subject_claim": "uid",
        "tenant_claim": "org",
        "roles_claim": "groups",
    }));
    let principal = ask(&plugin, Some("Bearer t"))
        .expect("accepted")
        .expect("a principal");
    assert_eq!(principal.subject, "u-7");
    assert_eq!(principal.tenant.as_deref(), Some("acme"));
    assert_eq!(principal.roles, ["admins", "ops"]);
}

#[test]
fn a_service_that_cannot_answer_fails_closed_with_503() {
    let plugin = configured(json!({"service": "idp", "cache_ttl_seconds": 0}));
    let failures: Vec<Box<dyn Fn() -> Result<Response, UpstreamError>>> = vec![
        Box::new(|| Err(UpstreamError::Unavailable("connection refused".into()))),
        Box::new(|| Err(UpstreamError::Timeout)),
        Box::new(|| Ok(Response::text(500, "oops"))),
        Box::new(|| Ok(Response::text(401, "bad client"))),
        Box::new(|| Ok(Response::text(200, "<html>"))),
        Box::new(|| Ok(Response::json(200, &json!({"sub": "alice"})))),
        Box::new(|| {
            Ok(Response::json(
                200,
                &json!({"active": "true", "sub": "alice"}),
            ))
        }),
        Box::new(|| {
            Ok(Response::json(
                200,
                &json!({"active": true, "sub": "a", "exp": "soon"}),
            ))
        }),
    ];
    for (i, failure) in failures.into_iter().enumerate() {
        fake::answer("idp", move |_| failure());
        let deny = ask(&plugin, Some("Bearer t")).expect_err("fails closed");
        assert_eq!(
            (deny.status, deny.message.as_str()),
            (503, "authentication service unavailable"),
            "case {i}"
        );
        assert!(www_authenticate(&deny).is_none(), "case {i}");
    }
    // A service missing from the plugin's upstreams is the same to the client.
    let plugin = configured(json!({"service": "elsewhere"}));
    assert_eq!(status(ask(&plugin, Some("Bearer t"))), 503);
}

#[test]
fn defaults_fill_an_almost_empty_config() {
    let plugin = configured(json!({"service": "idp"}));
    assert_eq!(plugin.config.path, "/introspect");
    assert_eq!(plugin.config.cache_ttl_seconds, 60);
    assert_eq!(plugin.config.timeout_ms, None);
    assert_eq!(plugin.config.claims, ClaimNames::default());
    assert!(plugin.authorization.is_none());
}

#[test]
fn unknown_fields_and_bad_values_are_refused_naming_the_field() {
    for (config, expected) in [
        (json!({}), "missing field `service`"),
        (
            json!({"service": "idp", "servce": "x"}),
            "unknown field `servce`",
        ),
        (
            json!({"service": "idp", "subjet_claim": "x"}),
            "unknown field `subjet_claim`",
        ),
        (json!({"service": ""}), "service must name a service"),
        (
            json!({"service": "idp", "path": "introspect"}),
            "path must start with /",
        ),
        (
            json!({"service": "idp", "timeout_ms": 0}),
            "timeout_ms must be at least 1",
        ),
        (
            json!({"service": "idp", "cache_ttl_seconds": -1}),
            "cache_ttl_seconds",
        ),
        (
            json!({"service": "idp", "cache_ttl_seconds": 100_000}),
            "cache_ttl_seconds must be at most 86400",
        ),
        (
            json!({"service": "idp", "client_id": "gw"}),
            "client_id and client_secret must be set together",
        ),
        (
            json!({"service": "idp", "client_secret": "s"}),
            "client_id and client_secret must be set together",
        ),
        (
            json!({"service": "idp", "roles_claim": ""}),
            "roles_claim must name a claim",
        ),
    ] {
        let error = config_error(config.clone());
        assert!(error.starts_with("config:"), "{config}: {error}");
        assert!(error.contains(expected), "{config}: {error}");
    }
}

#[test]
fn an_active_token_not_yet_valid_is_refused() {
    serve_idp(json!({"active": true, "sub": "early", "nbf": in_an_hour()}));
    let plugin = configured(json!({"service": "idp"}));
    let deny = ask(&plugin, Some("Bearer early-token")).expect_err("not yet valid");
    assert_eq!((deny.status, deny.message.as_str()), (401, "invalid token"));
}
