//! A plugin written in Python: `examples/plugins/python-greeter`, built with componentize-py
//! from the same WIT as the Rust plugins, answers a handler route of a real gateway.
//!
//! One test, so the component (CPython inside, 18 MB) is compiled once into the shared
//! on-disk cache rather than by two gateways at once.

use archway_tests::artifacts::PYTHON_GREETER;
use archway_tests::{get, try_gateway, upstream};
use serde_json::json;

/// The greeter on `/greet/{name}` and on `/greet`, where it has no name to greet. CPython's
/// heap starts at about 13 MiB, so it gets twice that; raising an exception in `init`
/// can take CPython past the default 100 ms on a busy machine, so it gets a second.
fn greeter_config(greeting: &str) -> String {
    format!(
        "[log]\naccess_log = false\n\
         [[plugins]]\nname = \"greeter\"\npath = \"{PYTHON_GREETER}\"\ncapabilities = [\"log\"]\nmemory_mb = 32\ntimeout_ms = 1000\n\
         [plugins.config]\ngreeting = {greeting}\n\
         [[routes]]\nid = \"greet\"\npath_pattern = \"/greet/{{name}}\"\nhandler = \"greeter\"\nrequires_auth = false\n\
         [[routes]]\nid = \"greet-nobody\"\npath_pattern = \"/greet\"\nhandler = \"greeter\"\nrequires_auth = false\n"
    )
}

#[tokio::test]
async fn python_handler_answers_from_its_config_and_denies_without_a_name() {
    let upstream = upstream().await;
    let gateway = archway_tests::gateway(&greeter_config("\"Bonjour\""), upstream).await;

    let reply = get(gateway.addr(), "/greet/Ada", &[("x-title", "Dr")]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({"greeting": "Bonjour, Dr Ada!", "path": "/greet/Ada", "route": "greet"})
    );
    let reply = get(gateway.addr(), "/greet/Grace", &[]).await;
    assert_eq!(reply.json()["greeting"], "Bonjour, Grace!");

    let reply = get(gateway.addr(), "/greet", &[]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"code": "F40000", "msg": "say who to greet: /greet/{name}", "content": {}})
    );
    gateway.stop().await;

    let Err(error) = try_gateway(&greeter_config("7"), upstream).await else {
        panic!("a greeting that is not a string is refused at start");
    };
    let error = format!("{error:#}");
    assert!(error.contains("plugin greeter failed to start"), "{error}");
    assert!(
        error.contains("config: greeting must be a string"),
        "{error}"
    );
}
