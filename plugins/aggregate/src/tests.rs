//! Aggregations against the SDK's fake services: composition, failure policies, waves,
//! and configs refused at load.

use archway_sdk::serde_json::{Value, json};
use archway_sdk::upstream::{UpstreamError, fake};
use archway_sdk::{FakeRequest, Handle, Plugin, Response};

use crate::Aggregate;

fn plugin(config: Value) -> Aggregate {
    Aggregate::from_json(&config.to_string()).expect("valid config")
}

fn answer(service: &str, body: Value) {
    fake::answer(service, move |_| Ok(Response::json(200, &body)));
}

fn run(plugin: &Aggregate, request: FakeRequest) -> Result<Value, (u16, String)> {
    match plugin.handle(&request.request()) {
        Ok(response) => Ok(archway_sdk::serde_json::from_slice(&response.body).expect("JSON")),
        Err(deny) => Err((deny.status, deny.message)),
    }
}

#[test]
fn answers_compose_by_call_name_and_an_optional_failure_is_null_with_its_reason() {
    answer("agents", json!({"items": [{"id": "a1"}]}));
    answer("jobs", json!({"total": 2}));
    fake::answer("stats", |_| Err(UpstreamError::Timeout));
    let plugin = plugin(json!({"calls": [
        {"name": "agents", "service": "agents", "path": "/agents?team={param.team}"},
        {"name": "jobs", "service": "jobs", "path": "/jobs?{query}"},
        {"name": "stats", "service": "stats", "path": "/stats", "required": false},
        {"name": "extra", "service": "stats", "path": "/extra", "required": false, "on_failure": "omit"},
    ]}));
    let body = run(
        &plugin,
        FakeRequest::new("GET", "/overview/blue")
            .param("team", "blue")
            .query("state=running"),
    )
    .expect("answered");
    assert_eq!(
        body,
        json!({"agents": {"items": [{"id": "a1"}]}, "jobs": {"total": 2}, "stats": null,
               "errors": {"stats": "timeout"}})
    );
    let paths: Vec<String> = fake::take_calls().into_iter().map(|c| c.path).collect();
    assert_eq!(
        paths,
        [
            "/agents?team=blue",
            "/jobs?state=running",
            "/stats",
            "/extra"
        ]
    );
}

#[test]
fn a_required_failure_fails_the_request_502_or_504() {
    answer("agents", json!({}));
    fake::answer("jobs", |_| Ok(Response::text(503, "down")));
    let config = json!({"calls": [
        {"name": "agents", "service": "agents", "path": "/agents"},
        {"name": "jobs", "service": "jobs", "path": "/jobs"},
    ]});
    let refused = run(&plugin(config), FakeRequest::new("GET", "/")).expect_err("refused");
    assert_eq!(refused, (502, "call jobs failed".to_owned()));
    fake::answer("jobs", |_| Err(UpstreamError::Timeout));
    let config =
        json!({"calls": [{"name": "jobs", "service": "jobs", "path": "/jobs", "timeout_ms": 50}]});
    let refused = run(&plugin(config), FakeRequest::new("GET", "/")).expect_err("refused");
    assert_eq!(refused.0, 504);
}

#[test]
fn a_later_wave_reads_an_earlier_answer() {
    answer("agents", json!({"items": [{"id": "a 1", "slots": 3}]}));
    fake::answer("jobs", |call| {
        let body: Value = archway_sdk::serde_json::from_slice(&call.body).expect("JSON body");
        Ok(Response::json(
            200,
            &json!({"path": call.path, "sent": body}),
        ))
    });
    let plugin = plugin(json!({
        "calls": [
            {"name": "jobs", "service": "jobs", "method": "POST",
             "path": "/jobs?agent={calls.agents/items/0/id}",
             "body": {"agent": "{calls.agents/items/0/id}", "slots": "{calls.agents/items/0/slots}"}},
            {"name": "agents", "service": "agents", "path": "/agents"},
        ],
        "compose": "pick",
        "fields": {"agent": "/agents/items/0/id", "job_path": "/jobs/path", "sent": "/jobs/sent", "none": "/nope"},
    }));
    assert_eq!(plugin.plan.waves, vec![vec![1], vec![0]]);
    let body = run(&plugin, FakeRequest::new("GET", "/")).expect("answered");
    assert_eq!(
        body,
        json!({"agent": "a 1", "job_path": "/jobs?agent=a%201",
               "sent": {"agent": "a 1", "slots": 3}, "none": null})
    );
}

#[test]
fn merge_combines_objects_deeply() {
    answer("a", json!({"user": {"id": 7, "name": "x"}, "tags": [1]}));
    answer(
        "b",
        json!({"user": {"name": "y", "plan": "pro"}, "tags": [2]}),
    );
    let plugin = plugin(json!({"compose": "merge", "calls": [
        {"name": "a", "service": "a", "path": "/"},
        {"name": "b", "service": "b", "path": "/"},
    ]}));
    let body = run(&plugin, FakeRequest::new("GET", "/")).expect("answered");
    assert_eq!(
        body,
        json!({"user": {"id": 7, "name": "y", "plan": "pro"}, "tags": [2]})
    );
}

#[test]
fn configs_that_cannot_work_are_refused_at_load() {
    let refused = |config: Value| {
        Aggregate::from_json(&config.to_string())
            .err()
            .expect("refused")
    };
    let call = |name: &str, path: &str| json!({"name": name, "service": "s", "path": path});
    assert!(refused(json!({"calls": []})).contains("1 to 64"));
    assert!(refused(json!({"calls": [call("a", "/"), call("a", "/")]})).contains("unique"));
    assert!(refused(json!({"calls": [call("a", "/{calls.b/x}")]})).contains("not a call"));
    assert!(
        refused(json!({"calls": [call("a", "/{calls.b}"), call("b", "/{calls.a}")]}))
            .contains("cycle")
    );
    assert!(refused(json!({"calls": [call("a", "/{bogus}")]})).contains("unknown placeholder"));
    assert!(refused(json!({"calls": [call("errors", "/")]})).contains("errors_field"));
    assert!(refused(json!({"calls": [call("a", "/")], "compose": "pick"})).contains("fields"));
    assert!(refused(json!({"calls": [call("a", "no-slash")]})).contains("start with /"));
}
