//! `tenants`: the catalogue of tenants. An API key made through the admin API names a
//! tenant from it, and a tenant that live keys name cannot be deleted.

use archway_proxy::timestamp;
use archway_runtime::AdminError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::input::{self, Query};
use super::{AdminApi, not_found, page};
use crate::state::Kind;

/// A tenant, under its `tenant_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantRecord {
    tenant_id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "timestamp::now")]
    created_at: String,
    #[serde(default)]
    updated_at: Option<String>,
}

/// One tenant.
pub(super) async fn get(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let record = find(api, id).await?;
    Ok(item(&record))
}

/// Every tenant by id (`page`, `size`).
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let records: Vec<TenantRecord> = api.state.list(Kind::Tenant).await?;
    let (total, items) = query.page(records.iter().map(item).collect())?;
    Ok(page(total, items))
}

/// Creates a tenant: `tenant_id` (letters, digits, `-`, `_`; 1-64), `name`, `description`.
pub(super) async fn create(api: &AdminApi, body: Map<String, Value>) -> Result<Value, AdminError> {
    input::require(&body, "tenant_id")?;
    input::require(&body, "name")?;
    for field in ["created_at", "updated_at"] {
        input::refuse(&body, field, "is set by the gateway")?;
    }
    let record: TenantRecord = input::record(body)?;
    check(&record)?;
    if !api
        .state
        .create(Kind::Tenant, &record.tenant_id, &record)
        .await?
    {
        return Err(AdminError::Conflict(format!(
            "tenant {:?} already exists",
            record.tenant_id
        )));
    }
    Ok(item(&record))
}

/// Changes a tenant's `name` or `description`.
pub(super) async fn update(
    api: &AdminApi,
    id: &str,
    body: Map<String, Value>,
) -> Result<Value, AdminError> {
    let current = find(api, id).await?;
    for field in ["tenant_id", "created_at", "updated_at"] {
        input::refuse(&body, field, "cannot be changed")?;
    }
    let mut merged = input::fields(&current);
    merged.extend(body);
    let mut record: TenantRecord = input::record(merged)?;
    check(&record)?;
    record.updated_at = Some(timestamp::now());
    api.state.put(Kind::Tenant, id, &record).await?;
    Ok(item(&record))
}

/// Deletes a tenant no live API key names and with no uploaded plugins.
pub(super) async fn delete(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let record = find(api, id).await?;
    let keys = super::api_keys::live_for_tenant(api, id).await?;
    if keys > 0 {
        return Err(AdminError::Conflict(format!(
            "tenant {id:?} has {keys} live API key(s): revoke them first"
        )));
    }
    let uploads = api.reloader()?.uploads().tenant_plugins().await?;
    if uploads.iter().any(|plugin| plugin.tenant == id) {
        return Err(AdminError::Conflict(format!(
            "tenant {id:?} has uploaded plugins: delete them first"
        )));
    }
    api.state.delete(Kind::Tenant, id).await?;
    Ok(item(&record))
}

/// Whether tenant `id` exists.
pub(super) async fn exists(api: &AdminApi, id: &str) -> Result<bool, AdminError> {
    Ok(api
        .state
        .get::<TenantRecord>(Kind::Tenant, id)
        .await?
        .is_some())
}

async fn find(api: &AdminApi, id: &str) -> Result<TenantRecord, AdminError> {
    api.state
        .get(Kind::Tenant, id)
        .await?
        .ok_or_else(|| not_found("tenant", id))
}

fn check(record: &TenantRecord) -> Result<(), AdminError> {
    input::length("tenant_id", &record.tenant_id, 1, 64)?;
    if !record
        .tenant_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AdminError::invalid(
            "tenant_id",
            "may hold only letters, digits, '-' and '_'",
        ));
    }
    input::length("name", &record.name, 1, 100)?;
    if let Some(description) = &record.description {
        input::length("description", description, 0, 500)?;
    }
    Ok(())
}

fn item(record: &TenantRecord) -> Value {
    let mut item = input::fields(record);
    item.insert("id".to_owned(), Value::from(record.tenant_id.clone()));
    Value::Object(item)
}
