//! The admin API end to end: the built-in `admin` plugin behind the gateway's default
//! authenticator (API keys), replaying the contract's examples (create a route, register
//! a service instance) against a running gateway, then traffic through what they made;
//! a second node on the same Redis; and the contract's errors.

use std::time::{Duration, Instant};

use archway::keys::{KeyStore, NewKey};
use archway_store::testing::RedisServer;
use archway_tests::{Reply, get, send, try_gateway, upstream};
use serde_json::{Value, json};

/// A gateway whose only file route is the admin API; routes that name no authenticator
/// use API keys.
pub(crate) fn config(store: &str) -> String {
    format!(
        r#"
        [log]
        access_log = false
        {store}

        [defaults]
        authenticate = ["api-keys"]

        [[plugins]]
        name = "api-keys"
        builtin = "api-key-auth"
        capabilities = ["kv"]
        share = ["api-keys"]

        [[plugins]]
        name = "admin"
        builtin = "admin"
        capabilities = ["admin"]
        timeout_ms = 1000

        [[routes]]
        id = "admin"
        path_pattern = "/admin/*"
        handler = "admin"
        "#
    )
}

/// Keys for an administrator, a reader and a caller with no admin permission.
pub(crate) struct Keys {
    pub(crate) admin: String,
    pub(crate) reader: String,
    pub(crate) nobody: String,
}

pub(crate) async fn keys(gateway: &archway::Running) -> Keys {
    let store = KeyStore::new(gateway.state().store().clone(), "api-keys");
    let key = async |subject: &str, permissions: &[&str]| {
        let new = NewKey {
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            ..NewKey::for_subject(subject)
        };
        store.create(&new).await.expect("key created").key
    };
    Keys {
        admin: key("ops", &["gateway.admin"]).await,
        reader: key("auditor", &["gateway.read"]).await,
        nobody: key("someone", &["user.read"]).await,
    }
}

