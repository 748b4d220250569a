//! Tenants end to end: a tenant's own policy plugin uploaded through the admin API and
//! run on its requests only (the `order-policy` example), per-tenant data, a tenant
//! whose plugin loops while another tenant's requests all succeed, and a tenant-wide
//! rate limit.

use std::time::{Duration, Instant};

use archway_tests::artifacts::{MISBEHAVE, ORDER_POLICY, STAMP_A, VISITS};
use archway_tests::{Reply, get, send, try_gateway, upstream};
use serde_json::{Value, json};

use crate::admin::{call, config, keys};

/// Places an order for `tenant` (claimed by header: the route does not authenticate).
async fn order(gateway: &archway::Running, tenant: &str, quantity: u32, price: u32) -> Reply {
    let body = json!({"quantity": quantity, "price": price}).to_string();
    let headers = [
        ("x-tenant-id", tenant),
        ("content-type", "application/json"),
    ];
    send(gateway.addr(), "POST", "/orders/new", &headers, body).await
}

/// `PUT /admin/tenants/{tenant}/plugins/{name}` with a component and the order rules.
async fn upload(gateway: &archway::Running, key: &str, path: &str, component: &[u8]) -> Reply {
    let headers = [("x-api-key", key), ("content-type", "application/wasm")];
    send(gateway.addr(), "PUT", path, &headers, component).await
}

