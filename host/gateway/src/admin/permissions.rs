//! `permissions`: the catalogue that routes' `required_permissions` and roles draw on.
//! The gateway's own permissions are seeded as system permissions, which cannot be
//! deleted.

use archway_runtime::AdminError;
use serde_json::{Map, Value};

use super::input::{self, Query};
use super::{AdminApi, not_found, page};
use crate::state::{Kind, PermissionRecord};
use archway_proxy::timestamp;

/// The system permissions every gateway has: `(id, code, name, description, actions)`.
const SEEDED: [(&str, &str, &str, &str, &[&str]); 2] = [
    (
        "1",
        "gateway.admin",
        "Gateway administrator",
        "Reads and changes the gateway's configuration through the admin API",
        &["read", "write", "delete"],
    ),
    (
        "2",
        "gateway.read",
        "Gateway reader",
        "Reads the gateway's configuration through the admin API",
        &["read"],
    ),
];

fn seeded() -> impl Iterator<Item = PermissionRecord> {
    SEEDED
        .into_iter()
        .map(|(id, code, name, description, actions)| PermissionRecord {
            id: id.to_owned(),
            permission_code: code.to_owned(),
            permission_name: name.to_owned(),
            description: Some(description.to_owned()),
            resource_type: Some("system".to_owned()),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            is_system: true,
            created_at: timestamp::format(0),
        })
}

/// One permission, by its id or its code.
pub(super) async fn get(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let found = all(api)
        .await?
        .into_iter()
        .find(|p| p.id == id || p.permission_code == id)
        .ok_or_else(|| not_found("permission", id))?;
    Ok(item(&found))
}

/// The system permissions, then the others by code.
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let items = all(api).await?.iter().map(item).collect();
    let (total, items) = query.page(items)?;
    Ok(page(total, items))
}

/// Adds a permission; its code must be new.
pub(super) async fn create(
    api: &AdminApi,
    mut body: Map<String, Value>,
) -> Result<Value, AdminError> {
    input::refuse(&body, "id", "is assigned by the gateway")?;
    input::refuse(&body, "created_at", "is set by the gateway")?;
    for field in ["permission_code", "permission_name"] {
        input::require(&body, field)?;
    }
    body.insert(
        "id".to_owned(),
        Value::from(uuid::Uuid::new_v4().to_string()),
    );
    body.insert("created_at".to_owned(), Value::from(timestamp::now()));
    body.entry("actions")
        .or_insert_with(|| Value::Array(Vec::new()));
    body.entry("is_system").or_insert(Value::Bool(false));
    let record: PermissionRecord = input::record(body)?;
    input::length("permission_code", &record.permission_code, 1, 100)?;
    input::length("permission_name", &record.permission_name, 1, 100)?;
    if let Some(description) = &record.description {
        input::length("description", description, 0, 500)?;
    }
    if let Some(resource_type) = &record.resource_type {
        input::length("resource_type", resource_type, 0, 50)?;
    }
    let code = &record.permission_code;
    let taken = || AdminError::Conflict(format!("permission {code} exists"));
    if seeded().any(|p| &p.permission_code == code) {
        return Err(taken());
    }
    if !api.state.create(Kind::Permission, code, &record).await? {
        return Err(taken());
    }
    Ok(item(&record))
}

/// Deletes a permission that is not a system one.
pub(super) async fn delete(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let found = all(api)
        .await?
        .into_iter()
        .find(|p| p.id == id || p.permission_code == id)
        .ok_or_else(|| not_found("permission", id))?;
    if found.is_system {
        return Err(AdminError::Conflict(format!(
            "{} is a system permission and cannot be deleted",
            found.permission_code
        )));
    }
    api.state
        .delete(Kind::Permission, &found.permission_code)
        .await?;
    Ok(item(&found))
}

async fn all(api: &AdminApi) -> Result<Vec<PermissionRecord>, AdminError> {
    let stored: Vec<PermissionRecord> = api.state.list(Kind::Permission).await?;
    Ok(seeded().chain(stored).collect())
}

fn item(record: &PermissionRecord) -> Value {
    serde_json::to_value(record).expect("permissions serialise to JSON")
}
