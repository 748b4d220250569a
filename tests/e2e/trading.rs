//! The trading-control API end to end: the built-in `trading-control` plugin behind JWT
//! and API-key authentication, with the `trading-sim` example plugin playing the
//! backend, on the embedded store and on Redis; a backend in Python on a plain Redis
//! client; the contract's errors, rate limits, CORS and health.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use archway::keys::{KeyStore, NewKey};
use archway_store::testing::RedisServer;
use archway_tests::artifacts::TRADING_SIM;
use archway_tests::tokens::{key_file, now, sign, signing_key};
use archway_tests::{Reply, send, try_gateway, upstream};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

const APP: &str = "http://localhost:3000";

/// A gateway serving the trading API on `/api/*`; with `simulate`, the simulator plays
/// the backend (ticking every 100 ms, recording every second, an alert each time).
fn config(store: &str, simulate: bool) -> String {
    let sim = match simulate {
        true => format!(
            r#"
            [[plugins]]
            name = "sim"
            path = "{TRADING_SIM}"
            capabilities = ["kv", "streams"]
            share = ["trading"]
            tick_interval_ms = 100
            timeout_ms = 1000
            [plugins.config]
            record_every_seconds = 1
            alert_chance = 1.0
            "#
        ),
        false => String::new(),
    };
    format!(
        r#"
        [log]
        access_log = false
        {store}

        [jwt.key_sets.test]
        algorithms = ["HS256"]
        secret_file = "{secret}"

        [[plugins]]
        name = "jwt"
        builtin = "jwt-auth"
        capabilities = ["jwt", "log"]
        key_sets = ["test"]
        [plugins.config]
        key_set = "test"

        [[plugins]]
        name = "api-keys"
        builtin = "api-key-auth"
        capabilities = ["kv"]
        share = ["api-keys"]

        [[plugins]]
        name = "trading"
        builtin = "trading-control"
        capabilities = ["kv", "streams", "log"]
        share = ["trading"]
        timeout_ms = 1000
        [plugins.config]
        heartbeat_timeout_seconds = 2
        {sim}

        [roles]
        reader = ["trading.read"]
        trader = ["trading.read", "trading.write"]
        ops = ["trading.admin"]

        [[routes]]
        id = "trading"
        path_pattern = "/api/*"
        handler = "trading"
        authenticate = ["jwt", "api-keys"]
        error_format = "trading"
        rate_limit_anonymous_rpm = 100

        [cors]
        allowed_origins = ["{APP}", "https://yourdomain.com"]

        [error_formats]
        "/api/" = "trading"
        "#,
        secret = key_file("hmac.secret").display(),
    )
}

