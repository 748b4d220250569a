//! End to end: a real gateway on 127.0.0.1:0 in front of a real upstream, with plugins
//! compiled from source and fixtures that misbehave on purpose.

use archway_tests::artifacts::{BARE_AUTHENTICATOR, HELLO_AUTH, MISBEHAVE, USES_KV};
use archway_tests::{get, send, try_gateway, upstream};

mod admin;
mod admin_docs;
mod aggregate;
mod api_keys;
mod balance;
mod cache;
mod canary;
mod compression;
mod cors;
mod errors;
mod hardening;
mod jwt;
mod limits;
mod oauth2;
mod plugins;
mod pooling;
mod python;
mod reload;
mod resilience;
mod shared;
mod store;
mod tenants;
mod ticks;
mod tls;
mod trace;
mod trading;
mod transform;
mod upstream;
mod validate;
mod versions;
mod websocket;

/// The quickstart's shape: hello-auth -> permission check -> header-transform -> upstream.
fn chain_config() -> String {
    format!(
        r#"
        [log]
        access_log = false

        [[plugins]]
        name = "hello-auth"
        path = "{HELLO_AUTH}"
        capabilities = ["log"]
        [plugins.config]
        keys = {{ "k-1" = "alice" }}

        [[plugins]]
        name = "stamp"
        builtin = "header-transform"
        [plugins.config]
        request_headers = {{ "x-from-gateway" = "yes" }}
        response_headers = {{ "x-archway" = "chain" }}

        [[plugins]]
        name = "own-account"
        builtin = "owner"
        [plugins.config]
        param = "account"

        [[services]]
        name = "echo"
        url = "http://{{upstream}}"

        [[routes]]
        id = "users"
        service_name = "echo"
        path_pattern = "/api/v1/users/*"
        target_url = "/users/*"
        authenticate = ["hello-auth"]
        required_permissions = ["hello.read"]
        transform = ["stamp"]

        [[routes]]
        id = "accounts"
        service_name = "echo"
        path_pattern = "/accounts/{{account}}/*"
        authenticate = ["hello-auth"]
        authorize = ["own-account"]
        "#
    )
}

#[tokio::test]
async fn request_without_key_gets_401_envelope() {
    let gateway = archway_tests::gateway(&chain_config(), upstream().await).await;
    let reply = get(gateway.addr(), "/api/v1/users/7", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.json(),
        serde_json::json!({"code": "F40001", "msg": "authentication required", "content": {}})
    );
    gateway.stop().await;
}

#[tokio::test]
async fn authenticated_request_reaches_upstream_through_the_chain() {
    let gateway = archway_tests::gateway(&chain_config(), upstream().await).await;
    let reply = get(
        gateway.addr(),
        "/api/v1/users/7/orders?full=1",
        &[("x-api-key", "k-1")],
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.header("x-archway"),
        Some("chain"),
        "response transform ran"
    );
    let echo = reply.json();
    assert_eq!(
        echo["path"], "/users/7/orders",
        "target_url rewrote the path"
    );
    assert_eq!(echo["query"], "full=1");
    assert_eq!(
        echo["headers"]["x-from-gateway"], "yes",
        "request transform ran"
    );
    assert_eq!(echo["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "http");
    gateway.stop().await;
}

#[tokio::test]
async fn authorizer_deny_is_403_and_ends_the_chain() {
    let gateway = archway_tests::gateway(&chain_config(), upstream().await).await;
    let key = [("x-api-key", "k-1")];
    let reply = get(gateway.addr(), "/accounts/bob/settings", &key).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["code"], "F40003");
    let own = get(gateway.addr(), "/accounts/alice/settings", &key).await;
    assert_eq!(own.status, 200, "alice reaches her own account");
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_route_is_404_envelope() {
    let gateway = archway_tests::gateway(&chain_config(), upstream().await).await;
    let reply = get(gateway.addr(), "/nowhere", &[]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.json(),
        serde_json::json!({"code": "F40400", "msg": "no route for GET /nowhere", "content": {}})
    );
    gateway.stop().await;
}

#[tokio::test]
async fn ambiguous_path_encoding_is_refused() {
    let gateway = archway_tests::gateway(&chain_config(), upstream().await).await;
    let reply = get(
        gateway.addr(),
        "/api/v1/users/%2e%2e/admin",
        &[("x-api-key", "k-1")],
    )
    .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], "F40000");
    gateway.stop().await;
}

