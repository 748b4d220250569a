//! `/admin/routes` and `/admin/batch/routes`.

use archway_sdk::Response;
use archway_sdk::admin;
use archway_sdk::serde_json::{Map, Value, json};

use crate::envelope::{Failure, success};
use crate::{answer, pick};

/// The most routes one batch creates.
pub const MAX_BATCH: usize = 100;

/// `GET /admin/routes`: `service_name`, `is_active`, `include_deleted`, `page`, `size`.
pub fn list(query: &str) -> Result<Response, Failure> {
    let page = answer(admin::list("routes", query))?;
    Ok(success(
        200,
        "獲取路由配置成功",
        json!({ "total": page["total"], "routes": page["items"] }),
    ))
}

/// `GET /admin/routes/{route_id}`.
pub fn get(id: &str) -> Result<Response, Failure> {
    let route = answer(admin::get("routes", id))?;
    Ok(success(200, "獲取路由配置成功", route))
}

/// `POST /admin/routes`.
pub fn create(body: &Map<String, Value>) -> Result<Response, Failure> {
    let route = created(body)?;
    Ok(success(
        201,
        "創建路由配置成功",
        summary(&route, "created_at"),
    ))
}

/// `PUT /admin/routes/{route_id}`: changes the fields sent.
pub fn update(id: &str, body: &Map<String, Value>) -> Result<Response, Failure> {
    let route = answer(admin::put(
        "routes",
        Some(id),
        &Value::Object(body.clone()).to_string(),
    ))?;
    Ok(success(
        200,
        "更新路由配置成功",
        json!({
            "route_id": route["id"],
            "updated_fields": body.keys().collect::<Vec<_>>(),
            "updated_at": route["updated_at"],
        }),
    ))
}

/// `DELETE /admin/routes/{route_id}`: a soft delete.
pub fn delete(id: &str) -> Result<Response, Failure> {
    let route = answer(admin::delete("routes", id))?;
    Ok(success(
        200,
        "刪除路由配置成功",
        json!({ "route_id": route["id"], "deleted_at": route["deleted_at"] }),
    ))
}

/// `POST /admin/batch/routes`: each route is created on its own; the answer has a result
/// per route, failed ones too, and the failures again under `errors`.
pub fn batch(body: &Map<String, Value>) -> Result<Response, Failure> {
    let routes = match body.get("routes") {
        Some(Value::Array(routes)) if !routes.is_empty() && routes.len() <= MAX_BATCH => routes,
        Some(Value::Array(_)) => {
            return Err(Failure::invalid(
                "routes",
                &format!("must hold 1-{MAX_BATCH} routes"),
            ));
        }
        _ => return Err(Failure::invalid("routes", "is required: a list of routes")),
    };
    let mut results = Vec::with_capacity(routes.len());
    let mut errors = Vec::new();
    for (index, route) in routes.iter().enumerate() {
        let outcome = match route {
            Value::Object(route) => created(route),
            _ => Err(Failure::invalid(
                &format!("routes[{index}]"),
                "must be an object",
            )),
        };
        match outcome {
            Ok(route) => results.push(json!({
                "index": index,
                "status": "success",
                "data": summary(&route, "created_at"),
            })),
            Err(failure) => {
                let error = json!({
                    "index": index,
                    "code": failure.code,
                    "msg": failure.msg,
                    "content": failure.content,
                });
                results.push(json!({ "index": index, "status": "failed", "error": error }));
                errors.push(error);
            }
        }
    }
    Ok(success(
        200,
        "批量創建路由完成",
        json!({
            "total": routes.len(),
            "successful": routes.len() - errors.len(),
            "failed": errors.len(),
            "results": results,
            "errors": errors,
        }),
    ))
}

fn created(body: &Map<String, Value>) -> Result<Value, Failure> {
    answer(admin::put(
        "routes",
        None,
        &Value::Object(body.clone()).to_string(),
    ))
}

/// The contract's short form of a created route.
fn summary(route: &Value, time: &str) -> Value {
    let mut summary = pick(route, &["service_name", "path_pattern", time]);
    summary["route_id"] = route["id"].clone();
    summary
}
