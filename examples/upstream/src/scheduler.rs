//! A small task scheduler in the style of `../shared/contracts/task-scheduler-api.md`:
//! `POST /api/v1/agents/query` and `POST /api/v1/jobs/page` answer a page of fixed sample
//! agents and jobs, filtered by `filter.namespace_id.eq`, so an aggregation has two
//! services with real shapes to combine.

use serde_json::{Value, json};

/// The scheduler's endpoints (POST).
const AGENTS: &str = "/api/v1/agents/query";
const JOBS: &str = "/api/v1/jobs/page";

/// Whether `path` is one of the scheduler's endpoints.
pub(crate) fn serves(path: &str) -> bool {
    path == AGENTS || path == JOBS
}

/// The page `request` asks of the endpoint at `path` (one [`serves`]).
pub(crate) fn page(path: &str, request: &Value) -> Value {
    let records = if path == AGENTS { agents() } else { jobs() };
    let namespace = request["filter"]["namespace_id"]["eq"].as_str();
    let page = request["page"]["page"].as_u64().unwrap_or(1).max(1);
    let size = request["page"]["page_size"]
        .as_u64()
        .unwrap_or(20)
        .clamp(1, 1000);
    let matching: Vec<Value> = records
        .into_iter()
        .filter(|r| namespace.is_none_or(|n| r["namespace_id"] == n))
        .collect();
    let total = matching.len();
    let start = usize::try_from((page - 1) * size).unwrap_or(usize::MAX);
    let data: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(usize::try_from(size).unwrap_or(usize::MAX))
        .collect();
    json!({ "data": data, "total": total, "page": page, "page_size": size })
}

fn agents() -> Vec<Value> {
    [
        ("agent-01", "default", "online"),
        ("agent-02", "default", "offline"),
        ("agent-03", "batch", "online"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, namespace, status))| {
        json!({
            "id": format!("550e8400-e29b-41d4-a716-44665544000{i}"),
            "namespace_id": namespace, "name": name,
            "endpoint": format!("ws://localhost:808{}", i + 1), "status": status,
            "labels": { "env": "production" },
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        })
    })
    .collect()
}

fn jobs() -> Vec<Value> {
    [("data-processing-job", "default", "enabled"), ("nightly-report", "default", "disabled"), ("backfill", "batch", "enabled")]
        .iter()
        .enumerate()
        .map(|(i, (name, namespace, status))| {
            json!({
                "id": format!("6f1c2e10-3b4d-4c5e-8f70-81920a1b2c3{i}"),
                "namespace_id": namespace, "name": name, "status": status,
                "config": { "timeout": 3600, "max_retries": 3, "cmd": "python", "args": ["process.py"] },
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            })
        })
        .collect()
}
