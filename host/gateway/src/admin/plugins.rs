//! `plugins`: every plugin serving now, with its roles, capabilities, the digest of its
//! component, when that version loaded and why a newer one was refused; and `reloads`,
//! which applies what changed on disk now, as a file change would.

use std::time::UNIX_EPOCH;

use archway_proxy::timestamp;
use archway_runtime::{AdminError, Plugin};
use serde_json::{Value, json};

use super::input::Query;
use super::{AdminApi, not_found, page};
use crate::status::{PluginStatus, hex};

/// One plugin.
pub(super) async fn get(api: &AdminApi, name: &str) -> Result<Value, AdminError> {
    items(api)?
        .into_iter()
        .find(|item| item["name"] == name)
        .ok_or_else(|| not_found("plugin", name))
}

/// Every plugin by name (`page`, `size`).
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let (total, items) = query.page(items(api)?)?;
    Ok(page(total, items))
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
        "plugins": items(api)?,
    }))
}

/// Every plugin serving now, by name, with its reload status (read once).
fn items(api: &AdminApi) -> Result<Vec<Value>, AdminError> {
    let serving = api.serving()?;
    let statuses = api.reloader()?.plugin_status();
    let mut plugins: Vec<_> = serving.plugins().values().collect();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(plugins
        .into_iter()
        .map(|plugin| {
            let status = statuses.iter().find(|s| s.name == plugin.name());
            item(plugin, status)
        })
        .collect())
}

fn item(plugin: &Plugin, status: Option<&PluginStatus>) -> Value {
    let settings = plugin.settings();
    let source = match &settings.source {
        archway_config::PluginSource::Builtin(name) => json!({ "builtin": name }),
        archway_config::PluginSource::Path(path) => json!({ "path": path }),
    };
    let loaded_at = status.and_then(|s| s.loaded_at.duration_since(UNIX_EPOCH).ok());
    json!({
        "id": plugin.name(),
        "name": plugin.name(),
        "source": source,
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
