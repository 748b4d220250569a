//! Puts a gateway together from a config: reads each plugin's component (embedded or
//! from its file), loads it into the runtime, and builds the routing snapshot.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use archway_config::{Config, PluginConfig, PluginSource};
use archway_proxy::Snapshot;
use archway_runtime::{LoadError, Plugin, Runtime};

use crate::builtin;

/// Every plugin in the config, loaded and started once.
pub fn load_plugins(
    runtime: &Runtime,
    config: &Config,
) -> anyhow::Result<HashMap<String, Arc<Plugin>>> {
    config
        .plugins
        .iter()
        .map(|plugin| {
            let bytes = read_component(plugin)?;
            let loaded = Plugin::load(runtime, plugin, &bytes)?;
            Ok((plugin.name.clone(), Arc::new(loaded)))
        })
        .collect()
}

/// A plugin's component bytes: embedded in the binary, or read from its file.
pub fn read_component(config: &PluginConfig) -> anyhow::Result<Cow<'static, [u8]>> {
    match &config.source {
        PluginSource::Builtin(name) => {
            builtin::component(name).map(Cow::Borrowed).ok_or_else(|| {
                let known = builtin::names().collect::<Vec<_>>().join(", ");
                anyhow!(
                    "plugin {}: no builtin plugin named {name:?} (builtins: {known})",
                    config.name
                )
            })
        }
        PluginSource::Path(path) => std::fs::read(path).map(Cow::Owned).map_err(|source| {
            LoadError::Read {
                plugin: config.name.clone(),
                path: path.clone(),
                source,
            }
            .into()
        }),
    }
}

/// The snapshot for a config, with its plugins loaded.
pub fn snapshot(
    runtime: &Runtime,
    config: &Config,
) -> anyhow::Result<(Snapshot, HashMap<String, Arc<Plugin>>)> {
    let plugins = load_plugins(runtime, config)?;
    let snapshot = Snapshot::build(config, &plugins).context("cannot build the routing table")?;
    Ok((snapshot, plugins))
}
