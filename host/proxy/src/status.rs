//! `GET /health` (the `[health]` endpoint): the gateway's own state in the admin
//! contract's shape, answered before routing and without credentials so load balancers
//! can probe it. The store is the contract's `database`; the response cache its `cache`
//! (in this process, or shared through the store on Redis).

use std::time::Duration;

use archway_store::Store;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::body::{ProxyBody, full};
use crate::snapshot::Snapshot;
use crate::timestamp;

/// How long the store may take to answer the probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The contract's `service`.
const SERVICE: &str = "api-gateway";

/// The health report: 200 `S10000` when the store answers, else 503 `F50000` with the
/// issues (named, never with the store's address or error text, which go to the log).
pub(crate) async fn health(
    snapshot: &Snapshot,
    store: Option<&Store>,
    shared_cache: bool,
) -> http::Response<ProxyBody> {
    let database = match store {
        None => Ok("not configured".to_owned()),
        Some(store) => match tokio::time::timeout(PROBE_TIMEOUT, store.health()).await {
            Ok(Ok(())) => Ok("connected".to_owned()),
            Ok(Err(error)) => {
                tracing::warn!(target: "archway.health", %error, "the store does not answer");
                Err("unreachable".to_owned())
            }
            Err(_) => Err("connection timeout".to_owned()),
        },
    };
    let cache = match (&database, shared_cache) {
        (Err(reason), true) => Err(reason.clone()),
        _ => Ok("connected".to_owned()),
    };
    let mut content = json!({
        "status": "healthy",
        "service": SERVICE,
        "timestamp": timestamp::now(),
        "version": env!("CARGO_PKG_VERSION"),
        "database": state(&database),
        "cache": state(&cache),
        "active_routes": snapshot.router().active_routes(),
    });
    let issues: Vec<String> = [("数据库", &database), ("缓存", &cache)]
        .into_iter()
        .filter_map(|(what, outcome)| outcome.as_ref().err().map(|why| format!("{what}: {why}")))
        .collect();
    let (status, body) = if issues.is_empty() {
        (
            StatusCode::OK,
            json!({ "code": "S10000", "msg": "服務正常", "content": content }),
        )
    } else {
        content["status"] = Value::from("unhealthy");
        content["issues"] = json!(issues);
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "code": "F50000", "msg": "服務異常", "content": content }),
        )
    };
    let mut response = http::Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn state(outcome: &Result<String, String>) -> String {
    match outcome {
        Ok(state) => state.clone(),
        Err(reason) => format!("error: {reason}"),
    }
}
