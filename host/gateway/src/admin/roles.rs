//! `roles`: the permissions each role grants. Roles from the config file are listed,
//! read-only; a role managed here adds its permissions to a file role of the same name.

use archway_runtime::AdminError;
use serde_json::{Map, Value, json};

use super::input::{self, Query};
use super::{AdminApi, not_found, page};
use crate::state::{Kind, RoleRecord};

/// One role: the file's and the managed grants, and what they add up to.
pub(super) async fn get(api: &AdminApi, name: &str) -> Result<Value, AdminError> {
    let serving = api.serving()?;
    let file = serving.config().roles.get(name);
    let managed: Option<RoleRecord> = api.state.get(Kind::Role, name).await?;
    if file.is_none() && managed.is_none() {
        return Err(not_found("role", name));
    }
    Ok(item(name, file, managed.as_ref()))
}

/// Every role by name (`page`, `size`).
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let serving = api.serving()?;
    let file = &serving.config().roles;
    let managed: Vec<(String, RoleRecord)> = api.state.entries(Kind::Role).await?;
    let mut names: Vec<&String> = file.keys().chain(managed.iter().map(|(n, _)| n)).collect();
    names.sort();
    names.dedup();
    let items = names
        .into_iter()
        .map(|name| {
            let record = managed.iter().find(|(n, _)| n == name).map(|(_, r)| r);
            item(name, file.get(name), record)
        })
        .collect();
    let (total, items) = query.page(items)?;
    Ok(page(total, items))
}

/// Creates (`name` in the body) or replaces (by name) a managed role's permissions.
pub(super) async fn put(
    api: &AdminApi,
    name: Option<&str>,
    mut body: Map<String, Value>,
) -> Result<Value, AdminError> {
    let name = match (name, body.remove("name")) {
        (Some(name), None) => name.to_owned(),
        (None, Some(Value::String(name))) => name,
        (Some(_), Some(_)) => return Err(AdminError::invalid("name", "cannot be changed")),
        (None, _) => return Err(AdminError::invalid("name", "is required: a string")),
    };
    input::length("name", &name, 1, 100)?;
    input::require(&body, "permissions")?;
    let record: RoleRecord = input::record(body)?;
    for permission in &record.permissions {
        input::length("permissions", permission, 1, 100)?;
    }
    api.state.put(Kind::Role, &name, &record).await?;
    let serving = api.serving()?;
    Ok(item(
        &name,
        serving.config().roles.get(&name),
        Some(&record),
    ))
}

/// Deletes a managed role (the file's grants of the same name stay).
pub(super) async fn delete(api: &AdminApi, name: &str) -> Result<Value, AdminError> {
    let record: RoleRecord = api
        .state
        .get(Kind::Role, name)
        .await?
        .ok_or_else(|| not_found("managed role", name))?;
    api.state.delete(Kind::Role, name).await?;
    Ok(item(name, None, Some(&record)))
}

fn item(name: &str, file: Option<&Vec<String>>, managed: Option<&RoleRecord>) -> Value {
    let mut granted: Vec<&String> = file
        .into_iter()
        .flatten()
        .chain(managed.into_iter().flat_map(|r| &r.permissions))
        .collect();
    granted.sort();
    granted.dedup();
    json!({
        "id": name,
        "name": name,
        "file_permissions": file,
        "managed_permissions": managed.map(|r| &r.permissions),
        "permissions": granted,
    })
}
