//! `/admin/services`: instances registered with services.

use archway_sdk::Response;
use archway_sdk::admin;
use archway_sdk::serde_json::{Map, Value, json};

use crate::answer;
use crate::envelope::{Failure, success};

/// The fields of an instance in a list, as the contract shows them (and ours after).
const LISTED: [&str; 14] = [
    "id",
    "instance_id",
    "endpoint",
    "weight",
    "status",
    "last_health_check",
    "registered_at",
    "host",
    "port",
    "protocol",
    "health_check_url",
    "health_check_interval_seconds",
    "metadata",
    "updated_at",
];

/// `GET /admin/services?service_name=...`: `status`, `page`, `size`.
pub fn list(query: &str) -> Result<Response, Failure> {
    let page = answer(admin::list("services", query))?;
    let service = archway_sdk::query_pairs(query)
        .into_iter()
        .find(|(name, _)| name == "service_name")
        .map(|(_, value)| value);
    let instances: Vec<Value> = page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| crate::pick(item, &LISTED))
                .collect()
        })
        .unwrap_or_default();
    Ok(success(
        200,
        "獲取服務實例成功",
        json!({
            "service_name": service,
            "total_instances": page["total"],
            "healthy_instances": page["healthy"],
            "instances": instances,
        }),
    ))
}

/// `GET /admin/services/{instance_id}`.
pub fn get(instance_id: &str) -> Result<Response, Failure> {
    let instance = answer(admin::get("services", instance_id))?;
    Ok(success(200, "獲取服務實例成功", instance))
}

/// `POST /admin/services`.
pub fn register(body: &Map<String, Value>) -> Result<Response, Failure> {
    let instance = answer(admin::put(
        "services",
        None,
        &Value::Object(body.clone()).to_string(),
    ))?;
    Ok(success(
        201,
        "註冊服務實例成功",
        crate::pick(
            &instance,
            &[
                "instance_id",
                "id",
                "service_name",
                "endpoint",
                "registered_at",
            ],
        ),
    ))
}

/// `PUT /admin/services/{instance_id}`: changes the fields sent.
pub fn update(instance_id: &str, body: &Map<String, Value>) -> Result<Response, Failure> {
    let instance = answer(admin::put(
        "services",
        Some(instance_id),
        &Value::Object(body.clone()).to_string(),
    ))?;
    let mut content = crate::pick(
        &instance,
        &[
            "instance_id",
            "service_name",
            "endpoint",
            "weight",
            "status",
            "updated_at",
        ],
    );
    content["updated_fields"] = json!(body.keys().collect::<Vec<_>>());
    Ok(success(200, "更新服務實例成功", content))
}

/// `DELETE /admin/services/{instance_id}`.
pub fn deregister(instance_id: &str) -> Result<Response, Failure> {
    let instance = answer(admin::delete("services", instance_id))?;
    Ok(success(
        200,
        "註銷服務實例成功",
        crate::pick(
            &instance,
            &["instance_id", "service_name", "deregistered_at"],
        ),
    ))
}