/// A credential header.
#[derive(Clone)]
struct Credential(&'static str, String);

fn token(subject: &str, role: &str) -> Credential {
    let claims = json!({ "sub": subject, "roles": [role], "exp": now() + 600 });
    let token = sign(Algorithm::HS256, None, &signing_key("hmac.secret"), &claims);
    Credential("authorization", format!("Bearer {token}"))
}

async fn api_key(gateway: &archway::Running, subject: &str, role: &str) -> Credential {
    let store = KeyStore::new(gateway.state().store().clone(), "api-keys");
    let new = NewKey {
        roles: vec![role.to_owned()],
        ..NewKey::for_subject(subject)
    };
    Credential("x-api-key", store.create(&new).await.expect("key").key)
}

async fn call(addr: SocketAddr, method: &str, path: &str, who: &Credential, body: &Value) -> Reply {
    let body = match body {
        Value::Null => String::new(),
        body => body.to_string(),
    };
    let headers = [
        (who.0, who.1.as_str()),
        ("content-type", "application/json"),
    ];
    send(addr, method, path, &headers, &body).await
}

async fn get(addr: SocketAddr, path: &str, who: &Credential) -> Value {
    let reply = call(addr, "GET", path, who, &Value::Null).await;
    assert_eq!(
        reply.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// Asks `path` until `done` holds for its answer, at most 10 s.
async fn until(
    addr: SocketAddr,
    path: &str,
    who: &Credential,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let since = Instant::now();
    loop {
        let body = get(addr, path, who).await;
        if done(&body) {
            return body;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{path} never got there: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_rfc3339(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T'
}

fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

/// The contract's error shape with `status` and `code`.
fn assert_error(reply: &Reply, status: u16, code: &str) -> Value {
    let body = reply.json();
    assert_eq!(
        (reply.status, body["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert_eq!(body["error"], true);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["details"].is_object(), "{body}");
    assert!(is_rfc3339(&body["timestamp"]), "{body}");
    body
}

/// Engine, portfolio, reload, plan and migration for one user's credential.
async fn trade(addr: SocketAddr, user: &Credential, admin: &Credential, engine: &str) {
    // Start an engine: the simulator brings it up.
    let start = json!({ "engine_id": engine, "config": { "broker_type": "simulation", "broker_config": {} } });
    let reply = call(addr, "POST", "/api/engine/live/start", user, &start).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({ "success": true, "engine_id": engine, "status": "starting", "message": "Engine start command sent" })
    );
    let path = format!("/api/engine/live/{engine}/status");
    let status = until(addr, &path, user, |b| {
        b["status"] == "running" && !b["last_heartbeat"].is_null()
    })
    .await;
    assert_eq!(
        keys_of(&status),
        [
            "engine_id",
            "last_heartbeat",
            "portfolio_count",
            "status",
            "uptime"
        ]
    );
    assert_eq!(status["engine_id"], engine);
    assert!(
        status["uptime"].is_u64() && status["portfolio_count"].is_u64(),
        "{status}"
    );
    assert!(is_rfc3339(&status["last_heartbeat"]), "{status}");

    // Create a portfolio: the simulator places it on a node and trades.
    let create = json!({
        "name": "My Trading Portfolio",
        "initial_cash": 100000.00,
        "config": {
            "strategy": { "strategy_id": "strategy_uuid", "name": "TrendFollowStrategy",
                          "params": { "short_period": 5, "long_period": 20 } },
            "risk_managements": [{ "risk_id": "risk_uuid", "name": "PositionRatioRisk",
                                   "params": { "max_position_ratio": 0.2 } }],
            "sizer": { "sizer_id": "sizer_uuid", "name": "FixedAmountSizer", "params": { "amount": 10000 } }
        }
    });
    let reply = call(addr, "POST", "/api/portfolio", user, &create).await;
    let created = reply.json();
    assert_eq!(reply.status, 201, "{created}");
    assert_eq!(
        keys_of(&created),
        ["message", "portfolio_id", "status", "success"]
    );
    assert_eq!(
        (created["success"].as_bool(), created["status"].as_str()),
        (Some(true), Some("created"))
    );
    assert_eq!(created["message"], "Portfolio created successfully");
    let id = created["portfolio_id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let path = format!("/api/portfolio/{id}/status");
    let view = until(addr, &path, user, |b| b["status"] == "running").await;
    assert_eq!(
        keys_of(&view),
        [
            "cash",
            "name",
            "node_id",
            "portfolio_id",
            "position_count",
            "status",
            "total_value",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(view["name"], "My Trading Portfolio");
    assert!(
        view["cash"]
            .as_f64()
            .is_some_and(|c| c > 0.0 && c < 100_000.0),
        "{view}"
    );
    assert!(
        view["total_value"].is_number() && is_rfc3339(&view["updated_at"]),
        "{view}"
    );
    assert_eq!(view["position_count"], 3);
    let node = view["node_id"]
        .as_str()
        .expect("placed on a node")
        .to_owned();

    let positions = get(addr, &format!("/api/portfolio/{id}/positions"), user).await;
    assert_eq!(
        keys_of(&positions),
        ["portfolio_id", "positions", "total_count"]
    );
    assert_eq!(positions["total_count"], 3);
    let first = &positions["positions"][0];
    assert_eq!(
        keys_of(first),
        [
            "available_volume",
            "code",
            "cost_price",
            "current_price",
            "direction",
            "market_value",
            "profit_loss",
            "profit_loss_ratio",
            "volume"
        ]
    );
    let code = first["code"].as_str().expect("a code").to_owned();
    let one = get(
        addr,
        &format!("/api/portfolio/{id}/positions?code={code}"),
        user,
    )
    .await;
    assert_eq!(
        (
            one["total_count"].as_u64(),
            one["positions"][0]["code"].as_str()
        ),
        (Some(1), Some(code.as_str()))
    );
    let page = get(
        addr,
        &format!("/api/portfolio/{id}/positions?limit=1"),
        user,
    )
    .await;
    assert_eq!(
        (
            page["positions"].as_array().map(Vec::len),
            page["total_count"].as_u64()
        ),
        (Some(1), Some(3))
    );
    // Prices move.
    let price = first["current_price"].clone();
    until(
        addr,
        &format!("/api/portfolio/{id}/positions?code={code}"),
        user,
        |b| b["positions"][0]["current_price"] != price,
    )
    .await;

    let today = &view["updated_at"].as_str().expect("a time")[..10];
    let history = until(
        addr,
        &format!("/api/portfolio/{id}/history?start_date={today}&end_date={today}"),
        user,
        |b| b["total_count"].as_u64() >= Some(1),
    )
    .await;
    assert_eq!(
        keys_of(&history),
        ["history", "portfolio_id", "total_count"]
    );
    let entry = &history["history"][0];
    assert_eq!(
        keys_of(entry),
        [
            "cash",
            "daily_pnl",
            "position_count",
            "timestamp",
            "total_value"
        ]
    );
    assert!(
        is_rfc3339(&entry["timestamp"]) && entry["total_value"].is_number(),
        "{entry}"
    );

    // Update: reloading, then running again.
    let change = json!({ "name": "My Trading Portfolio v2", "config": { "strategy": {
        "strategy_id": "strategy_uuid", "name": "TrendFollowStrategy",
        "params": { "short_period": 10, "long_period": 30 } } } });
    let reply = call(addr, "PUT", &format!("/api/portfolio/{id}"), user, &change).await;
    let updated = reply.json();
    assert_eq!(reply.status, 200, "{updated}");
    assert_eq!(
        keys_of(&updated),
        ["message", "portfolio_id", "status", "success", "updated_at"]
    );
    assert_eq!(
        (updated["status"].as_str(), updated["portfolio_id"].as_str()),
        (Some("reloading"), Some(id.as_str()))
    );
    assert!(is_rfc3339(&updated["updated_at"]));
    let view = until(addr, &path, user, |b| b["status"] == "running").await;
    assert_eq!(view["name"], "My Trading Portfolio v2");

    // The plan lists it on its node.
    let plan = get(addr, "/api/schedule/plan", user).await;
    assert_eq!(keys_of(&plan), ["plans", "total_nodes", "total_portfolios"]);
    let entry = plan["plans"]
        .as_array()
        .and_then(|plans| plans.iter().find(|p| p["node_id"] == node.as_str()))
        .expect("its node is planned");
    assert_eq!(
        keys_of(entry),
        ["node_id", "portfolio_count", "portfolio_ids"]
    );
    assert!(
        entry["portfolio_ids"]
            .as_array()
            .is_some_and(|ids| ids.contains(&json!(id)))
    );

    // Migrate it to the other node.
    let target = if node == "execution_node_001" {
        "execution_node_002"
    } else {
        "execution_node_001"
    };
    let migrate = json!({ "portfolio_id": id, "source_node": node, "target_node": target });
    let reply = call(addr, "POST", "/api/schedule/migrate", user, &migrate).await;
    assert_error(&reply, 403, "FORBIDDEN");
    let reply = call(addr, "POST", "/api/schedule/migrate", admin, &migrate).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({ "success": true, "portfolio_id": id, "status": "migrating", "source_node": node,
                "target_node": target, "estimated_time": 30 })
    );
    until(addr, &path, user, |b| {
        b["status"] == "running" && b["node_id"] == target
    })
    .await;

    // Stop the engine.
    let reply = call(
        addr,
        "POST",
        "/api/engine/live/stop",
        user,
        &json!({ "engine_id": engine }),
    )
    .await;
    assert_eq!(reply.json()["status"], "stopping");
    until(
        addr,
        &format!("/api/engine/live/{engine}/status"),
        user,
        |b| b["status"] == "stopped",
    )
    .await;
}

/// Nodes, disabling one with its portfolios migrated, health, metrics and alerts.
async fn operate(addr: SocketAddr, admin: &Credential) {
    let nodes = get(addr, "/api/nodes", admin).await;
    assert_eq!(keys_of(&nodes), ["nodes", "total_count"]);
    assert_eq!(nodes["total_count"], 2);
    let node = &nodes["nodes"][0];
    assert_eq!(
        keys_of(node),
        [
            "host",
            "last_heartbeat",
            "node_id",
            "port",
            "portfolio_count",
            "status"
        ]
    );
    assert_eq!(
        (node["node_id"].as_str(), node["status"].as_str()),
        (Some("execution_node_001"), Some("active"))
    );
    assert_eq!(
        (node["host"].as_str(), node["port"].as_u64()),
        (Some("192.168.1.10"), Some(8001))
    );
    assert!(is_rfc3339(&node["last_heartbeat"]));

    // The user loops moved their portfolios to node 2; a new one goes to node 1, the
    // least loaded, and node 1 is then disabled.
    let create = json!({ "name": "ops", "initial_cash": 5000, "config": { "strategy": { "name": "Hold" } } });
    let reply = call(addr, "POST", "/api/portfolio", admin, &create).await;
    assert_eq!(reply.status, 201);
    let path = format!(
        "/api/portfolio/{}/status",
        reply.json()["portfolio_id"].as_str().expect("id")
    );
    until(addr, &path, admin, |b| b["node_id"] == "execution_node_001").await;
    let detail = get(addr, "/api/nodes/execution_node_001", admin).await;
    assert_eq!(
        keys_of(&detail),
        [
            "host",
            "last_heartbeat",
            "node_id",
            "port",
            "portfolio_count",
            "portfolios",
            "status",
            "uptime"
        ]
    );
    let on_node: Vec<Value> = detail["portfolios"].as_array().cloned().unwrap_or_default();
    assert!(!on_node.is_empty(), "{detail}");
    assert_eq!(
        keys_of(&on_node[0]),
        ["interest_count", "portfolio_id", "status"]
    );
    let disable = json!({ "reason": "Maintenance", "migrate_portfolios": true });
    let reply = call(
        addr,
        "POST",
        "/api/nodes/execution_node_001/disable",
        admin,
        &disable,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({ "success": true, "node_id": "execution_node_001", "status": "disabled",
                "portfolio_migration_started": true,
                "message": "Node disabled, portfolios are being migrated" })
    );
    let detail = until(addr, "/api/nodes/execution_node_001", admin, |b| {
        b["portfolio_count"] == 0
    })
    .await;
    assert_eq!(detail["status"], "disabled");
    for moved in on_node {
        let path = format!(
            "/api/portfolio/{}/status",
            moved["portfolio_id"].as_str().expect("id")
        );
        until(addr, &path, admin, |b| {
            b["node_id"] == "execution_node_002" && b["status"] == "running"
        })
        .await;
    }

    let health = get(addr, "/api/health", admin).await;
    assert_eq!(keys_of(&health), ["components", "status", "timestamp"]);
    assert_eq!(health["status"], "healthy");
    assert_eq!(
        health["components"],
        json!({ "api_gateway": "healthy",
                "livecore": { "data": "healthy", "trade_gateway": "healthy", "live_engine": "healthy", "scheduler": "healthy" },
                "kafka": "healthy", "redis": "healthy", "mysql": "healthy", "clickhouse": "healthy" })
    );

    let window = format!("start_time={}&end_time={}", now() - 3600, now() + 60);
    let metrics = get(
        addr,
        &format!("/api/metrics?component=execution_node_002&{window}"),
        admin,
    )
    .await;
    assert_eq!(keys_of(&metrics), ["metrics", "total_count"]);
    let metric = &metrics["metrics"][0];
    assert_eq!(
        keys_of(metric),
        ["component", "metric_name", "timestamp", "value"]
    );
    assert_eq!(metric["component"], "execution_node_002");
    assert!(
        metric["value"].is_number() && is_rfc3339(&metric["timestamp"]),
        "{metric}"
    );

    let alerts = get(
        addr,
        &format!("/api/alerts?source=execution_node_002&limit=2&{window}"),
        admin,
    )
    .await;
    assert_eq!(keys_of(&alerts), ["alerts", "total_count"]);
    assert!(alerts["total_count"].as_u64() >= Some(1), "{alerts}");
    assert!(alerts["alerts"].as_array().is_some_and(|a| a.len() <= 2));
    let alert = &alerts["alerts"][0];
    assert_eq!(
        keys_of(alert),
        [
            "alert_id",
            "alert_type",
            "details",
            "message",
            "severity",
            "source",
            "timestamp"
        ]
    );
    assert_eq!(
        (alert["alert_type"].as_str(), alert["source"].as_str()),
        (Some("queue_full"), Some("execution_node_002"))
    );
    assert!(alert["details"]["queue_max"].is_number(), "{alert}");
    let severity = alert["severity"].as_str().expect("a severity");
    let filtered = get(
        addr,
        &format!("/api/alerts?severity={severity}&{window}"),
        admin,
    )
    .await;
    assert!(
        filtered["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|a| a["severity"] == severity)
    );
}

async fn the_full_loop_runs_against_the_simulator(store: &str) {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(store, true), upstream)
        .await
        .expect("gateway starts");
    let addr = gateway.addr();
    let admin = token("ops", "ops");
    trade(addr, &token("alice", "trader"), &admin, "live_engine_jwt").await;
    trade(
        addr,
        &api_key(&gateway, "bob", "trader").await,
        &admin,
        "live_engine_key",
    )
    .await;
    operate(addr, &api_key(&gateway, "ops-key", "ops").await).await;
    gateway.stop().await;
}

/// Runs the async fn `$test(store)` as two tests: `$test::embedded` on the embedded store
/// and `$test::redis` on a real redis-server.
macro_rules! on_both_stores {
    ($test:ident) => {
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$test("").await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let redis = archway_store::testing::RedisServer::running();
                super::$test(&format!("[store]\nredis_url = \"{}\"\n", redis.url())).await;
            }
        }
    };
}

on_both_stores!(the_full_loop_runs_against_the_simulator);
on_both_stores!(bad_input_unknown_ids_and_missing_rights_answer_in_the_trading_format);
on_both_stores!(the_contract_rate_limits_and_cors_rules_hold);
on_both_stores!(health_turns_unhealthy_when_a_components_heartbeats_stop);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_on_a_plain_redis_client_takes_commands_and_reports_back() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let gateway = try_gateway(&config(&store, false), upstream)
        .await
        .expect("gateway starts");
    let addr = gateway.addr();
    let user = token("alice", "trader");
    let start = json!({ "engine_id": "py_engine", "config": { "broker_type": "real_broker", "broker_config": { "account": "A-1" } } });
    let reply = call(addr, "POST", "/api/engine/live/start", &user, &start).await;
    assert_eq!(reply.json()["status"], "starting");

    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/trading_backend.py");
    let mut command = std::process::Command::new("python3");
    command.arg(&script).arg(redis.url()).arg("py_engine");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the backend thread")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let handled: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(
        handled["config"],
        json!({ "broker_type": "real_broker", "broker_config": { "account": "A-1" } })
    );
    assert_eq!(
        handled["handled"].as_str().map(str::len),
        Some(36),
        "the command's id"
    );

    let status = get(addr, "/api/engine/live/py_engine/status", &user).await;
    assert_eq!(status["status"], "running");
    assert!(is_rfc3339(&status["last_heartbeat"]), "{status}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_idempotency_key_returns_the_first_answer_on_any_node() {
    let redis = RedisServer::running();
    let upstream = upstream().await;
    let store = format!("[store]\nredis_url = \"{}\"\n", redis.url());
    let a = try_gateway(&config(&store, false), upstream)
        .await
        .expect("node A starts");
    let b = try_gateway(&config(&store, false), upstream)
        .await
        .expect("node B starts");
    let user = token("alice", "trader");
    let create = json!({ "name": "once", "initial_cash": 1000, "config": { "strategy": { "name": "Hold" } } }).to_string();
    let post = async |addr, key: &str| {
        let headers = [(user.0, user.1.as_str()), ("idempotency-key", key)];
        send(addr, "POST", "/api/portfolio", &headers, &create).await
    };
    let first = post(a.addr(), "order-1").await;
    let again = post(b.addr(), "order-1").await;
    assert_eq!(first.status, 201);
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let commands = || redis.cli(["XLEN", "archway:stream:shared/trading/commands"]);
    assert_eq!(commands().trim(), "1", "one command sent");
    let other = post(b.addr(), "order-2").await;
    assert_eq!(other.status, 201);
    assert_ne!(other.json()["portfolio_id"], first.json()["portfolio_id"]);
    assert_eq!(commands().trim(), "2");
    a.stop().await;
    b.stop().await;
}

async fn bad_input_unknown_ids_and_missing_rights_answer_in_the_trading_format(store: &str) {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(store, false), upstream)
        .await
        .expect("gateway starts");
    let addr = gateway.addr();
    let (trader, reader, admin) = (
        token("alice", "trader"),
        token("carol", "reader"),
        token("ops", "ops"),
    );

    // Authentication and permissions.
    let anonymous = send(addr, "GET", "/api/nodes", &[], "").await;
    assert_error(&anonymous, 401, "UNAUTHORIZED");
    let forged = Credential("authorization", format!("{}x", trader.1));
    assert_error(
        &call(addr, "GET", "/api/nodes", &forged, &Value::Null).await,
        401,
        "UNAUTHORIZED",
    );
    let portfolio =
        json!({ "name": "p", "initial_cash": 10, "config": { "strategy": { "name": "Hold" } } });
    let refused = call(addr, "POST", "/api/portfolio", &reader, &portfolio).await;
    let body = assert_error(&refused, 403, "FORBIDDEN");
    assert_eq!(body["details"]["required_permission"], "trading.write");
    let disable = call(addr, "POST", "/api/nodes/n1/disable", &trader, &json!({})).await;
    assert_error(&disable, 403, "FORBIDDEN");

    // Each rule: (method, path, who, body, the field named, the value named).
    let window = "start_time=1767520800&end_time=2026-01-04T11:00:00Z";
    let cases: Vec<(&str, String, &Credential, Value, &str, Value)> = vec![
        (
            "POST",
            "/api/portfolio".into(),
            &trader,
            json!({ "name": "p", "initial_cash": -1000, "config": { "strategy": { "name": "Hold" } } }),
            "initial_cash",
            json!(-1000.0),
        ),
        (
            "POST",
            "/api/portfolio".into(),
            &trader,
            json!({ "initial_cash": 10, "config": { "strategy": { "name": "Hold" } } }),
            "name",
            Value::Null,
        ),
        (
            "POST",
            "/api/portfolio".into(),
            &trader,
            json!({ "name": "p", "initial_cash": 10, "config": { "strategy": { "name": "" } } }),
            "config.strategy.name",
            json!(""),
        ),
        (
            "POST",
            "/api/engine/live/start".into(),
            &trader,
            json!({ "engine_id": "e1", "config": { "broker_type": "paper" } }),
            "config.broker_type",
            json!("paper"),
        ),
        (
            "POST",
            "/api/engine/live/start".into(),
            &trader,
            json!({}),
            "engine_id",
            Value::Null,
        ),
        (
            "GET",
            format!("/api/alerts?{window}&limit=1001"),
            &reader,
            Value::Null,
            "limit",
            json!("1001"),
        ),
        (
            "GET",
            format!("/api/alerts?{window}&severity=fatal"),
            &reader,
            Value::Null,
            "severity",
            json!("fatal"),
        ),
        (
            "GET",
            "/api/metrics?end_time=1767520800".into(),
            &reader,
            Value::Null,
            "start_time",
            Value::Null,
        ),
        (
            "GET",
            "/api/metrics?start_time=yesterday&end_time=1767520800".into(),
            &reader,
            Value::Null,
            "start_time",
            json!("yesterday"),
        ),
        (
            "GET",
            "/api/metrics?start_time=1767520800&end_time=1767520000".into(),
            &reader,
            Value::Null,
            "end_time",
            json!("1767520000"),
        ),
        (
            "GET",
            "/api/portfolio/p1/history?start_date=2026-01-04".into(),
            &reader,
            Value::Null,
            "end_date",
            Value::Null,
        ),
        (
            "GET",
            "/api/portfolio/p1/history?start_date=2026-13-01&end_date=2026-01-04".into(),
            &reader,
            Value::Null,
            "start_date",
            json!("2026-13-01"),
        ),
        (
            "GET",
            "/api/nodes?limit=0".into(),
            &reader,
            Value::Null,
            "limit",
            json!("0"),
        ),
        (
            "POST",
            "/api/schedule/migrate".into(),
            &admin,
            json!({ "portfolio_id": "p1", "source_node": "n1" }),
            "target_node",
            Value::Null,
        ),
        (
            "POST",
            "/api/nodes/n1/disable".into(),
            &admin,
            json!({ "migrate_portfolios": "yes" }),
            "migrate_portfolios",
            json!("yes"),
        ),
    ];
    for (method, path, who, body, field, value) in cases {
        let reply = call(addr, method, &path, who, &body).await;
        let error = assert_error(&reply, 400, "INVALID_PARAMETER");
        assert_eq!(
            error["details"],
            json!({ "field": field, "value": value }),
            "{method} {path}"
        );
    }

    for path in [
        "/api/portfolio/nope/status",
        "/api/engine/live/nope/status",
        "/api/nodes/nope",
        "/api/nothing",
    ] {
        assert_error(
            &call(addr, "GET", path, &reader, &Value::Null).await,
            404,
            "NOT_FOUND",
        );
    }
    gateway.stop().await;
}

async fn the_contract_rate_limits_and_cors_rules_hold(store: &str) {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(store, false), upstream)
        .await
        .expect("gateway starts");
    let addr = gateway.addr();

    // 100 a minute per address without credentials, then 429 with the budget's headers.
    for _ in 0..100 {
        assert_eq!(send(addr, "GET", "/api/nodes", &[], "").await.status, 401);
    }
    let limited = send(addr, "GET", "/api/nodes", &[], "").await;
    assert_error(&limited, 429, "RATE_LIMITED");
    assert_eq!(limited.header("x-ratelimit-limit"), Some("100"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        limited
            .header("x-ratelimit-reset")
            .and_then(|r| r.parse::<u64>().ok())
            > Some(now())
    );
    assert!(limited.header("retry-after").is_some());

    // 1000 a minute per user, from the same address.
    let reader = token("carol", "reader");
    let spend = (0..4).map(|_| {
        let reader = reader.clone();
        tokio::spawn(async move {
            for _ in 0..250 {
                let reply = call(addr, "GET", "/api/nodes", &reader, &Value::Null).await;
                assert_eq!(reply.status, 200, "within the user's 1000");
            }
        })
    });
    for task in spend.collect::<Vec<_>>() {
        task.await.expect("spent");
    }
    let limited = call(addr, "GET", "/api/nodes", &reader, &Value::Null).await;
    assert_error(&limited, 429, "RATE_LIMITED");
    assert_eq!(limited.header("x-ratelimit-limit"), Some("1000"));

    // A browser's preflight from the contract's origin, and from another one.
    let preflight = |origin: &'static str| {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type, x-api-key",
            ),
        ];
        async move { send(addr, "OPTIONS", "/api/portfolio", &headers, "").await }
    };
    let allowed = preflight(APP).await;
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        allowed.header("access-control-allow-methods"),
        Some("GET, POST, PUT, DELETE, OPTIONS")
    );
    assert_eq!(
        allowed.header("access-control-allow-headers"),
        Some("authorization, content-type, x-api-key")
    );
    let refused = preflight("https://evil.example").await;
    assert_error(&refused, 403, "FORBIDDEN");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    gateway.stop().await;
}

async fn health_turns_unhealthy_when_a_components_heartbeats_stop(store: &str) {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(store, false), upstream)
        .await
        .expect("gateway starts");
    let addr = gateway.addr();
    let reader = token("carol", "reader");
    let store = gateway.state().store().clone();
    let beat = async |components: &[&str]| {
        let millis = now() * 1000;
        for component in components {
            let key = format!("shared/trading/heartbeats/{component}");
            store
                .set(&key, millis.to_string().as_bytes(), None)
                .await
                .expect("heartbeat");
        }
    };
    let all = [
        "livecore/data",
        "livecore/trade_gateway",
        "livecore/live_engine",
        "livecore/scheduler",
        "kafka",
        "mysql",
        "clickhouse",
    ];
    beat(&all).await;
    let health = call(addr, "GET", "/api/health", &reader, &Value::Null).await;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (200, Some("healthy"))
    );

    // Every component but kafka keeps beating; after the 2 s timeout kafka is unhealthy.
    let since = Instant::now();
    let health = loop {
        beat(&all[..4]).await;
        beat(&all[5..]).await;
        let reply = call(addr, "GET", "/api/health", &reader, &Value::Null).await;
        if reply.status == 503 {
            break reply.json();
        }
        assert!(since.elapsed() < Duration::from_secs(6), "still healthy");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        since.elapsed() >= Duration::from_millis(500),
        "not before the heartbeat aged"
    );
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["components"]["kafka"], "unhealthy");
    assert_eq!(health["components"]["mysql"], "healthy");
    assert_eq!(health["components"]["livecore"]["data"], "healthy");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_trading_api_and_describes_its_answers() {
    let upstream = upstream().await;
    let admin = "[[plugins]]\nname = \"admin\"\nbuiltin = \"admin\"\ncapabilities = [\"admin\"]\n\
                 [[routes]]\nid = \"admin\"\npath_pattern = \"/admin/*\"\nhandler = \"admin\"\n\
                 authenticate = [\"jwt\"]\n";
    let gateway = try_gateway(&format!("{}{admin}", config("", true)), upstream)
        .await
        .expect("gateway starts");
    let addr = gateway.addr();
    let (trader, ops) = (token("alice", "trader"), token("ops", "ops"));

    let mut answers = Vec::new();
    let mut record =
        async |method: &str, path: &str, template: &str, who: &Credential, body: Value| {
            let reply = call(addr, method, path, who, &body).await;
            answers.push(json!([method, template, reply.status, reply.json()]));
            reply.json()
        };
    let start = json!({ "engine_id": "e1", "config": { "broker_type": "simulation" } });
    record(
        "POST",
        "/api/engine/live/start",
        "/api/engine/live/start",
        &trader,
        start,
    )
    .await;
    let create =
        json!({ "name": "p", "initial_cash": 1000, "config": { "strategy": { "name": "Hold" } } });
    let id =
        record("POST", "/api/portfolio", "/api/portfolio", &trader, create).await["portfolio_id"]
            .as_str()
            .expect("id")
            .to_owned();
    until(addr, &format!("/api/portfolio/{id}/status"), &trader, |b| {
        b["status"] == "running"
    })
    .await;
    until(
        addr,
        &format!("/api/portfolio/{id}/history?start_date=2000-01-01&end_date=2100-01-01"),
        &trader,
        |b| b["total_count"].as_u64() >= Some(1),
    )
    .await;
    let window = format!("start_time=0&end_time={}", now() + 60);
    for (path, template) in [
        (
            "/api/engine/live/e1/status".to_owned(),
            "/api/engine/live/{engine_id}/status",
        ),
        (
            format!("/api/portfolio/{id}/status"),
            "/api/portfolio/{portfolio_id}/status",
        ),
        (
            format!("/api/portfolio/{id}/positions"),
            "/api/portfolio/{portfolio_id}/positions",
        ),
        (
            format!("/api/portfolio/{id}/history?start_date=2000-01-01&end_date=2100-01-01"),
            "/api/portfolio/{portfolio_id}/history",
        ),
        ("/api/portfolio".to_owned(), "/api/portfolio"),
        ("/api/schedule/plan".to_owned(), "/api/schedule/plan"),
        ("/api/nodes".to_owned(), "/api/nodes"),
        (
            "/api/nodes/execution_node_001".to_owned(),
            "/api/nodes/{node_id}",
        ),
        ("/api/health".to_owned(), "/api/health"),
        (format!("/api/metrics?{window}"), "/api/metrics"),
        (format!("/api/alerts?{window}"), "/api/alerts"),
        ("/api/metrics".to_owned(), "/api/metrics"),
        (
            "/api/portfolio/nope/status".to_owned(),
            "/api/portfolio/{portfolio_id}/status",
        ),
    ] {
        record("GET", &path, template, &trader, Value::Null).await;
    }
    let change = json!({ "name": "p2" });
    record(
        "PUT",
        &format!("/api/portfolio/{id}"),
        "/api/portfolio/{portfolio_id}",
        &trader,
        change,
    )
    .await;
    record(
        "POST",
        "/api/schedule/migrate",
        "/api/schedule/migrate",
        &trader,
        json!({}),
    )
    .await;
    let disable = json!({ "reason": "test", "migrate_portfolios": false });
    record(
        "POST",
        "/api/nodes/execution_node_002/disable",
        "/api/nodes/{node_id}/disable",
        &ops,
        disable,
    )
    .await;
    record(
        "DELETE",
        &format!("/api/portfolio/{id}"),
        "/api/portfolio/{portfolio_id}",
        &trader,
        Value::Null,
    )
    .await;
    record(
        "POST",
        "/api/engine/live/stop",
        "/api/engine/live/stop",
        &trader,
        json!({ "engine_id": "e1" }),
    )
    .await;

    let file = archway_tests::scratch_dir().join("answers.json");
    std::fs::write(&file, Value::Array(answers).to_string()).expect("write answers");
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/trading-control/README.md");
    let report = crate::admin_docs::python(
        "openapi_check.py",
        vec![
            format!("http://{addr}"),
            readme.display().to_string(),
            file.display().to_string(),
        ],
    )
    .await;
    assert_eq!(report["missing"], json!([]), "{report}");
    assert_eq!(report["mismatches"], json!([]), "{report}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_the_api_answers_redis_error_and_recovers() {
    let mut redis = RedisServer::running();
    let upstream = upstream().await;
    let store = format!(
        "[store]\nredis_url = \"{}\"\nop_timeout_ms = 250\n",
        redis.url()
    );
    let gateway = try_gateway(&config(&store, false), upstream)
        .await
        .expect("gateway starts");
    let addr = gateway.addr();
    let trader = token("alice", "trader");
    assert_eq!(
        call(addr, "GET", "/api/nodes", &trader, &Value::Null)
            .await
            .status,
        200
    );

    redis.stop();
    let since = Instant::now();
    let body = assert_error(
        &call(addr, "GET", "/api/nodes", &trader, &Value::Null).await,
        500,
        "REDIS_ERROR",
    );
    assert_eq!(body["details"], json!({ "reason": "store unavailable" }));
    let create =
        json!({ "name": "p", "initial_cash": 10, "config": { "strategy": { "name": "Hold" } } });
    assert_error(
        &call(addr, "POST", "/api/portfolio", &trader, &create).await,
        500,
        "REDIS_ERROR",
    );
    let health = call(addr, "GET", "/api/health", &trader, &Value::Null).await;
    assert_eq!(health.status, 503);
    let health = health.json();
    assert_eq!(
        (
            health["components"]["redis"].as_str(),
            health["components"]["kafka"].as_str()
        ),
        (Some("unhealthy"), Some("unknown"))
    );
    assert!(
        since.elapsed() < Duration::from_secs(10),
        "answered, not hung: {:?}",
        since.elapsed()
    );

    redis.start();
    let since = Instant::now();
    while call(addr, "GET", "/api/nodes", &trader, &Value::Null)
        .await
        .status
        != 200
    {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the store came back, the API did not"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gateway.stop().await;
}
