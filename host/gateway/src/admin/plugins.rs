//! `plugins`: every plugin serving now, with its roles, capabilities, the digest of its
//! component, when that version loaded, its uploaded version and why a newer one was
//! refused; uploads of new versions, checked like a hot reload before they are stored;
//! and `reloads`, which applies what changed on disk now, as a file change would.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use archway_config::{PluginConfig, PluginSource};
use archway_proxy::timestamp;
use archway_runtime::{AdminError, ComponentBytes, Plugin};
use serde_json::{Map, Value, json};

use super::input::Query;
use super::{AdminApi, not_found, page};
use crate::canaries::{self, Outcome, Verdict};
use crate::state::Kind;
use crate::status::{PluginStatus, hex};
use crate::uploads::{MAX_COMPONENT_BYTES, UploadRecord};

/// One plugin.
pub(super) async fn get(api: &AdminApi, name: &str) -> Result<Value, AdminError> {
    items(api)
        .await?
        .into_iter()
        .find(|item| item["name"] == name)
        .ok_or_else(|| not_found("plugin", name))
}

/// Every plugin by name (`page`, `size`).
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let (total, items) = query.page(items(api).await?)?;
    Ok(page(total, items))
}

/// Serves `component` as the new version of plugin `name` on every node, once it has
/// passed the checks of a hot reload; a version that fails is refused and the serving
/// one stays.
pub(super) async fn upload(
    api: &AdminApi,
    name: &str,
    component: Vec<u8>,
    uploaded_by: Option<String>,
) -> Result<Value, AdminError> {
    let settings = taking_uploads(api, name)?;
    if component.len() > MAX_COMPONENT_BYTES {
        return Err(AdminError::invalid(
            "component",
            format!(
                "is {} bytes; the most is {MAX_COMPONENT_BYTES}",
                component.len()
            ),
        ));
    }
    let component = ComponentBytes::new(component);
    let reloader = api.reloader()?;
    reloader
        .check_version(&settings, &component)
        .await
        .map_err(|error| AdminError::invalid("component", format!("{error:#}")))?;
    reloader
        .uploads()
        .save(name, &component, uploaded_by)
        .await?;
    reloader.reload().await;
    get(api, name).await
}

/// Forgets the uploaded version of plugin `name`, once its configured source has passed
/// the checks of a hot reload; its source serves again on every node.
pub(super) async fn remove_upload(api: &AdminApi, name: &str) -> Result<Value, AdminError> {
    let settings = taking_uploads(api, name)?;
    let reloader = api.reloader()?;
    if reloader.uploads().record(name).await?.is_none() {
        return Err(AdminError::NotFound(format!(
            "plugin {name:?} has no uploaded version"
        )));
    }
    let source = crate::compose::read_component(&settings, None)
        .await
        .map_err(|error| AdminError::Conflict(format!("{error:#}")))?;
    reloader
        .check_version(&settings, &source)
        .await
        .map_err(|error| {
            AdminError::Conflict(format!(
                "the configured source of plugin {name:?} cannot serve: {error:#}"
            ))
        })?;
    reloader.uploads().remove(name).await?;
    reloader.reload().await;
    get(api, name).await
}

/// The serving settings of plugin `name`, which must take uploads.
fn taking_uploads(api: &AdminApi, name: &str) -> Result<PluginConfig, AdminError> {
    let serving = api.serving()?;
    let settings = serving
        .config()
        .plugins
        .iter()
        .find(|plugin| plugin.name == name)
        .ok_or_else(|| not_found("plugin", name))?;
    match settings.uploads {
        true => Ok(settings.clone()),
        false => Err(AdminError::Conflict(format!(
            "plugin {name:?} takes no uploads: set `uploads = true` in its [[plugins]] entry"
        ))),
    }
}

/// Reloads what changed on disk (the config file, plugin files, key and certificate
/// files); a refused version keeps the old one serving and shows in `last_error`.
pub(super) async fn reload(api: &AdminApi) -> Result<Value, AdminError> {
    let reloader = api.reloader()?;
    reloader.reload().await;
    let now = timestamp::now();
    Ok(json!({
        "id": now,
        "reloaded_at": now,
        "config_error": reloader.config_status().last_error,
        "plugins": items(api).await?,
    }))
}

/// Every plugin serving now, by name, with its reload status and uploaded version (each
/// read once).
async fn items(api: &AdminApi) -> Result<Vec<Value>, AdminError> {
    let serving = api.serving()?;
    let statuses = api.reloader()?.plugin_status();
    let uploads: HashMap<String, UploadRecord> =
        api.state.entries(Kind::Plugin).await?.into_iter().collect();
    let verdicts: HashMap<String, Verdict> =
        api.state.entries(Kind::Canary).await?.into_iter().collect();
    let mut plugins: Vec<_> = serving
        .plugins()
        .values()
        .filter(|plugin| plugin.settings().tenant.is_none())
        .collect();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(plugins
        .into_iter()
        .map(|plugin| {
            let status = statuses.iter().find(|s| s.name == plugin.name());
            let mut item = item(plugin, status, uploads.get(plugin.name()));
            item["canary"] = canary(plugin, verdicts.get(plugin.name()));
            item
        })
        .collect())
}

