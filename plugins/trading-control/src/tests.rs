//! The API's logic on the SDK's in-memory store: each endpoint's answer, its checks, and
//! the commands it sends.

use archway_sdk::serde_json::{Value, json};
use archway_sdk::{FakeRequest, Handle, Plugin, Principal, kv, streams};

use crate::Api;

fn api() -> Api {
    Api::from_json(r#"{"heartbeat_timeout_seconds": 5}"#).expect("valid config")
}

fn caller(subject: &str, permissions: &[&str]) -> Principal {
    Principal::subject(subject).with_permissions(permissions)
}

fn trader() -> Principal {
    caller("alice", &["trading.write"])
}

fn call(method: &str, path: &str, who: Option<Principal>, body: Option<Value>) -> (u16, Value) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut fake = FakeRequest::new(method, path).query(query);
    if let Some(who) = who {
        fake = fake.principal(who);
    }
    if let Some(body) = body {
        fake = fake.body(body.to_string().into_bytes());
    }
    let response = api().handle(&fake.request()).expect("answers");
    let body = archway_sdk::serde_json::from_slice(&response.body).expect("JSON");
    (response.status, body)
}

fn commands() -> Vec<Vec<(String, String)>> {
    streams::read_after("shared/trading/commands", "0", 100)
        .expect("stream")
        .into_iter()
        .map(|e| e.fields)
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v)
}

fn portfolio_body() -> Value {
    json!({
        "name": "My Trading Portfolio",
        "initial_cash": 100000.0,
        "config": {
            "strategy": {"strategy_id": "s1", "name": "TrendFollowStrategy",
                         "params": {"short_period": 5, "long_period": 20}},
            "risk_managements": [{"risk_id": "r1", "name": "PositionRatioRisk",
                                  "params": {"max_position_ratio": 0.2}}],
            "sizer": {"sizer_id": "z1", "name": "FixedAmountSizer", "params": {"amount": 10000}}
        }
    })
}

fn assert_invalid(answer: &(u16, Value), field: &str) {
    assert_eq!(answer.0, 400, "{}", answer.1);
    assert_eq!(answer.1["error"], true);
    assert_eq!(answer.1["code"], "INVALID_PARAMETER", "{}", answer.1);
    assert_eq!(answer.1["details"]["field"], field, "{}", answer.1);
}