/// A gateway with one handler route per misbehaving mode, plus a healthy route.
fn fixture_config(extra: &str) -> String {
    let modes = [
        "trap",
        "loop",
        "memory-bomb",
        "oversized-output",
        "bad-header",
        "ok",
    ];
    let mut config = String::from(
        "[log]\naccess_log = false\n[[services]]\nname = \"echo\"\nurl = \"http://{upstream}\"\n\
         [[routes]]\nid = \"healthy\"\nservice_name = \"echo\"\npath_pattern = \"/healthy\"\nrequires_auth = false\n",
    );
    for mode in modes {
        config += &format!(
            "[[plugins]]\nname = \"{mode}\"\npath = \"{MISBEHAVE}\"\ntimeout_ms = 50\nmemory_mb = 16\n\
             [plugins.config]\nmode = \"{mode}\"\n\
             [[routes]]\nid = \"{mode}\"\npath_pattern = \"/{mode}\"\nhandler = \"{mode}\"\nrequires_auth = false\n{extra}\n"
        );
    }
    config
}

#[tokio::test]
async fn misbehaving_plugins_fail_their_request_and_the_gateway_keeps_serving() {
    let gateway = archway_tests::gateway(&fixture_config(""), upstream().await).await;
    for mode in [
        "trap",
        "loop",
        "memory-bomb",
        "oversized-output",
        "bad-header",
    ] {
        for attempt in 0..2 {
            let reply = get(gateway.addr(), &format!("/{mode}"), &[]).await;
            assert_eq!(reply.status, 500, "{mode} attempt {attempt}");
            assert_eq!(
                reply.json(),
                serde_json::json!({"code": "F50000", "msg": "a plugin on this route failed", "content": {}}),
                "{mode}: the envelope names no internals"
            );
            assert_eq!(
                get(gateway.addr(), "/healthy", &[]).await.status,
                200,
                "gateway serves after {mode}"
            );
        }
    }
    let reply = get(gateway.addr(), "/ok", &[]).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (200, &b"fixture ok"[..]),
        "the same component still works"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn failing_authenticator_with_skip_policy_is_passed_over() {
    let config = format!(
        "[log]\naccess_log = false\n\
         [[plugins]]\nname = \"broken\"\npath = \"{MISBEHAVE}\"\n[plugins.config]\nmode = \"trap\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"lenient\"\nservice_name = \"echo\"\npath_pattern = \"/lenient\"\n\
         authenticate = [\"broken\"]\nrequires_auth = false\nplugin_failure = \"skip\"\n\
         [[routes]]\nid = \"strict\"\nservice_name = \"echo\"\npath_pattern = \"/strict\"\n\
         authenticate = [\"broken\"]\nrequires_auth = false\n"
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    assert_eq!(get(gateway.addr(), "/lenient", &[]).await.status, 200);
    assert_eq!(get(gateway.addr(), "/strict", &[]).await.status, 500);
    gateway.stop().await;
}

async fn start_error(config: &str) -> String {
    match try_gateway(config, upstream().await).await {
        Ok(_) => panic!("the gateway should refuse this config"),
        Err(error) => format!("{error:#}"),
    }
}

#[tokio::test]
async fn failing_init_is_refused_at_start_naming_the_plugin() {
    let config = format!(
        "[[plugins]]\nname = \"grumpy\"\npath = \"{MISBEHAVE}\"\n[plugins.config]\nmode = \"bad-init\"\n"
    );
    let error = start_error(&config).await;
    assert!(error.contains("plugin grumpy failed to start"), "{error}");
    assert!(
        error.contains("bad-init fixture refuses to start"),
        "{error}"
    );
}

#[tokio::test]
async fn init_that_never_returns_hits_the_deadline() {
    let config = format!(
        "[[plugins]]\nname = \"stuck\"\npath = \"{MISBEHAVE}\"\ntimeout_ms = 50\n[plugins.config]\nmode = \"loop-in-init\"\n"
    );
    let error = start_error(&config).await;
    assert!(
        error.contains("plugin stuck exceeded its 50 ms deadline"),
        "{error}"
    );
}

#[tokio::test]
async fn ungranted_import_fails_the_load_naming_plugin_and_import() {
    let config = format!("[[plugins]]\nname = \"counter\"\npath = \"{USES_KV}\"\n");
    let error = start_error(&config).await;
    assert!(
        error.contains(
            "plugin counter imports `archway:plugin/kv@0.1.0` but its config does not grant it"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn plugin_used_in_a_role_it_does_not_export_is_refused() {
    let config = format!(
        "[[plugins]]\nname = \"hello\"\npath = \"{HELLO_AUTH}\"\ncapabilities = [\"log\"]\n[plugins.config]\nkeys = {{}}\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"r\"\nservice_name = \"echo\"\npath_pattern = \"/r\"\nrequires_auth = false\ntransform = [\"hello\"]\n"
    );
    let error = start_error(&config).await;
    assert!(
        error
            .contains("plugin hello does not export the transform role (it exports: authenticate)"),
        "{error}"
    );
}

#[tokio::test]
async fn not_a_component_is_refused() {
    let file = std::env::temp_dir().join(format!(
        "archway-not-a-component-{}.wasm",
        std::process::id()
    ));
    std::fs::write(&file, b"definitely not wasm").expect("write temp file");
    let error = start_error(&format!(
        "[[plugins]]\nname = \"junk\"\npath = {:?}\n",
        file
    ))
    .await;
    assert!(
        error.contains("plugin junk: not a valid WebAssembly component"),
        "{error}"
    );
    std::fs::remove_file(file).expect("remove temp file");
}

fn plain_route(service_url: &str, extra: &str) -> String {
    format!(
        "[log]\naccess_log = false\n[[services]]\nname = \"s\"\nurl = \"{service_url}\"\n\
         [[routes]]\nid = \"r\"\nservice_name = \"s\"\npath_pattern = \"/r/*\"\ntarget_url = \"/*\"\nrequires_auth = false\n{extra}\n"
    )
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let gateway = archway_tests::gateway(
        &plain_route(&format!("http://{closed}"), ""),
        upstream().await,
    )
    .await;
    let reply = get(gateway.addr(), "/r/x", &[]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (502, "F50200".into())
    );
    gateway.stop().await;
}

#[tokio::test]
async fn silent_upstream_is_504_after_the_route_timeout() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let config = plain_route(&format!("http://{silent_addr}"), "timeout_seconds = 1");
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let reply = get(gateway.addr(), "/r/x", &[]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (504, "F50400".into())
    );
    gateway.stop().await;
}

#[tokio::test]
async fn body_over_the_route_limit_is_413() {
    let upstream = upstream().await;
    let gateway = archway_tests::gateway(
        &plain_route("http://{upstream}", "max_body_bytes = 16"),
        upstream,
    )
    .await;
    let reply = send(gateway.addr(), "POST", "/r/upload", &[], &"x".repeat(64)).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (413, "F41300".into())
    );
    let reply = send(gateway.addr(), "POST", "/r/upload", &[], "small").await;
    assert_eq!(
        (reply.status, reply.json()["body_bytes"].clone()),
        (200, 5.into())
    );
    gateway.stop().await;
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let upstream = upstream().await;
    let gateway = archway_tests::gateway(&plain_route("http://{upstream}", ""), upstream).await;
    let reply = get(
        gateway.addr(),
        "/r/x",
        &[
            ("connection", "x-private"),
            ("x-private", "secret"),
            ("x-kept", "1"),
        ],
    )
    .await;
    let echo = reply.json();
    assert_eq!(echo["headers"]["x-kept"], "1");
    assert!(echo["headers"].get("x-private").is_none(), "{echo}");
    gateway.stop().await;
}

#[tokio::test]
async fn http2_clients_are_served() {
    use http_body_util::{BodyExt, Empty};
    let upstream = upstream().await;
    let gateway = archway_tests::gateway(&plain_route("http://{upstream}", ""), upstream).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Empty<bytes::Bytes>>();
    let response = client
        .get(
            format!("http://{}/r/h2", gateway.addr())
                .parse()
                .expect("uri"),
        )
        .await
        .expect("h2 answer");
    assert_eq!(
        (response.status().as_u16(), response.version()),
        (200, http::Version::HTTP_2)
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(echo["path"], "/h2");
    gateway.stop().await;
}

#[tokio::test]
async fn per_request_instances_serve_and_recover_from_a_trap() {
    let config = format!(
        "[log]\naccess_log = false\n\
         [[plugins]]\nname = \"fresh\"\npath = \"{MISBEHAVE}\"\ninstances = \"per-request\"\n[plugins.config]\nmode = \"ok\"\n\
         [[plugins]]\nname = \"fresh-trap\"\npath = \"{MISBEHAVE}\"\ninstances = \"per-request\"\n[plugins.config]\nmode = \"trap\"\n\
         [[routes]]\nid = \"fresh\"\npath_pattern = \"/fresh\"\nhandler = \"fresh\"\nrequires_auth = false\n\
         [[routes]]\nid = \"fresh-trap\"\npath_pattern = \"/fresh-trap\"\nhandler = \"fresh-trap\"\nrequires_auth = false\n"
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    for _ in 0..3 {
        let reply = get(gateway.addr(), "/fresh", &[]).await;
        assert_eq!((reply.status, &reply.body[..]), (200, &b"fixture ok"[..]));
        assert_eq!(get(gateway.addr(), "/fresh-trap", &[]).await.status, 500);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn memory_bomb_with_a_generous_deadline_is_stopped_by_the_memory_cap() {
    let config = archway_config::Config::from_toml_str(
        &format!(
            "[[plugins]]\nname = \"bomb\"\npath = \"{MISBEHAVE}\"\ntimeout_ms = 20000\nmemory_mb = 16\n\
             [plugins.config]\nmode = \"memory-bomb\"\n"
        ),
        std::path::Path::new("."),
    )
    .expect("config");
    let settings = config.plugin("bomb").expect("configured");
    let bytes = std::fs::read(MISBEHAVE).expect("fixture built");
    let runtime = archway_runtime::Runtime::new().expect("runtime");
    let component = archway_runtime::ComponentBytes::new(bytes);
    let plugin = archway_runtime::Plugin::load(&runtime, settings, &component)
        .await
        .expect("loads");
    let error = plugin
        .handle(&mut archway_runtime::RequestHead::default())
        .await
        .expect_err("the bomb breaks the call");
    assert!(
        matches!(
            error,
            archway_runtime::PluginError::MemoryLimit { memory_mb: 16, .. }
        ),
        "{error:?}"
    );
    // The pipeline logs this message when the call fails.
    assert_eq!(
        error.to_string(),
        "plugin bomb exceeded its 16 MiB memory cap"
    );

    let gateway = archway_tests::gateway(
        &format!(
            "[log]\naccess_log = false\n\
             [[plugins]]\nname = \"bomb\"\npath = \"{MISBEHAVE}\"\ntimeout_ms = 20000\nmemory_mb = 16\n\
             [plugins.config]\nmode = \"memory-bomb\"\n\
             [[routes]]\nid = \"bomb\"\npath_pattern = \"/bomb\"\nhandler = \"bomb\"\nrequires_auth = false\n"
        ),
        upstream().await,
    )
    .await;
    let reply = get(gateway.addr(), "/bomb", &[]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (500, "F50000".into())
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_component_without_lifecycle_built_without_the_sdk_serves() {
    let config = format!(
        "[log]\naccess_log = false\n\
         [[plugins]]\nname = \"bare\"\npath = \"{BARE_AUTHENTICATOR}\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"r\"\nservice_name = \"echo\"\npath_pattern = \"/r\"\n\
         authenticate = [\"bare\"]\nrequired_permissions = [\"bare.read\"]\n"
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    assert_eq!(
        get(gateway.addr(), "/r", &[("x-user", "ada")]).await.status,
        200
    );
    assert_eq!(get(gateway.addr(), "/r", &[]).await.status, 401);
    gateway.stop().await;
}

#[tokio::test]
async fn check_warns_about_no_route_field_that_acts() {
    let text = plain_route(
        "http://127.0.0.1:9",
        "retry_count = 5\ncache_enabled = true\ncache_ttl_seconds = 60\nload_balance_strategy = \"weighted\"\n",
    );
    let config = archway_config::Config::from_toml_str(&text, std::path::Path::new("."))
        .expect("valid config");
    let report = archway::check(&config).await.expect("check passes");
    for acting in [
        "load_balance_strategy",
        "retry_count",
        "circuit_breaker",
        "cache_enabled",
        "cache_ttl_seconds",
    ] {
        assert!(
            !report.warnings.iter().any(|w| w.contains(acting)),
            "{acting} acts: {:?}",
            report.warnings
        );
    }
}

/// With one call slot, four concurrent requests to a plugin that computes for its whole
/// 300 ms budget run one after another: the first ones fail at their budget (500), and
/// the last, still waiting for the slot when its route's 1 s timeout passes, gets 504.
/// Without the cap all four would run at once and each end at its budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_a_plugins_concurrency_cap_wait_for_a_slot() {
    let config = format!(
        "[log]\naccess_log = false\n\
         [[plugins]]\nname = \"busy\"\npath = \"{MISBEHAVE}\"\ntimeout_ms = 300\nmax_concurrent_calls = 1\n\
         [plugins.config]\nmode = \"loop\"\n\
         [[routes]]\nid = \"busy\"\npath_pattern = \"/busy\"\nhandler = \"busy\"\nrequires_auth = false\n\
         timeout_seconds = 1\nrate_limit_rpm = 0\n"
    );
    let gateway = archway_tests::gateway(&config, upstream().await).await;
    let addr = gateway.addr();
    let requests: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { get(addr, "/busy", &[]).await.status }))
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.expect("client task"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses.first(), Some(&500), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&504), "{statuses:?}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_plugin_config_that_does_not_fit_is_refused_naming_the_field() {
    let config = format!(
        "[[plugins]]\nname = \"hello\"\npath = \"{HELLO_AUTH}\"\n[plugins.config]\nkeys = {{ \"k-1\" = 7 }}\n"
    );
    let error = start_error(&config).await;
    assert!(error.contains("plugin hello failed to start"), "{error}");
    assert!(
        error.contains("config: keys.k-1: invalid type: integer `7`, expected a string"),
        "{error}"
    );
}