pub(super) fn item(
    plugin: &Plugin,
    status: Option<&PluginStatus>,
    upload: Option<&UploadRecord>,
) -> Value {
    let settings = plugin.settings();
    let source = match &settings.source {
        PluginSource::Builtin(name) => json!({ "builtin": name }),
        PluginSource::Path(path) => json!({ "path": path }),
        PluginSource::Uploaded => json!({ "store": plugin.name() }),
    };
    let loaded_at = status.and_then(|s| s.loaded_at.duration_since(UNIX_EPOCH).ok());
    json!({
        "id": plugin.name(),
        "name": plugin.name(),
        "source": source,
        "uploads": settings.uploads,
        "upload": upload.filter(|_| settings.uploads),
        "roles": plugin.roles().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "capabilities": settings.capabilities,
        "instances": settings.instances,
        "digest": format!("sha256:{}", hex(&plugin.content_hash())),
        "loaded_at": loaded_at.map(|d| timestamp::format(d.as_secs())),
        "last_error": status.and_then(|s| s.last_error.clone()),
        "reloads": status.map_or(0, |s| s.reloads),
        "failed_reloads": status.map_or(0, |s| s.failed_reloads),
    })
}

/// A plugin's canary: its rules, whether it runs (`active`), rolled back or was
/// promoted, its calls and failures in the current window, and the verdict on it.
fn canary(plugin: &Plugin, verdict: Option<&Verdict>) -> Value {
    let Some(rules) = &plugin.settings().canary else {
        return Value::Null;
    };
    let running = plugin.canary();
    let state = match (&running, verdict) {
        (Some(running), _) if !running.rolled_back => "active",
        (Some(_), _) => "rolled_back",
        (None, Some(verdict)) => match verdict.outcome {
            Outcome::RolledBack => "rolled_back",
            Outcome::Promoted => "promoted",
        },
        (None, None) => "not_loaded",
    };
    json!({
        "path": rules.path,
        "percent": rules.percent,
        "tenants": rules.tenants,
        "max_error_rate": rules.max_error_rate,
        "window_seconds": rules.window_seconds,
        "min_calls": rules.min_calls,
        "state": state,
        "digest": running.as_ref().map(|r| format!("sha256:{}", hex(&r.digest))),
        "calls": running.as_ref().map_or(0, |r| r.calls),
        "failures": running.as_ref().map_or(0, |r| r.failures),
        "verdict": verdict.filter(|_| state != "active"),
    })
}

/// Rolls back or promotes (`{"action": "rollback" | "promote"}`) the canary of plugin
/// `name` on every node. Promoting stores the canary's component as the plugin's
/// uploaded version, so the plugin must take uploads.
pub(super) async fn decide_canary(
    api: &AdminApi,
    name: &str,
    body: Map<String, Value>,
) -> Result<Value, AdminError> {
    let serving = api.serving()?;
    let plugin = serving
        .plugins()
        .get(name)
        .filter(|plugin| plugin.settings().tenant.is_none())
        .ok_or_else(|| not_found("plugin", name))?;
    let running = plugin
        .canary()
        .filter(|running| !running.rolled_back)
        .ok_or_else(|| AdminError::Conflict(format!("plugin {name:?} has no active canary")))?;
    let outcome = match body.get("action").and_then(Value::as_str) {
        Some("rollback") => Outcome::RolledBack,
        Some("promote") => Outcome::Promoted,
        _ => return Err(AdminError::invalid("action", "must be rollback or promote")),
    };
    let reloader = api.reloader()?;
    if outcome == Outcome::Promoted {
        let settings = plugin.settings();
        if !settings.uploads {
            return Err(AdminError::Conflict(format!(
                "plugin {name:?} takes no uploads: promote it in the config file (the canary's \
                 path as the plugin's path) or set `uploads = true`"
            )));
        }
        let component = canaries::active(settings, None)
            .await
            .map_err(|error| AdminError::Conflict(format!("{error:#}")))?
            .filter(|component| component.hash() == running.digest)
            .ok_or_else(|| {
                AdminError::Conflict("the canary's file changed since it loaded".to_owned())
            })?;
        reloader.uploads().save(name, &component, None).await?;
    }
    let verdict = Verdict {
        digest: hex(&running.digest),
        outcome,
        reason: "through the admin API".to_owned(),
        at: timestamp::now(),
        by: "admin".to_owned(),
    };
    canaries::record(&api.state, name, &verdict).await?;
    reloader.reload().await;
    get(api, name).await
}
