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
    let serving = api.serving()?;
    let plugin = serving
        .plugins()
        .get(name)
        .ok_or_else(|| not_found("plugin", name))?;
    Ok(item(plugin, status(api, name).as_ref()))
}

/// Every plugin by name (`page`, `size`).
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let serving = api.serving()?;
    let mut plugins: Vec<_> = serving.plugins().values().collect();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    let items = plugins
        .into_iter()
        .map(|plugin| item(plugin, status(api, plugin.name()).as_ref()))
        .collect();
    let (total, items) = query.page(items)?;
    Ok(page(total, items))
}

/// Reloads what changed on disk (the config file, plugin files, key and certificate
/// files); a refused version keeps the old one serving and shows in `last_error`.
pub(super) async fn reload(api: &AdminApi) -> Result<Value, AdminError> {
    let reloader = api.reloader()?;
    reloader.reload().await;
    let serving = api.serving()?;
    let mut plugins: Vec<_> = serving.plugins().values().collect();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    let config = reloader.config_status();
    Ok(json!({
        "id": timestamp::now(),
        "reloaded_at": timestamp::now(),
        "config_error": config.last_error,
        "plugins": plugins
            .into_iter()
            .map(|plugin| item(plugin, status(api, plugin.name()).as_ref()))
            .collect::<Vec<_>>(),
    }))
}

fn status(api: &AdminApi, name: &str) -> Option<PluginStatus> {
    let reloader = api.reloader().ok()?;
    reloader
        .plugin_status()
        .into_iter()
        .find(|status| status.name == name)
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
