//! The admin API's OpenAPI document and Swagger UI: served without credentials, the
//! document validated by an OpenAPI validator, listing every endpoint of the admin
//! plugin's README and describing real answers; Swagger UI loaded in headless Chromium
//! with every request it makes same-origin and successful.

use std::path::{Path, PathBuf};

use archway_tests::{get, try_gateway, upstream};
use serde_json::{Value, json};

use crate::admin::{call, config, keys};

fn clients() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Runs `python3 clients/<script> args...` and parses the JSON it prints.
pub(crate) async fn python(script: &str, args: Vec<String>) -> Value {
    let mut command = std::process::Command::new("python3");
    command.arg(clients().join(script)).args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the python thread")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{script} printed {stdout}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_validates_lists_every_endpoint_and_describes_real_answers() {
    let upstream = upstream().await;
    let gateway = try_gateway(&config(""), upstream)
        .await
        .expect("gateway starts");
    let keys = keys(&gateway).await;

    let document = get(gateway.addr(), "/admin/openapi.json", &[]).await;
    assert_eq!(document.status, 200, "served without credentials");
    assert_eq!(document.header("content-type"), Some("application/json"));

    // Real answers, to check against the schemas the document declares for them.
    let mut answers = Vec::new();
    let mut record = async |method: &str, path: &str, template: &str, body: Value| {
        let reply = call(&gateway, method, path, &keys.admin, &body).await;
        answers.push(json!([method, template, reply.status, reply.json()]));
        reply.json()
    };
    let route = json!({"service_name": "users", "path_pattern": "/u/*", "target_url": "/*", "method": "GET"});
    let created = record("POST", "/admin/routes", "/admin/routes", route).await;
    let id = created["content"]["route_id"]
        .as_str()
        .expect("route id")
        .to_owned();
    record("GET", "/admin/routes", "/admin/routes", Value::Null).await;
    let path = format!("/admin/routes/{id}");
    record(
        "PUT",
        &path,
        "/admin/routes/{route_id}",
        json!({"priority": 5}),
    )
    .await;
    record(
        "POST",
        "/admin/routes",
        "/admin/routes",
        json!({"method": "GET"}),
    )
    .await;
    let instance = json!({"service_name": "users", "instance_id": "u1", "host": "127.0.0.1", "port": upstream.port()});
    record("POST", "/admin/services", "/admin/services", instance).await;
    let list = "/admin/services?service_name=users";
    record("GET", list, "/admin/services", Value::Null).await;
    let changed = json!({"weight": 50});
    record(
        "PUT",
        "/admin/services/u1",
        "/admin/services/{instance_id}",
        changed,
    )
    .await;
    record(
        "GET",
        "/admin/services/u1",
        "/admin/services/{instance_id}",
        Value::Null,
    )
    .await;
    let batch = json!({"routes": [{"service_name": "users", "path_pattern": "/b/*", "target_url": "/*", "method": "GET"}, {}]});
    record("POST", "/admin/batch/routes", "/admin/batch/routes", batch).await;
    let key = json!({"subject": "bot", "tenant": "acme"});
    record(
        "GET",
        "/admin/permissions",
        "/admin/permissions",
        Value::Null,
    )
    .await;
    let tenant = json!({"tenant_id": "acme", "name": "Acme"});
    record("POST", "/admin/tenants", "/admin/tenants", tenant).await;
    record("POST", "/admin/api-keys", "/admin/api-keys", key).await;
    record("GET", "/admin/roles", "/admin/roles", Value::Null).await;
    record("GET", "/admin/plugins", "/admin/plugins", Value::Null).await;
    record("GET", "/admin/audit", "/admin/audit", Value::Null).await;
    record("GET", "/health", "/health", Value::Null).await;
    let path = format!("/admin/routes/{id}");
    record("DELETE", &path, "/admin/routes/{route_id}", Value::Null).await;
    let gone = "/admin/services/u1";
    record("DELETE", gone, "/admin/services/{instance_id}", Value::Null).await;
    let file = archway_tests::scratch_dir().join("answers.json");
    std::fs::write(&file, Value::Array(answers).to_string()).expect("write answers");

    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/admin/README.md");
    let report = python(
        "openapi_check.py",
        vec![
            format!("http://{}", gateway.addr()),
            readme.display().to_string(),
            file.display().to_string(),
        ],
    )
    .await;
    assert_eq!(report["openapi"], "3.1.0");
    assert_eq!(report["missing"], json!([]), "{report}");
    assert_eq!(report["mismatches"], json!([]), "{report}");
    assert!(report["endpoints"].as_u64() >= Some(36), "{report}");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_loads_in_chromium_asking_only_its_own_origin() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .expect("chromium is installed (.ci/run installs the Debian package)");
    let upstream = upstream().await;
    let gateway = try_gateway(&config(""), upstream)
        .await
        .expect("gateway starts");
    let moved = get(gateway.addr(), "/swagger-ui", &[]).await;
    assert_eq!(
        (moved.status, moved.header("location")),
        (301, Some("/swagger-ui/"))
    );

    let keys = keys(&gateway).await;
    let base = format!("http://{}", gateway.addr());
    let args = vec![chromium.to_owned(), base.clone(), keys.reader.clone()];
    let report = python("swagger_ui.py", args).await;
    let requests = report["requests"].as_array().expect("requests");
    for request in requests {
        let url = request["url"].as_str().unwrap_or_default();
        assert!(
            url.starts_with(&format!("{base}/")) || url.starts_with("data:"),
            "a request left the origin: {request}"
        );
        assert_eq!(request["error"], Value::Null, "{request}");
        assert!(
            url.starts_with("data:") || request["status"] == 200,
            "{request}"
        );
    }
    let asked = |path: &str| {
        requests
            .iter()
            .find(|r| r["url"] == format!("{base}{path}"))
    };
    assert!(asked("/admin/openapi.json").is_some(), "{report}");
    assert!(
        asked("/swagger-ui/swagger-ui-bundle.js").is_some(),
        "{report}"
    );
    assert!(report["operations"].as_u64() >= Some(36), "{report}");
    assert_eq!(
        report["title"]
            .as_str()
            .map(|t| t.starts_with("Archway admin API")),
        Some(true),
        "{report}"
    );

    // "Try it out" after "Authorize" with an API key sends the key, and the API answers.
    assert_eq!(report["try_it_out"]["status"], "200", "{report}");
    let tried = asked("/admin/permissions").expect("the page called the API");
    let sent = tried["headers"]
        .as_object()
        .and_then(|headers| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("x-api-key"))
        })
        .map(|(_, value)| value.clone());
    assert_eq!(sent, Some(Value::from(keys.reader.as_str())), "{tried}");
    gateway.stop().await;
}
