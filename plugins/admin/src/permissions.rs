//! `/admin/permissions`: the permission catalogue.

use archway_sdk::Response;
use archway_sdk::admin;
use archway_sdk::serde_json::{Map, Value, json};

use crate::answer;
use crate::envelope::{Failure, success};

/// `GET /admin/permissions`: `page`, `size`.
pub fn list(query: &str) -> Result<Response, Failure> {
    let page = answer(admin::list("permissions", query))?;
    Ok(success(
        200,
        "獲取權限配置成功",
        json!({ "total": page["total"], "permissions": page["items"] }),
    ))
}

/// `GET /admin/permissions/{id or code}`.
pub fn get(id: &str) -> Result<Response, Failure> {
    let permission = answer(admin::get("permissions", id))?;
    Ok(success(200, "獲取權限配置成功", permission))
}

/// `POST /admin/permissions`.
pub fn create(body: &Map<String, Value>) -> Result<Response, Failure> {
    let permission = answer(admin::put(
        "permissions",
        None,
        &Value::Object(body.clone()).to_string(),
    ))?;
    Ok(success(201, "創建權限成功", permission))
}

/// `DELETE /admin/permissions/{id or code}`: system permissions are refused.
pub fn delete(id: &str) -> Result<Response, Failure> {
    let permission = answer(admin::delete("permissions", id))?;
    Ok(success(200, "刪除權限成功", permission))
}