pub(crate) async fn call(
    gateway: &archway::Running,
    method: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> Reply {
    let body = match body {
        Value::Null => String::new(),
        body => body.to_string(),
    };
    send(
        gateway.addr(),
        method,
        path,
        &[("x-api-key", key), ("content-type", "application/json")],
        &body,
    )
    .await
}

/// Asks until `path` answers `status` (a change reaches routing through the change feed),
/// at most a second.
async fn until_status(addr: std::net::SocketAddr, path: &str, key: &str, status: u16) -> Reply {
    let since = Instant::now();
    loop {
        let reply = get(addr, path, &[("x-api-key", key)]).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "{path} still answers {} ({}) a second later",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_timestamp(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    let bytes = text.as_bytes();
    bytes.len() == 19
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b' ',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        })
}

/// Checks the envelope and hands back `content`.
fn content(reply: &Reply, status: u16, code: &str) -> Value {
    let body = reply.json();
    assert_eq!(reply.status, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["content"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_examples_make_a_route_and_an_instance_that_serve_traffic() {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(""), upstream)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;

    // The contract's cURL example: create a route.
    let created = call(
        &gateway,
        "POST",
        "/admin/routes",
        &keys.admin,
        &json!({
            "service_name": "user-service",
            "path_pattern": "/api/v1/users/*",
            "target_url": "/users/*",
            "method": "GET",
            "requires_auth": true,
            "rate_limit_rpm": 500
        }),
    )
    .await;
    let route = content(&created, 201, "S10000");
    let route_id = route["route_id"].as_str().expect("route_id").to_owned();
    assert_eq!(route_id.len(), 36, "a UUID: {route}");
    assert_eq!(route["service_name"], "user-service");
    assert_eq!(route["path_pattern"], "/api/v1/users/*");
    assert!(is_timestamp(&route["created_at"]), "{route}");

    // No instance yet: the contract's "no healthy instance".
    let unavailable = until_status(gateway.addr(), "/api/v1/users/123", &keys.nobody, 503).await;
    assert_eq!(unavailable.json()["code"], "F50300");

    // The contract's cURL example: register an instance (on our upstream's address).
    let registered = call(
        &gateway,
        "POST",
        "/admin/services",
        &keys.admin,
        &json!({
            "service_name": "user-service",
            "instance_id": "user-service-001",
            "host": "127.0.0.1",
            "port": upstream.port(),
            "protocol": "http",
            "weight": 100
        }),
    )
    .await;
    let instance = content(&registered, 201, "S10000");
    assert_eq!(instance["instance_id"], "user-service-001");
    assert_eq!(instance["service_name"], "user-service");
    assert_eq!(
        instance["endpoint"],
        format!("http://127.0.0.1:{}", upstream.port())
    );
    assert!(is_timestamp(&instance["registered_at"]), "{instance}");

    // Traffic flows through the created route to the registered instance, authenticated
    // by the gateway's default authenticator.
    let served = until_status(gateway.addr(), "/api/v1/users/123", &keys.nobody, 200).await;
    assert_eq!(served.json()["path"], "/users/123");
    assert_eq!(
        get(gateway.addr(), "/api/v1/users/123", &[]).await.status,
        401
    );

    let listed = call(
        &gateway,
        "GET",
        "/admin/routes?service_name=user-service",
        &keys.reader,
        &Value::Null,
    )
    .await;
    let listed = content(&listed, 200, "S10000");
    assert_eq!(listed["total"], 1);
    let first = &listed["routes"][0];
    for (field, value) in [
        ("id", json!(route_id)),
        ("service_name", json!("user-service")),
        ("path_pattern", json!("/api/v1/users/*")),
        ("target_url", json!("/users/*")),
        ("method", json!("GET")),
        ("version", json!("v1")),
        ("is_active", json!(true)),
        ("requires_auth", json!(true)),
        ("required_permissions", json!([])),
        ("rate_limit_rpm", json!(500)),
        ("timeout_seconds", json!(30)),
        ("priority", json!(0)),
    ] {
        assert_eq!(first[field], value, "{field} in {first}");
    }
    assert!(is_timestamp(&first["created_at"]), "{first}");

    let services = call(
        &gateway,
        "GET",
        "/admin/services?service_name=user-service",
        &keys.reader,
        &Value::Null,
    )
    .await;
    let services = content(&services, 200, "S10000");
    assert_eq!(services["service_name"], "user-service");
    assert_eq!(services["total_instances"], 1);
    assert_eq!(services["healthy_instances"], 1);
    let listed_instance = &services["instances"][0];
    assert_eq!(listed_instance["instance_id"], "user-service-001");
    assert_eq!(listed_instance["status"], "healthy");
    assert_eq!(listed_instance["weight"], 100);
    assert_eq!(listed_instance["id"].as_str().map(str::len), Some(36));

    let updated = call(
        &gateway,
        "PUT",
        &format!("/admin/routes/{route_id}"),
        &keys.admin,
        &json!({"rate_limit_rpm": 100, "timeout_seconds": 10}),
    )
    .await;
    let updated = content(&updated, 200, "S10000");
    assert_eq!(updated["route_id"], route_id.as_str());
    assert_eq!(
        updated["updated_fields"],
        json!(["rate_limit_rpm", "timeout_seconds"])
    );
    assert!(is_timestamp(&updated["updated_at"]), "{updated}");

    let drained = call(
        &gateway,
        "PUT",
        "/admin/services/user-service-001",
        &keys.admin,
        &json!({"weight": 150, "metadata": {"version": "1.0.1"}}),
    )
    .await;
    let drained = content(&drained, 200, "S10000");
    assert_eq!(drained["weight"], 150);

    // A soft delete: the route stops matching, and is listed only when asked.
    let deleted = call(
        &gateway,
        "DELETE",
        &format!("/admin/routes/{route_id}"),
        &keys.admin,
        &Value::Null,
    )
    .await;
    let deleted = content(&deleted, 200, "S10000");
    assert_eq!(deleted["route_id"], route_id.as_str());
    assert!(is_timestamp(&deleted["deleted_at"]), "{deleted}");
    let gone = until_status(gateway.addr(), "/api/v1/users/123", &keys.nobody, 404).await;
    assert_eq!(gone.json()["code"], "F40400");
    let listed = call(
        &gateway,
        "GET",
        "/admin/routes?service_name=user-service",
        &keys.reader,
        &Value::Null,
    )
    .await;
    assert_eq!(content(&listed, 200, "S10000")["total"], 0);
    let listed = call(
        &gateway,
        "GET",
        "/admin/routes?service_name=user-service&include_deleted=true",
        &keys.reader,
        &Value::Null,
    )
    .await;
    let listed = content(&listed, 200, "S10000");
    assert!(is_timestamp(&listed["routes"][0]["deleted_at"]), "{listed}");

    let deregistered = call(
        &gateway,
        "DELETE",
        "/admin/services/user-service-001",
        &keys.admin,
        &Value::Null,
    )
    .await;
    let deregistered = content(&deregistered, 200, "S10000");
    assert_eq!(deregistered["instance_id"], "user-service-001");
    assert!(
        is_timestamp(&deregistered["deregistered_at"]),
        "{deregistered}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_created_on_one_node_serves_on_another_within_a_second() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let a = try_gateway(&config(&store), upstream)
        .await
        .expect("node A starts");
    let b = try_gateway(&config(&store), upstream)
        .await
        .expect("node B starts");
    let keys = keys(&a).await;
    let registered = call(
        &a,
        "POST",
        "/admin/services",
        &keys.admin,
        &json!({"service_name": "orders", "host": "127.0.0.1", "port": upstream.port()}),
    )
    .await;
    let instance = content(&registered, 201, "S10000");
    assert_eq!(
        instance["instance_id"], instance["id"],
        "without an instance_id the instance is named by its UUID"
    );
    let created = call(
        &a,
        "POST",
        "/admin/routes",
        &keys.admin,
        &json!({"service_name": "orders", "path_pattern": "/orders/*", "target_url": "/*", "method": "ANY"}),
    )
    .await;
    content(&created, 201, "S10000");
    let served = until_status(b.addr(), "/orders/7", &keys.nobody, 200).await;
    assert_eq!(served.json()["path"], "/7");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_the_permission_are_refused() {
    let gateway = try_gateway(&config(""), upstream().await)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;
    let route =
        json!({"service_name": "s", "path_pattern": "/s/*", "target_url": "/*", "method": "GET"});

    let anonymous = send(gateway.addr(), "GET", "/admin/routes", &[], "").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["code"], "F40001");

    for (key, method, path, status, code) in [
        (&keys.nobody, "GET", "/admin/routes", 403, "F40003"),
        (&keys.reader, "POST", "/admin/routes", 403, "F40003"),
        (&keys.reader, "GET", "/admin/routes", 200, "S10000"),
        (&keys.reader, "GET", "/admin/permissions", 200, "S10000"),
        (&keys.admin, "PATCH", "/admin/routes", 405, "F40500"),
        (&keys.admin, "GET", "/admin/nothing", 404, "F40400"),
    ] {
        let reply = call(&gateway, method, path, key, &route).await;
        content(&reply, status, code);
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_fields_unknown_ids_and_duplicates_get_the_contract_errors() {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(""), upstream)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;
    let valid =
        json!({"service_name": "s", "path_pattern": "/s/*", "target_url": "/*", "method": "GET"});
    let with = |field: &str, value: Value| {
        let mut route = valid.clone();
        match value {
            Value::Null => route.as_object_mut().expect("object").remove(field),
            value => route
                .as_object_mut()
                .expect("object")
                .insert(field.to_owned(), value),
        };
        route
    };
    for (route, field) in [
        (with("path_pattern", Value::Null), "path_pattern"),
        (with("method", Value::Null), "method"),
        (with("method", json!("HEAD")), "method"),
        (with("method", json!("FETCH")), "method"),
        (with("service_name", json!("x".repeat(101))), "service_name"),
        (with("target_url", json!("")), "target_url"),
        (with("rate_limit_rpm", json!("many")), "rate_limit_rpm"),
        (with("timeout_seconds", json!(0)), "timeout_seconds"),
        (
            with("permission_check_strategy", json!("some")),
            "permission_check_strategy",
        ),
        (
            with("load_balance_strategy", json!("random")),
            "load_balance_strategy",
        ),
        (with("colour", json!("blue")), "colour"),
        (with("id", json!("mine")), "id"),
    ] {
        let reply = call(&gateway, "POST", "/admin/routes", &keys.admin, &route).await;
        let details = content(&reply, 400, "F40000");
        assert_eq!(details["field"], field, "{route} gave {details}");
    }

    let created = call(&gateway, "POST", "/admin/routes", &keys.admin, &valid).await;
    let id = content(&created, 201, "S10000")["route_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let duplicate = call(&gateway, "POST", "/admin/routes", &keys.admin, &valid).await;
    content(&duplicate, 409, "F40900");
    let renamed = call(
        &gateway,
        "PUT",
        &format!("/admin/routes/{id}"),
        &keys.admin,
        &json!({"priority": "high"}),
    )
    .await;
    assert_eq!(content(&renamed, 400, "F40000")["field"], "priority");
    for (method, path) in [
        ("PUT", "/admin/routes/no-such-route"),
        ("DELETE", "/admin/routes/no-such-route"),
        ("GET", "/admin/routes/no-such-route"),
        ("PUT", "/admin/services/no-such-instance"),
        ("DELETE", "/admin/services/no-such-instance"),
        ("DELETE", "/admin/permissions/no.such"),
    ] {
        let reply = call(&gateway, method, path, &keys.admin, &json!({"weight": 5})).await;
        content(&reply, 404, "F40400");
    }
    let file_route = call(
        &gateway,
        "DELETE",
        "/admin/routes/admin",
        &keys.admin,
        &Value::Null,
    )
    .await;
    content(&file_route, 409, "F40900");

    let unnamed = call(
        &gateway,
        "GET",
        "/admin/services",
        &keys.reader,
        &Value::Null,
    )
    .await;
    assert_eq!(content(&unnamed, 400, "F40000")["field"], "service_name");
    let paged = call(
        &gateway,
        "GET",
        "/admin/routes?size=0",
        &keys.reader,
        &Value::Null,
    )
    .await;
    assert_eq!(content(&paged, 400, "F40000")["field"], "size");
    for (instance, field) in [
        (json!({"service_name": "s", "host": "h", "port": 0}), "port"),
        (
            json!({"service_name": "s", "host": "h", "port": 80, "weight": 1001}),
            "weight",
        ),
        (json!({"service_name": "s", "port": 80}), "host"),
        (
            json!({"service_name": "s", "host": "h", "port": 80, "protocol": "ftp"}),
            "protocol",
        ),
    ] {
        let reply = call(&gateway, "POST", "/admin/services", &keys.admin, &instance).await;
        assert_eq!(content(&reply, 400, "F40000")["field"], field, "{instance}");
    }
    let instance =
        json!({"service_name": "s", "instance_id": "s-1", "host": "127.0.0.1", "port": 80});
    content(
        &call(&gateway, "POST", "/admin/services", &keys.admin, &instance).await,
        201,
        "S10000",
    );
    content(
        &call(&gateway, "POST", "/admin/services", &keys.admin, &instance).await,
        409,
        "F40900",
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_listed_created_and_system_ones_kept() {
    let gateway = try_gateway(&config(""), upstream().await)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;
    let listed = call(
        &gateway,
        "GET",
        "/admin/permissions",
        &keys.reader,
        &Value::Null,
    )
    .await;
    let listed = content(&listed, 200, "S10000");
    assert_eq!(listed["total"], 2);
    let admin = &listed["permissions"][0];
    assert_eq!(admin["permission_code"], "gateway.admin");
    assert_eq!(admin["is_system"], true);
    assert_eq!(admin["actions"], json!(["read", "write", "delete"]));
    for id in ["1", "gateway.admin"] {
        let one = call(
            &gateway,
            "GET",
            &format!("/admin/permissions/{id}"),
            &keys.reader,
            &Value::Null,
        )
        .await;
        assert_eq!(
            content(&one, 200, "S10000")["permission_code"],
            "gateway.admin"
        );
    }

    let custom = json!({
        "permission_code": "custom.permission",
        "permission_name": "自定義權限",
        "description": "自定義權限描述",
        "resource_type": "custom",
        "actions": ["read", "write"],
    });
    let created = call(&gateway, "POST", "/admin/permissions", &keys.admin, &custom).await;
    let created = content(&created, 201, "S10000");
    assert_eq!(created["permission_code"], "custom.permission");
    assert_eq!(created["is_system"], false);
    assert!(is_timestamp(&created["created_at"]), "{created}");
    content(
        &call(&gateway, "POST", "/admin/permissions", &keys.admin, &custom).await,
        409,
        "F40900",
    );
    let long =
        json!({"permission_code": "x", "permission_name": "y", "description": "d".repeat(501)});
    let refused = call(&gateway, "POST", "/admin/permissions", &keys.admin, &long).await;
    assert_eq!(content(&refused, 400, "F40000")["field"], "description");

    content(
        &call(
            &gateway,
            "DELETE",
            "/admin/permissions/gateway.admin",
            &keys.admin,
            &Value::Null,
        )
        .await,
        409,
        "F40900",
    );
    content(
        &call(
            &gateway,
            "DELETE",
            "/admin/permissions/custom.permission",
            &keys.admin,
            &Value::Null,
        )
        .await,
        200,
        "S10000",
    );
    let listed = call(
        &gateway,
        "GET",
        "/admin/permissions",
        &keys.reader,
        &Value::Null,
    )
    .await;
    assert_eq!(content(&listed, 200, "S10000")["total"], 2);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_creates_each_route_it_can_and_reports_each_failure() {
    let gateway = try_gateway(&config(""), upstream().await)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;
    let batch = json!({"routes": [
        {"service_name": "user-service", "path_pattern": "/api/v1/users/profile", "target_url": "/users/profile", "method": "GET", "requires_auth": true, "rate_limit_rpm": 200},
        {"service_name": "order-service", "path_pattern": "/api/v1/orders", "target_url": "/orders", "method": "POST", "requires_auth": true, "rate_limit_rpm": 100},
        {"service_name": "order-service", "path_pattern": "/api/v1/orders", "target_url": "/orders", "method": "TRACE"},
    ]});
    let reply = call(&gateway, "POST", "/admin/batch/routes", &keys.admin, &batch).await;
    let outcome = content(&reply, 200, "S10000");
    assert_eq!(
        (
            outcome["total"].clone(),
            outcome["successful"].clone(),
            outcome["failed"].clone()
        ),
        (json!(3), json!(2), json!(1))
    );
    assert_eq!(outcome["results"][0]["status"], "success");
    assert_eq!(
        outcome["results"][1]["data"]["path_pattern"],
        "/api/v1/orders"
    );
    assert_eq!(
        outcome["results"][1]["data"]["route_id"]
            .as_str()
            .map(str::len),
        Some(36)
    );
    assert_eq!(outcome["results"][2]["status"], "failed");
    assert_eq!(outcome["errors"][0]["index"], 2);
    assert_eq!(outcome["errors"][0]["code"], "F40000");
    assert_eq!(outcome["errors"][0]["content"]["field"], "method");

    let too_many = json!({"routes": vec![json!({}); 101]});
    let refused = call(
        &gateway,
        "POST",
        "/admin/batch/routes",
        &keys.admin,
        &too_many,
    )
    .await;
    assert_eq!(content(&refused, 400, "F40000")["field"], "routes");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stored_records_are_skipped_and_the_others_still_serve() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let a = try_gateway(&config(&store), upstream)
        .await
        .expect("node A starts");
    let keys = keys(&a).await;

    // Records written behind the admin API's back: one that is not JSON, one whose
    // handler no config defines.
    let state = a.state();
    state
        .store()
        .set("archway:state/routes/garbled", b"{not json", None)
        .await
        .expect("raw write");
    let ghost: archway_config::Config = toml::from_str(
        "[[routes]]\nid = \"ghost\"\npath_pattern = \"/ghost\"\nhandler = \"ghost\"\nrequires_auth = false\n",
    )
    .expect("route record");
    state
        .put(
            archway::Kind::Route,
            "ghost",
            &archway::RouteRecord::new(ghost.routes[0].clone()),
        )
        .await
        .expect("stored");

    // Changes made afterwards still reach routing.
    let registered =
        json!({"service_name": "orders", "host": "127.0.0.1", "port": upstream.port()});
    content(
        &call(&a, "POST", "/admin/services", &keys.admin, &registered).await,
        201,
        "S10000",
    );
    let route = json!({"service_name": "orders", "path_pattern": "/orders/*", "target_url": "/*", "method": "GET"});
    content(
        &call(&a, "POST", "/admin/routes", &keys.admin, &route).await,
        201,
        "S10000",
    );
    until_status(a.addr(), "/orders/1", &keys.nobody, 200).await;

    // A node that starts now serves the good records from the start.
    let b = try_gateway(&config(&store), upstream)
        .await
        .expect("node B starts");
    assert_eq!(
        get(b.addr(), "/orders/1", &[("x-api-key", &keys.nobody)])
            .await
            .status,
        200
    );
    assert_eq!(get(b.addr(), "/ghost", &[]).await.status, 404);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_without_credentials_and_reports_the_store() {
    let mut redis = RedisServer::running();
    let upstream = upstream().await;
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let gateway = try_gateway(&config(&store), upstream)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;
    let route =
        json!({"service_name": "s", "path_pattern": "/s/*", "target_url": "/*", "method": "GET"});
    content(
        &call(&gateway, "POST", "/admin/routes", &keys.admin, &route).await,
        201,
        "S10000",
    );

    // The contract's Python and JS clients: a plain GET, no token.
    let since = Instant::now();
    let healthy = loop {
        let reply = get(gateway.addr(), "/health", &[]).await;
        let health = content(&reply, 200, "S10000");
        if health["active_routes"] == 2 || since.elapsed() > Duration::from_secs(1) {
            break health;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(healthy["status"], "healthy");
    assert_eq!(healthy["service"], "api-gateway");
    assert!(is_timestamp(&healthy["timestamp"]), "{healthy}");
    assert_eq!(healthy["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(healthy["database"], "connected");
    assert_eq!(healthy["cache"], "connected");
    assert_eq!(
        healthy["active_routes"], 2,
        "the admin route and the created one"
    );

    redis.stop();
    let reply = get(gateway.addr(), "/health", &[]).await;
    let unhealthy = content(&reply, 503, "F50000");
    assert_eq!(unhealthy["status"], "unhealthy");
    let database = unhealthy["database"].as_str().expect("database");
    assert!(database.starts_with("error: "), "{unhealthy}");
    assert!(
        !database.contains("127.0.0.1"),
        "no address leaks: {unhealthy}"
    );
    assert_eq!(
        unhealthy["cache"], unhealthy["database"],
        "the shared cache is on the store"
    );
    let issues = unhealthy["issues"].as_array().expect("issues");
    assert!(
        issues[0]
            .as_str()
            .is_some_and(|i| i.starts_with("数据库: ")),
        "{unhealthy}"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_api_keys_and_token_revocations_are_managed_and_live_at_once() {
    let gateway = try_gateway(&config(""), upstream().await)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;

    // A key made through the API: shown once, then it authenticates.
    let made = call(
        &gateway,
        "POST",
        "/admin/api-keys",
        &keys.admin,
        &json!({"subject": "bob", "roles": ["route-readers"]}),
    )
    .await;
    let made = content(&made, 201, "S10000");
    let bob = made["key"].as_str().expect("the key, once").to_owned();
    let bob_id = made["id"].as_str().expect("id").to_owned();
    assert!(is_timestamp(&made["created_at"]), "{made}");
    let refused = call(&gateway, "GET", "/admin/routes", &bob, &Value::Null).await;
    content(&refused, 403, "F40003");

    // A role managed through the API grants its permissions on the next request.
    let role = json!({"name": "route-readers", "permissions": ["gateway.read"]});
    let role = content(
        &call(&gateway, "POST", "/admin/roles", &keys.admin, &role).await,
        201,
        "S10000",
    );
    assert_eq!(role["permissions"], json!(["gateway.read"]));
    let since = Instant::now();
    while call(&gateway, "GET", "/admin/routes", &bob, &Value::Null)
        .await
        .status
        != 200
    {
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "the role is not live"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let roles = content(
        &call(&gateway, "GET", "/admin/roles", &keys.reader, &Value::Null).await,
        200,
        "S10000",
    );
    assert_eq!(roles["roles"][0]["name"], "route-readers");

    let listed = call(
        &gateway,
        "GET",
        "/admin/api-keys?subject=bob",
        &keys.reader,
        &Value::Null,
    )
    .await;
    let listed = content(&listed, 200, "S10000");
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["api_keys"][0]["id"], bob_id.as_str());
    assert!(
        !listed.to_string().contains(&bob),
        "a listing never shows a key"
    );
    for (body, field) in [
        (json!({"subject": ""}), "subject"),
        (json!({"subject": "x", "per_minute": 0}), "per_minute"),
        (json!({"roles": ["r"]}), "subject"),
    ] {
        let reply = call(&gateway, "POST", "/admin/api-keys", &keys.admin, &body).await;
        assert_eq!(content(&reply, 400, "F40000")["field"], field, "{body}");
    }

    let revoked = call(
        &gateway,
        "DELETE",
        &format!("/admin/api-keys/{bob_id}"),
        &keys.admin,
        &Value::Null,
    )
    .await;
    assert!(is_timestamp(
        &content(&revoked, 200, "S10000")["revoked_at"]
    ));
    assert_eq!(
        call(&gateway, "GET", "/admin/routes", &bob, &Value::Null)
            .await
            .status,
        401
    );
    content(
        &call(
            &gateway,
            "DELETE",
            &format!("/admin/api-keys/{bob_id}"),
            &keys.admin,
            &Value::Null,
        )
        .await,
        409,
        "F40900",
    );

    let expires_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600;
    let revocation = json!({"jti": "token-7", "expires_at": expires_at});
    let revoked = call(
        &gateway,
        "POST",
        "/admin/tokens/revoke",
        &keys.admin,
        &revocation,
    )
    .await;
    assert_eq!(content(&revoked, 200, "S10000")["jti"], "token-7");
    for (body, field) in [
        (json!({}), "token"),
        (json!({"token": "not a jwt"}), "token"),
    ] {
        let reply = call(&gateway, "POST", "/admin/tokens/revoke", &keys.admin, &body).await;
        assert_eq!(content(&reply, 400, "F40000")["field"], field, "{body}");
    }

    let audit = call(&gateway, "GET", "/admin/audit", &keys.reader, &Value::Null).await;
    let audit = content(&audit, 200, "S10000");
    assert!(
        !audit.to_string().contains(&bob),
        "the audit log never holds a key"
    );
    let collections: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["collection"].as_str())
        .collect();
    assert_eq!(
        collections,
        ["api-keys", "roles", "api-keys", "revoked-tokens"]
    );

    // A revoked key's record stays readable, by id and when asked for in the list.
    let record = call(
        &gateway,
        "GET",
        &format!("/admin/api-keys/{bob_id}"),
        &keys.reader,
        &Value::Null,
    )
    .await;
    assert!(is_timestamp(&content(&record, 200, "S10000")["revoked_at"]));
    let hidden = call(
        &gateway,
        "GET",
        "/admin/api-keys?subject=bob",
        &keys.reader,
        &Value::Null,
    )
    .await;
    assert_eq!(content(&hidden, 200, "S10000")["total"], 0);
    let shown = call(
        &gateway,
        "GET",
        "/admin/api-keys?subject=bob&include_revoked=true",
        &keys.reader,
        &Value::Null,
    )
    .await;
    assert_eq!(content(&shown, 200, "S10000")["total"], 1);

    // A role changed or deleted through the API takes its permissions away at once.
    let carol = call(
        &gateway,
        "POST",
        "/admin/api-keys",
        &keys.admin,
        &json!({"subject": "carol", "roles": ["route-readers"]}),
    )
    .await;
    let carol = content(&carol, 201, "S10000")["key"]
        .as_str()
        .expect("key")
        .to_owned();
    content(
        &call(&gateway, "GET", "/admin/routes", &carol, &Value::Null).await,
        200,
        "S10000",
    );
    let emptied = call(
        &gateway,
        "PUT",
        "/admin/roles/route-readers",
        &keys.admin,
        &json!({"permissions": []}),
    )
    .await;
    assert_eq!(
        content(&emptied, 200, "S10000")["updated_fields"],
        json!(["permissions"])
    );
    until_status(gateway.addr(), "/admin/routes", &carol, 403).await;
    content(
        &call(
            &gateway,
            "PUT",
            "/admin/roles/route-readers",
            &keys.admin,
            &json!({"permissions": ["gateway.read"]}),
        )
        .await,
        200,
        "S10000",
    );
    until_status(gateway.addr(), "/admin/routes", &carol, 200).await;
    content(
        &call(
            &gateway,
            "DELETE",
            "/admin/roles/route-readers",
            &keys.admin,
            &Value::Null,
        )
        .await,
        200,
        "S10000",
    );
    until_status(gateway.addr(), "/admin/routes", &carol, 403).await;
    content(
        &call(
            &gateway,
            "GET",
            "/admin/roles/route-readers",
            &keys.reader,
            &Value::Null,
        )
        .await,
        404,
        "F40400",
    );
    gateway.stop().await;
}

/// The envelope's metrics text once it has `line` (the traffic reaches the store once a
/// second), within a few seconds.
async fn metrics_with(addr: std::net::SocketAddr, query: &str, line: &str) -> String {
    metrics_where(addr, query, |l| l == line).await
}

/// The envelope's metrics text once a line passes `wanted`.
async fn metrics_where(
    addr: std::net::SocketAddr,
    query: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let since = Instant::now();
    loop {
        let reply = get(addr, &format!("/metrics{query}"), &[("accept", "*/*")]).await;
        let text = content(&reply, 200, "S10000")["metrics"]
            .as_str()
            .expect("metrics text")
            .to_owned();
        if text.lines().any(&wanted) {
            return text;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "no such line in {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_negotiate_text_for_scrapers_and_the_envelope_for_other_clients() {
    let upstream = upstream().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let config = format!(
        "[log]\naccess_log = false\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[services]]\nname = \"gone\"\nurl = \"http://{closed}\"\n\
         [[routes]]\nid = \"e\"\npath_pattern = \"/e/*\"\nservice_name = \"echo\"\nrequires_auth = false\n\
         [[routes]]\nid = \"g\"\npath_pattern = \"/g/*\"\nservice_name = \"gone\"\nrequires_auth = false\nretry_count = 0\n"
    );
    let gateway = try_gateway(&config, upstream)
        .await
        .expect("gateway starts");
    for _ in 0..3 {
        assert_eq!(get(gateway.addr(), "/e/x", &[]).await.status, 200);
    }
    assert_eq!(get(gateway.addr(), "/g/x", &[]).await.status, 502);

    // Prometheus asks for text: this node's counts since it started.
    let scrape = get(
        gateway.addr(),
        "/metrics",
        &[(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .await;
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    let text = String::from_utf8_lossy(&scrape.body).into_owned();
    for line in [
        "gateway_requests_total 4",
        "gateway_errors_total 1",
        "gateway_active_routes 2",
        "gateway_healthy_instances 2",
        "# TYPE gateway_response_time_ms gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in {text}");
    }
    assert!(
        text.contains("archway_requests_total"),
        "our own series too"
    );

    // The contract's cURL and JS clients send */*: the envelope, from the store's hourly
    // totals, with the query's window, service and grouping.
    let text = metrics_with(gateway.addr(), "", "gateway_requests_total 4").await;
    assert!(
        text.lines().any(|l| l == "gateway_errors_total 1"),
        "errors are in the store before the requests they belong to: {text}"
    );
    assert!(
        text.contains("archway_requests_total"),
        "our own series too"
    );
    metrics_with(
        gateway.addr(),
        "?service_name=echo&hours=1",
        "gateway_requests_total 3",
    )
    .await;
    metrics_with(
        gateway.addr(),
        "?service_name=echo",
        "gateway_active_routes 1",
    )
    .await;
    let by_hour = |l: &str| l.starts_with("gateway_requests_total{period=");
    let per_hour = |text: &str| -> Vec<u64> {
        text.lines()
            .filter(|l| by_hour(l))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect()
    };
    let since = Instant::now();
    loop {
        let text = metrics_where(gateway.addr(), "?hours=2&group_by=hour", by_hour).await;
        let counts = per_hour(&text);
        assert_eq!(counts.len(), 2, "one line per hour: {text}");
        if counts.iter().sum::<u64>() == 4 {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(5), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (query, field) in [
        ("?hours=0", "hours"),
        ("?hours=169", "hours"),
        ("?hours=x", "hours"),
        ("?group_by=week", "group_by"),
    ] {
        let reply = get(gateway.addr(), &format!("/metrics{query}"), &[]).await;
        assert_eq!(content(&reply, 400, "F40000")["field"], field, "{query}");
    }
    gateway.stop().await;
}

/// The admin API behind a JWT authenticator, as the contract's clients call it
/// (`Authorization: Bearer ...`); the `operator` role grants `gateway.admin`.
fn jwt_config() -> String {
    format!(
        r#"
        [log]
        access_log = false

        [jwt.key_sets.ops]
        algorithms = ["HS256"]
        secret_file = "{secret}"

        [defaults]
        authenticate = ["jwt"]

        [roles]
        operator = ["gateway.admin"]

        [[plugins]]
        name = "jwt"
        builtin = "jwt-auth"
        capabilities = ["jwt", "log"]
        key_sets = ["ops"]
        [plugins.config]
        key_set = "ops"

        [[plugins]]
        name = "admin"
        builtin = "admin"
        capabilities = ["admin"]
        timeout_ms = 1000

        [[routes]]
        id = "admin"
        path_pattern = "/admin/*"
        handler = "admin"
        "#,
        secret = archway_tests::tokens::key_file("hmac.secret").display()
    )
}

/// Runs a contract client (`python3` or `node` on a file in `tests/clients`) against a
/// fresh gateway; its answers, one per call.
async fn run_client(program: &str, file: &str) -> (Vec<Value>, archway::Running, String) {
    let upstream = upstream().await;
    let gateway = try_gateway(&jwt_config(), upstream)
        .await
        .expect("gateway starts");
    let token = archway_tests::tokens::sign(
        jsonwebtoken::Algorithm::HS256,
        None,
        &archway_tests::tokens::signing_key("hmac.secret"),
        &json!({"sub": "ops", "roles": ["operator"], "exp": archway_tests::tokens::now() + 600}),
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(file);
    let mut command = std::process::Command::new(program);
    command
        .arg(&script)
        .arg(format!("http://{}", gateway.addr()))
        .arg(&token)
        .arg(upstream.port().to_string());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the client thread")
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {file} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON answer per line"))
        .collect();
    (answers, gateway, token)
}

/// What both clients' first calls must answer, field for field.
fn check_created_and_registered(answers: &[Value], instance_id: &str, port: u16) {
    let route = &answers[0];
    assert_eq!(route["code"], "S10000", "{route}");
    assert_eq!(route["content"]["service_name"], "user-service");
    assert_eq!(route["content"]["path_pattern"], "/api/v1/users/*");
    assert_eq!(
        route["content"]["route_id"].as_str().map(str::len),
        Some(36)
    );
    assert!(is_timestamp(&route["content"]["created_at"]), "{route}");
    let service = &answers[1];
    assert_eq!(service["code"], "S10000", "{service}");
    assert_eq!(service["content"]["instance_id"], instance_id);
    assert_eq!(service["content"]["service_name"], "user-service");
    assert_eq!(
        service["content"]["endpoint"],
        format!("http://127.0.0.1:{port}")
    );
    assert!(
        is_timestamp(&service["content"]["registered_at"]),
        "{service}"
    );
    let health = &answers[2];
    assert_eq!(health["code"], "S10000", "{health}");
    assert_eq!(health["content"]["status"], "healthy");
    assert_eq!(health["content"]["database"], "connected");
    assert_eq!(
        health["content"]["active_routes"].as_u64().map(|n| n >= 1),
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contracts_python_client_creates_a_route_registers_a_service_and_checks_health() {
    let (answers, gateway, token) = run_client("python3", "admin_client.py").await;
    assert_eq!(answers.len(), 3);
    let port = answers[1]["content"]["endpoint"]
        .as_str()
        .and_then(|e| e.rsplit(':').next()?.parse().ok())
        .expect("an endpoint with a port");
    check_created_and_registered(&answers, "user-001", port);
    let bearer = format!("Bearer {token}");
    let since = Instant::now();
    loop {
        let reply = get(
            gateway.addr(),
            "/api/v1/users/7",
            &[("authorization", &bearer)],
        )
        .await;
        if reply.status == 200 {
            assert_eq!(reply.json()["path"], "/users/7");
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(1), "{}", reply.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contracts_javascript_client_gets_the_metrics_envelope() {
    let (answers, gateway, _) = run_client("node", "admin_client.js").await;
    assert_eq!(answers.len(), 4);
    let port = answers[1]["content"]["endpoint"]
        .as_str()
        .and_then(|e| e.rsplit(':').next()?.parse().ok())
        .expect("an endpoint with a port");
    check_created_and_registered(&answers, "user-service-001", port);
    let metrics = &answers[3];
    assert_eq!(metrics["code"], "S10000", "{metrics}");
    let text = metrics["content"]["metrics"]
        .as_str()
        .expect("the metrics text");
    for series in [
        "gateway_requests_total",
        "gateway_errors_total",
        "gateway_response_time_ms",
        "gateway_active_routes",
        "gateway_healthy_instances",
    ] {
        assert!(
            text.contains(&format!("# TYPE {series} ")),
            "no {series} in {text}"
        );
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_listed_and_a_bad_new_version_is_refused_while_the_old_one_serves() {
    use archway_tests::artifacts::{STAMP_A, STAMP_B};

    let upstream = upstream().await;
    let dir = archway_tests::scratch_dir();
    let file = dir.join("stamp.wasm");
    std::fs::copy(STAMP_A, &file).expect("copy stamp-a");
    let stamped = format!(
        "[[plugins]]\nname = \"stamp\"\npath = \"{}\"\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"stamped\"\npath_pattern = \"/s/*\"\nservice_name = \"echo\"\nrequires_auth = false\ntransform = [\"stamp\"]\n",
        file.display()
    );
    let gateway = try_gateway(&(config("") + &stamped), upstream)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;
    let stamp = async || {
        let reply = call(
            &gateway,
            "GET",
            "/admin/plugins/stamp",
            &keys.reader,
            &Value::Null,
        )
        .await;
        content(&reply, 200, "S10000")
    };
    let digest = |bytes: &[u8]| {
        let hash = archway_runtime::Runtime::content_hash(bytes);
        format!(
            "sha256:{}",
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };

    let listed = call(
        &gateway,
        "GET",
        "/admin/plugins",
        &keys.reader,
        &Value::Null,
    )
    .await;
    let listed = content(&listed, 200, "S10000");
    let names: Vec<&str> = listed["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["admin", "api-keys", "stamp"]);
    let first = stamp().await;
    assert_eq!(first["roles"], json!(["transform"]));
    assert_eq!(
        first["digest"],
        digest(&std::fs::read(STAMP_A).expect("read"))
    );
    assert!(is_timestamp(&first["loaded_at"]), "{first}");
    assert_eq!(first["last_error"], Value::Null);

    // A broken file: the reload refuses it, says why, and stamp-a keeps serving.
    std::fs::write(&file, b"\0asm not really").expect("write garbage");
    let reloaded = call(
        &gateway,
        "POST",
        "/admin/plugins/reload",
        &keys.admin,
        &Value::Null,
    )
    .await;
    content(&reloaded, 200, "S10000");
    let refused = stamp().await;
    assert!(
        refused["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{refused}"
    );
    assert_eq!(refused["failed_reloads"], 1);
    assert_eq!(refused["digest"], first["digest"]);
    assert_eq!(
        get(gateway.addr(), "/s/x", &[]).await.header("x-stamp"),
        Some("stamp-a")
    );

    // A good one: served after the reload, with its digest.
    std::fs::copy(STAMP_B, &file).expect("copy stamp-b");
    let reloaded = call(
        &gateway,
        "POST",
        "/admin/plugins/reload",
        &keys.admin,
        &Value::Null,
    )
    .await;
    content(&reloaded, 200, "S10000");
    let second = stamp().await;
    assert_eq!(
        second["digest"],
        digest(&std::fs::read(STAMP_B).expect("read"))
    );
    assert_eq!(second["last_error"], Value::Null);
    assert_eq!(
        get(gateway.addr(), "/s/x", &[]).await.header("x-stamp"),
        Some("stamp-b")
    );
    let refused = call(
        &gateway,
        "POST",
        "/admin/plugins/reload",
        &keys.reader,
        &Value::Null,
    )
    .await;
    content(&refused, 403, "F40003");
    gateway.stop().await;
}

/// `PUT /admin/plugins/{name}` with a component.
async fn upload(gateway: &archway::Running, name: &str, key: &str, component: &[u8]) -> Reply {
    send(
        gateway.addr(),
        "PUT",
        &format!("/admin/plugins/{name}"),
        &[("x-api-key", key), ("content-type", "application/wasm")],
        component,
    )
    .await
}

/// Asks `/s/x` until the stamp plugin answers `stamp`, at most a second.
async fn until_stamped(gateway: &archway::Running, stamp: &str) {
    let since = Instant::now();
    loop {
        let reply = get(gateway.addr(), "/s/x", &[]).await;
        if reply.header("x-stamp") == Some(stamp) {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "still stamped {:?} a second later",
            reply.header("x-stamp")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_version_serves_on_every_node_and_a_bad_one_is_refused() {
    use archway_tests::artifacts::{STAMP_A, STAMP_B};

    let redis = RedisServer::running();
    let upstream = upstream().await;
    let stamped = format!(
        "[store]\nredis_url = \"{}\"\n\
         [[plugins]]\nname = \"stamp\"\npath = \"{STAMP_A}\"\nuploads = true\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"stamped\"\npath_pattern = \"/s/*\"\nservice_name = \"echo\"\nrequires_auth = false\ntransform = [\"stamp\"]\n",
        redis.url()
    );
    let config = config("") + &stamped;
    let a = try_gateway(&config, upstream).await.expect("node A starts");
    let b = try_gateway(&config, upstream).await.expect("node B starts");
    let keys = keys(&a).await;
    let stamp_b = std::fs::read(STAMP_B).expect("read stamp-b");

    // Refused before anything is checked: no permission, no such plugin, no uploads.
    content(
        &upload(&a, "stamp", &keys.reader, &stamp_b).await,
        403,
        "F40003",
    );
    content(
        &upload(&a, "nope", &keys.admin, &stamp_b).await,
        404,
        "F40400",
    );
    let closed = upload(&a, "admin", &keys.admin, &stamp_b).await;
    content(&closed, 409, "F40900");
    let why = closed.json()["msg"].to_string();
    assert!(why.contains("uploads = true"), "{why}");

    // A good version serves at once on this node and within a second on the other.
    let uploaded = content(
        &upload(&a, "stamp", &keys.admin, &stamp_b).await,
        200,
        "S10000",
    );
    let hash = archway_runtime::Runtime::content_hash(&stamp_b);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(uploaded["digest"], format!("sha256:{hex}"), "{uploaded}");
    assert_eq!(uploaded["upload"]["digest"], hex, "{uploaded}");
    assert_eq!(uploaded["upload"]["size"], stamp_b.len());
    assert_eq!(uploaded["upload"]["uploaded_by"], "ops");
    assert_eq!(
        get(a.addr(), "/s/x", &[]).await.header("x-stamp"),
        Some("stamp-b")
    );
    until_stamped(&b, "stamp-b").await;

    // A broken version is refused with the reason, and stamp-b keeps serving everywhere.
    let refused = upload(&a, "stamp", &keys.admin, b"\0asm not a component").await;
    let field = content(&refused, 400, "F40000");
    assert_eq!(field["field"], "component", "{field}");
    let status = content(
        &call(
            &a,
            "GET",
            "/admin/plugins/stamp",
            &keys.reader,
            &Value::Null,
        )
        .await,
        200,
        "S10000",
    );
    assert!(
        status["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{status}"
    );
    assert_eq!(
        status["upload"]["digest"], hex,
        "the stored version is unchanged"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    for node in [&a, &b] {
        assert_eq!(
            get(node.addr(), "/s/x", &[]).await.header("x-stamp"),
            Some("stamp-b")
        );
    }

    // A node that starts later serves the uploaded version from the store.
    let c = try_gateway(&config, upstream).await.expect("node C starts");
    assert_eq!(
        get(c.addr(), "/s/x", &[]).await.header("x-stamp"),
        Some("stamp-b")
    );

    // Removing the upload serves the configured file again on every node.
    let removed = content(
        &call(
            &a,
            "DELETE",
            "/admin/plugins/stamp",
            &keys.admin,
            &Value::Null,
        )
        .await,
        200,
        "S10000",
    );
    assert_eq!(removed["upload"], Value::Null, "{removed}");
    for node in [&a, &b, &c] {
        until_stamped(node, "stamp-a").await;
    }
    let again = call(
        &a,
        "DELETE",
        "/admin/plugins/stamp",
        &keys.admin,
        &Value::Null,
    )
    .await;
    content(&again, 404, "F40400");

    let audit = content(
        &call(
            &a,
            "GET",
            "/admin/audit?size=100",
            &keys.reader,
            &Value::Null,
        )
        .await,
        200,
        "S10000",
    );
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["collection"] == "plugins")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["upload", "delete"], "{audit}");
    for node in [a, b, c] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_a_catalogue_that_api_keys_draw_on() {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(""), upstream)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;
    let admin = async |method: &str, path: &str, body: Value| {
        call(&gateway, method, path, &keys.admin, &body).await
    };

    let orphan = json!({"subject": "bot", "tenant": "acme"});
    let refused = content(
        &admin("POST", "/admin/api-keys", orphan.clone()).await,
        400,
        "F40000",
    );
    assert_eq!(refused["field"], "tenant", "{refused}");

    let created = content(
        &admin(
            "POST",
            "/admin/tenants",
            json!({"tenant_id": "acme", "name": "Acme Corp"}),
        )
        .await,
        201,
        "S10000",
    );
    assert_eq!(created["id"], "acme");
    assert!(is_timestamp(&created["created_at"]), "{created}");
    let duplicate = admin(
        "POST",
        "/admin/tenants",
        json!({"tenant_id": "acme", "name": "Again"}),
    );
    content(&duplicate.await, 409, "F40900");
    let bad = admin(
        "POST",
        "/admin/tenants",
        json!({"tenant_id": "a/b c", "name": "x"}),
    );
    assert_eq!(content(&bad.await, 400, "F40000")["field"], "tenant_id");

    let renamed = admin(
        "PUT",
        "/admin/tenants/acme",
        json!({"description": "the first"}),
    );
    let renamed = content(&renamed.await, 200, "S10000");
    assert_eq!(
        (renamed["name"].as_str(), renamed["description"].as_str()),
        (Some("Acme Corp"), Some("the first"))
    );
    assert_eq!(renamed["updated_fields"], json!(["description"]));
    let listed = content(
        &call(
            &gateway,
            "GET",
            "/admin/tenants",
            &keys.reader,
            &Value::Null,
        )
        .await,
        200,
        "S10000",
    );
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["tenants"][0]["tenant_id"], "acme");

    // A key of the tenant keeps it from being deleted until the key is revoked.
    let key = content(
        &admin("POST", "/admin/api-keys", orphan).await,
        201,
        "S10000",
    );
    assert_eq!(key["tenant"], "acme");
    let held = admin("DELETE", "/admin/tenants/acme", Value::Null).await;
    content(&held, 409, "F40900");
    let revoke = format!("/admin/api-keys/{}", key["id"].as_str().expect("key id"));
    content(&admin("DELETE", &revoke, Value::Null).await, 200, "S10000");
    content(
        &admin("DELETE", "/admin/tenants/acme", Value::Null).await,
        200,
        "S10000",
    );
    content(
        &admin("GET", "/admin/tenants/acme", Value::Null).await,
        404,
        "F40400",
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_can_move_to_its_own_listener() {
    let upstream = upstream().await;
    let moved = format!(
        "[server]\nadmin_listen = \"127.0.0.1:0\"\n{}\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"open\"\npath_pattern = \"/open/*\"\nservice_name = \"echo\"\nrequires_auth = false\n",
        config("")
    );
    let gateway = try_gateway(&moved, upstream).await.expect("gateway starts");
    let admin = gateway.admin_addr().expect("an admin listener");
    assert_ne!(admin, gateway.addr());
    let keys = keys(&gateway).await;
    let key = [("x-api-key", keys.admin.as_str())];

    let there = get(admin, "/admin/permissions", &key).await;
    content(&there, 200, "S10000");
    let here = get(gateway.addr(), "/admin/permissions", &key).await;
    assert_eq!(
        here.status, 404,
        "the main listener no longer routes the admin API"
    );
    assert_eq!(get(gateway.addr(), "/open/x", &[]).await.status, 200);
    assert_eq!(
        get(admin, "/open/x", &[]).await.status,
        404,
        "nor the admin listener the rest"
    );

    assert_eq!(get(admin, "/admin/openapi.json", &[]).await.status, 200);
    assert_eq!(
        get(gateway.addr(), "/admin/openapi.json", &[]).await.status,
        404
    );
    for addr in [admin, gateway.addr()] {
        assert_eq!(
            get(addr, "/health", &[]).await.status,
            200,
            "both answer health"
        );
    }
    gateway.stop().await;
}
