//! `api-keys`: the keys of the `api-key-auth` plugin. A key is shown once, in the answer
//! that creates it; the store and every other answer (and the audit log) hold only its
//! record.

use std::time::Duration;

use archway_proxy::timestamp;
use archway_runtime::AdminError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::input::{self, Query};
use super::{AdminApi, not_found, page, store_unavailable};
use crate::keys::{InvalidKey, KeyRecord, KeyStore, NewKey, Revoked, UnknownKey};

/// A key to make, as the API takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    /// Which `api-key-auth` plugin's keys (when the config has several namespaces).
    plugin: Option<String>,
    subject: String,
    tenant: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    expires_in_seconds: Option<u64>,
    per_minute: Option<u32>,
    per_day: Option<u32>,
}

/// One key's record, by its id, in the namespace of the config's `api-key-auth` plugin.
pub(super) async fn get(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let keys = keys(api, None)?;
    let record = records(&keys)
        .await?
        .into_iter()
        .find(|record| record.id == id)
        .ok_or_else(|| not_found("API key", id))?;
    Ok(item(&record))
}

/// Every key's record (`plugin`, `subject`, `include_revoked`, `page`, `size`).
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let keys = keys(api, query.get("plugin"))?;
    let subject = query.get("subject");
    let revoked = query.flag("include_revoked")?.unwrap_or(false);
    let items = records(&keys)
        .await?
        .iter()
        .filter(|r| subject.is_none_or(|s| r.subject == s))
        .filter(|r| revoked || r.revoked_at.is_none())
        .map(item)
        .collect();
    let (total, items) = query.page(items)?;
    Ok(page(total, items))
}

/// Makes a key: the answer is the only place the key itself appears.
pub(super) async fn create(api: &AdminApi, body: Map<String, Value>) -> Result<Value, AdminError> {
    input::require(&body, "subject")?;
    let body: NewKeyBody = input::record(body)?;
    if let Some(tenant) = &body.tenant
        && !super::tenants::exists(api, tenant).await?
    {
        return Err(AdminError::invalid(
            "tenant",
            format!("no tenant {tenant:?}: create it with POST /admin/tenants first"),
        ));
    }
    let keys = keys(api, body.plugin.as_deref())?;
    let new = NewKey {
        subject: body.subject,
        tenant: body.tenant,
        roles: body.roles,
        permissions: body.permissions,
        expires_in: body.expires_in_seconds.map(Duration::from_secs),
        per_minute: body.per_minute,
        per_day: body.per_day,
    };
    let created =
        keys.create(&new)
            .await
            .map_err(|error| match error.downcast_ref::<InvalidKey>() {
                Some(invalid) => AdminError::invalid(invalid.field, invalid.message.clone()),
                None => unavailable(&error),
            })?;
    let mut item = item(&created.record);
    item["key"] = Value::from(created.key);
    Ok(item)
}

/// Revokes a key: it never works again.
pub(super) async fn revoke(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let revoked = keys(api, None)?.revoke(id).await.map_err(|error| {
        match error.downcast_ref::<UnknownKey>() {
            Some(_) => not_found("API key", id),
            None => unavailable(&error),
        }
    })?;
    match revoked {
        Revoked::Now(record) => Ok(item(&record)),
        Revoked::Already(record) => Err(AdminError::Conflict(format!(
            "API key {} was revoked at {}",
            record.id,
            record
                .revoked_at
                .map_or_else(String::new, timestamp::format)
        ))),
    }
}

/// How many keys that are not revoked name tenant `id` (none without one `api-key-auth`
/// plugin in the config).
pub(super) async fn live_for_tenant(api: &AdminApi, id: &str) -> Result<usize, AdminError> {
    let Ok(keys) = keys(api, None) else {
        return Ok(0);
    };
    Ok(records(&keys)
        .await?
        .iter()
        .filter(|r| r.revoked_at.is_none() && r.tenant.as_deref() == Some(id))
        .count())
}

fn keys(api: &AdminApi, plugin: Option<&str>) -> Result<KeyStore, AdminError> {
    let serving = api.serving()?;
    KeyStore::for_plugin(api.state.store().clone(), serving.config(), plugin)
        .map_err(|error| AdminError::NotFound(format!("{error:#}")))
}

async fn records(keys: &KeyStore) -> Result<Vec<KeyRecord>, AdminError> {
    keys.list().await.map_err(|error| unavailable(&error))
}

fn unavailable(error: &anyhow::Error) -> AdminError {
    store_unavailable(&format!("{error:#}"))
}

/// A key's record as the API shows it, with the contract's timestamps.
fn item(record: &KeyRecord) -> Value {
    let at = |secs: Option<u64>| secs.map_or(Value::Null, |s| Value::from(timestamp::format(s)));
    json!({
        "id": record.id,
        "subject": record.subject,
        "tenant": record.tenant,
        "roles": record.roles,
        "permissions": record.permissions,
        "per_minute": record.per_minute,
        "per_day": record.per_day,
        "created_at": timestamp::format(record.created_at),
        "expires_at": at(record.expires_at),
        "revoked_at": at(record.revoked_at),
    })
}