/// The query that uploads the order rules `rules` with the body read.
fn with_rules(rules: &Value) -> String {
    let config: String = rules
        .to_string()
        .bytes()
        .map(|b| match b.is_ascii_alphanumeric() {
            true => char::from(b).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect();
    format!("read_body=true&config={config}")
}

fn content(reply: &Reply, status: u16) -> Value {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["content"].clone()
}

/// `HH:MM` of UTC now plus `hours`.
fn utc_in(hours: u64) -> String {
    let seconds = archway_tests::tokens::now() + hours * 3600;
    format!("{:02}:{:02}", seconds / 3600 % 24, seconds / 60 % 60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_uploaded_policy_runs_on_its_requests_only_and_tenants_keep_their_own_data() {
    let upstream = upstream().await;
    let text = format!(
        r#"{}
        [tenancy]
        header = "x-tenant-id"
        [[services]]
        name = "echo"
        url = "http://{{upstream}}"
        [[plugins]]
        name = "visits"
        path = "{VISITS}"
        capabilities = ["kv", "streams"]
        [[routes]]
        id = "orders"
        service_name = "echo"
        path_pattern = "/orders/*"
        method = "POST"
        requires_auth = false
        [[routes]]
        id = "visits"
        path_pattern = "/visits/{{page}}"
        method = "ANY"
        handler = "visits"
        requires_auth = false
        "#,
        config("")
    );
    let gateway = try_gateway(&text, upstream).await.expect("gateway starts");
    let keys = keys(&gateway).await;
    for tenant in ["acme", "globex"] {
        let created = json!({"tenant_id": tenant, "name": tenant});
        let reply = call(&gateway, "POST", "/admin/tenants", &keys.admin, &created).await;
        content(&reply, 201);
    }
    let component = std::fs::read(ORDER_POLICY).expect("order-policy built");
    let always_open = json!({
        "order_paths": ["/orders"], "open": "00:00", "close": "23:59",
        "weekdays_only": false, "max_notional": 1_000_000
    });
    let orders_path = "/admin/tenants/acme/plugins/orders";

    assert_eq!(
        order(&gateway, "acme", 2000, 1000).await.status,
        200,
        "no policy yet"
    );
    let path = format!("{orders_path}?{}", with_rules(&always_open));
    let uploaded = content(&upload(&gateway, &keys.admin, &path, &component).await, 200);
    assert_eq!(
        (uploaded["id"].as_str(), uploaded["tenant_id"].as_str()),
        (Some("acme/orders"), Some("acme"))
    );
    assert_eq!(uploaded["roles"], json!(["authorize"]));
    assert_eq!(uploaded["read_body"], true);
    assert_eq!(uploaded["capabilities"], json!(["log", "kv", "metrics"]));
    assert_eq!(uploaded["upload"]["size"], component.len());

    let over = order(&gateway, "acme", 2000, 1000).await;
    assert_eq!(over.status, 403, "{}", String::from_utf8_lossy(&over.body));
    assert_eq!(
        over.json()["msg"],
        "order notional 2000000 is over this tenant's maximum of 1000000"
    );
    assert_eq!(order(&gateway, "acme", 1000, 1000).await.status, 200);
    assert_eq!(
        order(&gateway, "globex", 2000, 1000).await.status,
        200,
        "another tenant on the same route is not acme's policy's business"
    );

    // A new version with the session closed now replaces the first.
    let closed = json!({
        "order_paths": ["/orders"], "open": utc_in(2), "close": utc_in(3),
        "weekdays_only": false, "max_notional": 1_000_000
    });
    let path = format!("{orders_path}?{}", with_rules(&closed));
    content(&upload(&gateway, &keys.admin, &path, &component).await, 200);
    let after_hours = order(&gateway, "acme", 1, 1).await;
    assert_eq!(after_hours.status, 403);
    let message = after_hours.json()["msg"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.starts_with("orders are accepted from"), "{message}");

    // What is refused leaves the serving version in place.
    let stamp = std::fs::read(STAMP_A).expect("stamp-a built");
    let not_a_policy = upload(&gateway, &keys.admin, orders_path, &stamp).await;
    let refused = content(&not_a_policy, 400);
    assert_eq!(refused["field"], "component", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("authorize")),
        "{refused}"
    );
    let bad_config = format!("{orders_path}?config=%7B%7D");
    let refused = content(
        &upload(&gateway, &keys.admin, &bad_config, &component).await,
        400,
    );
    assert_eq!(
        refused["field"], "component",
        "init fails without open/close: {refused}"
    );
    let unknown = "/admin/tenants/initech/plugins/orders";
    content(
        &upload(&gateway, &keys.admin, unknown, &component).await,
        404,
    );
    let forbidden = upload(&gateway, &keys.reader, orders_path, &component).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        order(&gateway, "acme", 1, 1).await.status,
        403,
        "the closed version serves"
    );

    let listed = call(
        &gateway,
        "GET",
        "/admin/tenants/acme/plugins",
        &keys.reader,
        &Value::Null,
    );
    let listed = content(&listed.await, 200);
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["plugins"][0]["name"], "orders");
    let other = call(
        &gateway,
        "GET",
        "/admin/tenants/globex/plugins",
        &keys.reader,
        &Value::Null,
    );
    assert_eq!(content(&other.await, 200)["total"], 0);
    let everyone = call(
        &gateway,
        "GET",
        "/admin/plugins",
        &keys.reader,
        &Value::Null,
    );
    let names = content(&everyone.await, 200)["plugins"].to_string();
    assert!(
        !names.contains("acme/orders"),
        "tenant plugins are listed per tenant: {names}"
    );
    let busy = call(
        &gateway,
        "DELETE",
        "/admin/tenants/acme",
        &keys.admin,
        &Value::Null,
    );
    content(&busy.await, 409);

    let removed = call(&gateway, "DELETE", orders_path, &keys.admin, &Value::Null).await;
    assert_eq!(content(&removed, 200)["id"], "acme/orders");
    assert_eq!(
        order(&gateway, "acme", 2000, 1000).await.status,
        200,
        "no policy again"
    );

    // A plugin shared by the route keeps each tenant's data apart.
    let visit = async |tenant: Option<&str>| {
        let headers: Vec<(&str, &str)> = tenant.map(|t| ("x-tenant-id", t)).into_iter().collect();
        let reply = send(gateway.addr(), "POST", "/visits/home", &headers, "").await;
        reply.json()["visits"].as_i64().expect("a count")
    };
    assert_eq!(visit(Some("acme")).await, 1);
    assert_eq!(visit(Some("acme")).await, 2);
    assert_eq!(visit(Some("globex")).await, 1);
    assert_eq!(visit(None).await, 1);
    let bad = send(
        gateway.addr(),
        "POST",
        "/visits/home",
        &[("x-tenant-id", "a b")],
        "",
    )
    .await;
    assert_eq!(bad.status, 400);
    gateway.stop().await;
}

/// The 99th percentile of `latencies`.
fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort();
    latencies[(latencies.len() * 99).div_ceil(100).saturating_sub(1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_plugin_loops_holds_only_its_own_share() {
    let upstream = upstream().await;
    let text = format!(
        r#"
        [log]
        access_log = false
        [tenancy]
        header = "x-tenant-id"
        [[tenants]]
        id = "hog"
        max_concurrent_calls = 2
        timeout_ms = 100
        [[tenants.plugins]]
        name = "spin"
        path = "{MISBEHAVE}"
        config = {{ mode = "loop" }}
        [[tenants]]
        id = "calm"
        [[tenants.plugins]]
        name = "fine"
        path = "{MISBEHAVE}"
        config = {{ mode = "ok" }}
        [[tenants]]
        id = "metered"
        rate_limit_rpm = 3
        [[services]]
        name = "echo"
        url = "http://{{upstream}}"
        [[routes]]
        id = "work"
        service_name = "echo"
        path_pattern = "/work/*"
        requires_auth = false
        timeout_seconds = 2
        [[routes]]
        id = "other"
        service_name = "echo"
        path_pattern = "/other/*"
        requires_auth = false
        "#
    );
    let gateway = try_gateway(&text, upstream).await.expect("gateway starts");
    let addr = gateway.addr();
    let timed = async move |tenant: &'static str| {
        let started = Instant::now();
        let reply = get(addr, "/work/x", &[("x-tenant-id", tenant)]).await;
        (reply.status, started.elapsed())
    };

    // Eight clients of the looping tenant keep its two slots full...
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hogs: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    seen.push(timed("hog").await);
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...while every request of the other tenant succeeds.
    let mut calm = Vec::new();
    for _ in 0..200 {
        let (status, took) = timed("calm").await;
        assert_eq!(status, 200, "the calm tenant's request failed");
        calm.push(took);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut hog = Vec::new();
    for task in hogs {
        hog.extend(task.await.expect("hog client"));
    }
    assert!(!hog.is_empty());
    for (status, _) in &hog {
        assert!(
            matches!(status, 500 | 504),
            "the looping tenant's requests fail: {status}"
        );
    }
    let mut hog: Vec<Duration> = hog.into_iter().map(|(_, took)| took).collect();
    let (calm_p99, hog_p99) = (p99(&mut calm), p99(&mut hog));
    eprintln!(
        "tenant isolation: calm p99 {calm_p99:?} over {} requests, all 200; hog p99 {hog_p99:?} over {} requests, all failed",
        calm.len(),
        hog.len()
    );

    // The tenant-wide budget counts every route.
    let metered = [("x-tenant-id", "metered")];
    for path in ["/work/a", "/other/b", "/work/c"] {
        assert_eq!(get(addr, path, &metered).await.status, 200);
    }
    let limited = get(addr, "/other/d", &metered).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(
        get(addr, "/other/d", &[("x-tenant-id", "calm")])
            .await
            .status,
        200
    );
    gateway.stop().await;
}
