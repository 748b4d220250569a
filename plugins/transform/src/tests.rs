//! Requests and responses rewritten from config, byte for byte.

use archway_sdk::serde_json::{Value, json};
use archway_sdk::{FakeRequest, Plugin, Response, ResponseView, Transform};

use crate::Rewrite;

fn plugin(config: Value) -> Rewrite {
    Rewrite::from_json(&config.to_string()).expect("valid config")
}

#[test]
fn a_request_gets_its_headers_path_query_and_body_rewritten() {
    let plugin = plugin(json!({"request": {
        "set_headers": {"X-Gateway": "archway"},
        "remove_headers": ["x-debug"],
        "rename_headers": {"x-user": "x-auth-user"},
        "strip_prefix": "/v1",
        "add_prefix": "/api/v2",
        "set_query": {"format": "json"},
        "remove_query": ["debug"],
        "rename_query": {"q": "search"},
        "body": [
            {"op": "move", "from": "/qty", "to": "/order/quantity"},
            {"op": "default", "path": "/order/side", "value": "buy"},
        ],
    }}));
    let fake = FakeRequest::new("POST", "/v1/orders/7")
        .header("x-user", "ann")
        .query("q=a b&debug=1&format=xml")
        .body(br#"{"qty":5,"symbol":"ACME"}"#.to_vec());
    let edit = plugin.on_request(&fake.request()).expect("edited");
    assert_eq!(edit.path.as_deref(), Some("/api/v2/orders/7"));
    assert_eq!(edit.query.as_deref(), Some("search=a%20b&format=json"));
    assert_eq!(
        edit.set_headers,
        [
            ("x-auth-user".to_owned(), "ann".to_owned()),
            ("x-gateway".to_owned(), "archway".to_owned())
        ]
    );
    assert_eq!(edit.remove_headers, ["x-debug", "x-user"]);
    assert_eq!(
        edit.body.as_deref(),
        Some(&br#"{"order":{"quantity":5,"side":"buy"},"symbol":"ACME"}"#[..])
    );
}

#[test]
fn a_response_gets_its_status_headers_and_body_rewritten() {
    let plugin = plugin(json!({"response": {
        "status": {"404": 200},
        "rename_headers": {"x-upstream-id": "x-request-source"},
        "remove_headers": ["server"],
        "body": [
            {"op": "remove", "path": "/internal"},
            {"op": "move", "from": "/result", "to": "/data"},
            {"op": "set", "path": "/code", "value": 0},
        ],
    }}));
    let mut upstream = Response::json(404, &json!({"result": [1, 2], "internal": "trace-9"}));
    upstream
        .headers
        .push(("x-upstream-id".to_owned(), "u-1".to_owned()));
    let fake = FakeRequest::new("GET", "/");
    let edit = plugin
        .on_response(&fake.request(), &ResponseView::fake(&upstream))
        .expect("edited");
    assert_eq!(edit.status, Some(200));
    assert_eq!(
        edit.set_headers,
        [("x-request-source".to_owned(), "u-1".to_owned())]
    );
    assert_eq!(edit.remove_headers, ["server", "x-upstream-id"]);
    assert_eq!(
        edit.body.as_deref(),
        Some(&br#"{"code":0,"data":[1,2]}"#[..])
    );
    let ok = Response::text(200, "not json");
    let edit = plugin
        .on_response(&fake.request(), &ResponseView::fake(&ok))
        .expect("edited");
    assert_eq!(
        (edit.status, edit.body),
        (None, None),
        "a body that is not JSON is left alone"
    );
}

#[test]
fn configs_that_cannot_work_are_refused() {
    let refused = |config: Value| {
        Rewrite::from_json(&config.to_string())
            .err()
            .expect("refused")
    };
    assert!(refused(json!({"response": {"status": {"404": 99}}})).contains("status"));
    assert!(refused(json!({"request": {"add_prefix": "api"}})).contains("prefix"));
    assert!(
        refused(json!({"request": {"body": [{"op": "remove", "path": "x"}]}})).contains("pointers")
    );
    assert!(refused(json!({"request": {"body": [{"op": "explode"}]}})).contains("explode"));
    assert!(refused(json!({"requests": {}})).contains("requests"));
}