#[test]
fn an_engine_starts_once_by_command_and_stops() {
    let start = json!({"engine_id": "live_engine_001", "config": {"broker_type": "simulation"}});
    let (status, body) = call(
        "POST",
        "/api/engine/live/start",
        Some(trader()),
        Some(start.clone()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "engine_id": "live_engine_001", "status": "starting",
               "message": "Engine start command sent"})
    );
    // Still starting: a retry sends the command again (the first may not have gone).
    let (_, again) = call(
        "POST",
        "/api/engine/live/start",
        Some(trader()),
        Some(start.clone()),
    );
    assert_eq!(again["message"], "Engine start command sent");
    let sent = commands();
    assert_eq!(sent.len(), 2);
    assert_eq!(field(&sent[0], "command"), "engine.start");
    assert_eq!(field(&sent[0], "issued_by"), "alice");
    let config: Value = archway_sdk::serde_json::from_str(field(&sent[0], "config")).expect("json");
    assert_eq!(config["broker_type"], "simulation");

    // Running: a start answers so and sends nothing.
    let key = "shared/trading/engines/live_engine_001";
    let mut engine: Value =
        archway_sdk::serde_json::from_slice(&kv::get(key).expect("get").expect("engine"))
            .expect("json");
    engine["status"] = json!("running");
    kv::set(key, engine.to_string().as_bytes(), None).expect("set");
    let (_, running) = call(
        "POST",
        "/api/engine/live/start",
        Some(trader()),
        Some(start),
    );
    assert_eq!(running["message"], "Engine already started");
    assert_eq!(
        commands().len(),
        2,
        "a start of a running engine sends nothing"
    );
    engine["status"] = json!("starting");
    kv::set(key, engine.to_string().as_bytes(), None).expect("set");

    let (_, status) = call(
        "GET",
        "/api/engine/live/live_engine_001/status",
        Some(trader()),
        None,
    );
    assert_eq!(status["status"], "starting");
    assert_eq!(status["uptime"], 0);
    assert_eq!(status["last_heartbeat"], Value::Null);

    let stop = json!({"engine_id": "live_engine_001"});
    let (_, body) = call("POST", "/api/engine/live/stop", Some(trader()), Some(stop));
    assert_eq!(body["status"], "stopping");
    assert_eq!(field(&commands()[2], "command"), "engine.stop");

    let unknown = call(
        "POST",
        "/api/engine/live/stop",
        Some(trader()),
        Some(json!({"engine_id": "nope"})),
    );
    assert_eq!(
        (unknown.0, unknown.1["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let bad = call(
        "POST",
        "/api/engine/live/start",
        Some(trader()),
        Some(json!({"engine_id": "e", "config": {"broker_type": "paper"}})),
    );
    assert_invalid(&bad, "config.broker_type");
    assert_invalid(
        &call(
            "POST",
            "/api/engine/live/start",
            Some(trader()),
            Some(json!({"engine_id": "a b"})),
        ),
        "engine_id",
    );
}

#[test]
fn a_portfolio_is_created_for_its_caller_and_reloaded_on_update() {
    let (status, body) = call(
        "POST",
        "/api/portfolio",
        Some(trader()),
        Some(portfolio_body()),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "created");
    let id = body["portfolio_id"].as_str().expect("an id").to_owned();
    let sent = &commands()[0];
    assert_eq!(field(sent, "command"), "portfolio.create");
    assert_eq!(field(sent, "user_id"), "alice");
    assert_eq!(field(sent, "initial_cash"), "100000");

    let (_, view) = call(
        "GET",
        &format!("/api/portfolio/{id}/status"),
        Some(trader()),
        None,
    );
    assert_eq!(view["name"], "My Trading Portfolio");
    assert_eq!(view["cash"], 100000.0);
    assert_eq!(view["node_id"], Value::Null);

    let change = json!({"config": {"strategy": {"strategy_id": "s1", "name": "TrendFollowStrategy",
                                                "params": {"short_period": 10, "long_period": 30}}}});
    let (status, body) = call(
        "PUT",
        &format!("/api/portfolio/{id}"),
        Some(trader()),
        Some(change),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reloading");
    let reload = &commands()[1];
    assert_eq!(field(reload, "command"), "portfolio.reload");
    let config: Value = archway_sdk::serde_json::from_str(field(reload, "config")).expect("json");
    assert_eq!(config["strategy"]["params"]["short_period"], 10);
    assert_eq!(
        config["sizer"]["name"], "FixedAmountSizer",
        "parts not sent are kept"
    );

    // Another trader may not change alice's portfolio; an admin may.
    let bob = caller("bob", &["trading.write"]);
    let (status, body) = call(
        "PUT",
        &format!("/api/portfolio/{id}"),
        Some(bob),
        Some(json!({"name": "x"})),
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")));
    let admin = caller("ops", &["trading.admin"]);
    let (status, _) = call(
        "PUT",
        &format!("/api/portfolio/{id}"),
        Some(admin),
        Some(json!({"name": "x"})),
    );
    assert_eq!(status, 200);
}

#[test]
fn portfolio_input_is_checked_field_by_field() {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut body = portfolio_body();
        f(&mut body);
        call("POST", "/api/portfolio", Some(trader()), Some(body))
    };
    let negative = with(&|b| b["initial_cash"] = json!(-1000));
    assert_invalid(&negative, "initial_cash");
    assert_eq!(negative.1["details"]["value"], -1000.0);
    assert_eq!(
        negative.1["message"],
        "Parameter 'initial_cash' must be positive"
    );
    assert_invalid(&with(&|b| b["initial_cash"] = json!(0)), "initial_cash");
    assert_invalid(
        &with(&|b| b["initial_cash"] = json!("lots")),
        "initial_cash",
    );
    assert_invalid(&with(&|b| b["name"] = json!("")), "name");
    assert_invalid(&with(&|b| b["surprise"] = json!(1)), "surprise");
    assert_invalid(
        &with(&|b| b["config"]["strategy"]["name"] = json!("")),
        "config.strategy.name",
    );
    assert_invalid(
        &with(&|b| {
            b["config"]
                .as_object_mut()
                .expect("object")
                .remove("strategy");
        }),
        "config.strategy",
    );
    assert_invalid(
        &with(&|b| {
            b.as_object_mut().expect("object").remove("initial_cash");
        }),
        "initial_cash",
    );
    // Another user's portfolio needs trading.admin.
    let (status, body) = with(&|b| b["user_id"] = json!("bob"));
    assert_eq!(
        (status, body["details"]["required_permission"].as_str()),
        (403, Some("trading.admin"))
    );
    assert!(commands().is_empty(), "nothing refused sends a command");
}

#[test]
fn access_follows_the_permission_levels() {
    let (status, body) = call("GET", "/api/nodes", None, None);
    assert_eq!((status, body["code"].as_str()), (401, Some("UNAUTHORIZED")));
    let reader = caller("carol", &["trading.read"]);
    assert_eq!(call("GET", "/api/nodes", Some(reader.clone()), None).0, 200);
    let (status, body) = call(
        "POST",
        "/api/portfolio",
        Some(reader),
        Some(portfolio_body()),
    );
    assert_eq!(
        (status, body["details"]["required_permission"].as_str()),
        (403, Some("trading.write"))
    );
    let migrate = json!({"portfolio_id": "p", "source_node": "a", "target_node": "b"});
    let (status, _) = call(
        "POST",
        "/api/schedule/migrate",
        Some(trader()),
        Some(migrate),
    );
    assert_eq!(status, 403);
    let (status, body) = call("GET", "/api/nowhere", Some(trader()), None);
    assert_eq!((status, body["code"].as_str()), (404, Some("NOT_FOUND")));
    let (status, _) = call("DELETE", "/api/nodes", Some(trader()), None);
    assert_eq!(status, 405);
}

#[test]
fn query_parameters_are_checked() {
    let reader = || Some(caller("carol", &["trading.read"]));
    assert_invalid(
        &call("GET", "/api/metrics?end_time=10", reader(), None),
        "start_time",
    );
    assert_invalid(
        &call(
            "GET",
            "/api/metrics?start_time=x&end_time=10",
            reader(),
            None,
        ),
        "start_time",
    );
    assert_invalid(
        &call(
            "GET",
            "/api/metrics?start_time=10&end_time=5",
            reader(),
            None,
        ),
        "end_time",
    );
    assert_invalid(
        &call(
            "GET",
            "/api/alerts?start_time=1&end_time=5&limit=1001",
            reader(),
            None,
        ),
        "limit",
    );
    assert_invalid(
        &call(
            "GET",
            "/api/alerts?start_time=1&end_time=5&severity=fatal",
            reader(),
            None,
        ),
        "severity",
    );
    let (status, body) = call("GET", "/api/alerts?start_time=1&end_time=5", reader(), None);
    assert_eq!(
        (status, body),
        (200, json!({"alerts": [], "total_count": 0}))
    );
}

#[test]
fn metrics_and_alerts_are_filtered_by_window_and_fields() {
    for (component, value) in [("execution_node_001", "500"), ("execution_node_002", "7")] {
        streams::append(
            "shared/trading/metrics",
            &[
                ("component", component),
                ("metric_name", "portfolio.queue_size"),
                ("value", value),
            ],
        )
        .expect("append");
    }
    streams::append(
        "shared/trading/alerts",
        &[
            ("alert_id", "a1"),
            ("alert_type", "queue_full"),
            ("severity", "critical"),
            ("source", "execution_node_001"),
            ("message", "full"),
            ("details", r#"{"queue_size": 950}"#),
        ],
    )
    .expect("append");
    let reader = || Some(caller("carol", &["trading.read"]));
    let (_, body) = call(
        "GET",
        "/api/metrics?component=execution_node_001&start_time=0&end_time=99999999999",
        reader(),
        None,
    );
    assert_eq!(body["total_count"], 1);
    assert_eq!(body["metrics"][0]["value"], 500.0);
    assert_eq!(body["metrics"][0]["metric_name"], "portfolio.queue_size");
    let (_, body) = call(
        "GET",
        "/api/alerts?severity=critical&start_time=0&end_time=99999999999",
        reader(),
        None,
    );
    assert_eq!(body["alerts"][0]["details"]["queue_size"], 950);
    let (_, body) = call(
        "GET",
        "/api/alerts?severity=info&start_time=0&end_time=99999999999",
        reader(),
        None,
    );
    assert_eq!(body["total_count"], 0);
}

#[test]
fn health_reports_each_component_by_its_heartbeat() {
    let reader = || Some(caller("carol", &["trading.read"]));
    let (status, body) = call("GET", "/api/health", reader(), None);
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["components"]["api_gateway"], "healthy");
    assert_eq!(body["components"]["redis"], "healthy");
    assert_eq!(body["components"]["kafka"], "unhealthy");
    let now = crate::clock::now_ms().to_string();
    for component in crate::monitor::COMPONENTS {
        kv::set(
            &format!("shared/trading/heartbeats/{component}"),
            now.as_bytes(),
            None,
        )
        .expect("set");
    }
    let (status, body) = call("GET", "/api/health", reader(), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["components"]["livecore"]["trade_gateway"], "healthy");
    let stale = (crate::clock::now_ms() - 6000).to_string();
    kv::set("shared/trading/heartbeats/mysql", stale.as_bytes(), None).expect("set");
    let (status, body) = call("GET", "/api/health", reader(), None);
    assert_eq!(
        (status, &body["components"]["mysql"]),
        (503, &json!("unhealthy"))
    );
}

#[test]
fn nodes_show_marks_and_migrations_move_portfolios() {
    let now = crate::clock::now_ms();
    for node in ["n1", "n2"] {
        kv::set(
            &format!("shared/trading/nodes/{node}"),
            json!({"node_id": node, "host": "10.0.0.1", "port": 8001, "status": "active", "started_at": now})
                .to_string()
                .as_bytes(),
            None,
        )
        .expect("set");
        kv::set(
            &format!("shared/trading/heartbeats/node/{node}"),
            now.to_string().as_bytes(),
            None,
        )
        .expect("set");
    }
    let (_, created) = call(
        "POST",
        "/api/portfolio",
        Some(trader()),
        Some(portfolio_body()),
    );
    let id = created["portfolio_id"].as_str().expect("id").to_owned();
    // The backend places it on n1.
    let state_key = format!("shared/trading/portfolio-state/{id}");
    let mut state: Value =
        archway_sdk::serde_json::from_slice(&kv::get(&state_key).expect("get").expect("state"))
            .expect("json");
    state["status"] = json!("running");
    state["node_id"] = json!("n1");
    kv::set(&state_key, state.to_string().as_bytes(), None).expect("set");

    let admin = || Some(caller("ops", &["trading.admin"]));
    let (_, plan) = call("GET", "/api/schedule/plan", admin(), None);
    assert_eq!(plan["total_portfolios"], 1);
    assert_eq!(
        plan["plans"][0],
        json!({"node_id": "n1", "portfolio_count": 1, "portfolio_ids": [id]})
    );
    let (_, nodes) = call("GET", "/api/nodes", admin(), None);
    assert_eq!(nodes["total_count"], 2);
    assert_eq!(nodes["nodes"][0]["portfolio_count"], 1);

    let wrong = json!({"portfolio_id": id, "source_node": "n2", "target_node": "n1"});
    assert_invalid(
        &call("POST", "/api/schedule/migrate", admin(), Some(wrong)),
        "source_node",
    );
    let unknown = json!({"portfolio_id": id, "source_node": "n1", "target_node": "n9"});
    assert_invalid(
        &call("POST", "/api/schedule/migrate", admin(), Some(unknown)),
        "target_node",
    );

    let (status, body) = call(
        "POST",
        "/api/nodes/n1/disable",
        admin(),
        Some(json!({"reason": "Maintenance", "migrate_portfolios": true})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["portfolio_migration_started"], true);
    let sent = commands();
    let migrate = sent
        .iter()
        .find(|c| field(c, "command") == "portfolio.migrate")
        .expect("a migration");
    assert_eq!(
        (field(migrate, "source_node"), field(migrate, "target_node")),
        ("n1", "n2")
    );
    let (_, node) = call("GET", "/api/nodes/n1", admin(), None);
    assert_eq!(node["status"], "disabled");
    let (_, view) = call("GET", &format!("/api/portfolio/{id}/status"), admin(), None);
    assert_eq!(view["status"], "migrating");
    let (status, _) = call("POST", "/api/nodes/n9/disable", admin(), Some(json!({})));
    assert_eq!(status, 404);
}

#[test]
fn a_repeated_idempotency_key_gets_the_first_answer_and_sends_nothing() {
    let send = |key: &str, body: &Value| {
        let fake = FakeRequest::new("POST", "/api/portfolio")
            .principal(trader())
            .header("idempotency-key", key)
            .body(body.to_string().into_bytes());
        api().handle(&fake.request()).expect("answers")
    };
    let first = send("k-1", &portfolio_body());
    let again = send("k-1", &portfolio_body());
    assert_eq!(first.status, 201);
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert!(
        again
            .headers
            .iter()
            .any(|(k, v)| k == "idempotent-replayed" && v == "true")
    );
    assert_eq!(commands().len(), 1);
    let mut other = portfolio_body();
    other["name"] = json!("another");
    let reused = send("k-1", &other);
    assert_eq!(reused.status, 400);
    assert_eq!(send("k-2", &other).status, 201);
    assert_eq!(commands().len(), 2);
}
