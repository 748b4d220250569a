//! Reads each plugin's component (embedded in the binary or from its file) and loads it
//! into the runtime.

use std::borrow::Cow;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use archway_config::{Config, PluginConfig, PluginSource};
use archway_proxy::Plugins;
use archway_runtime::{ComponentBytes, LoadError, Plugin, Runtime};

use crate::builtin;

/// Every plugin in the config, loaded and started once.
pub async fn load_plugins(runtime: &Runtime, config: &Config) -> anyhow::Result<Plugins> {
    let mut plugins = Plugins::new();
    for settings in &config.plugins {
        let component = read_component(settings).await?;
        let plugin = Plugin::load(runtime, settings, &component).await?;
        plugins.insert(settings.name.clone(), Arc::new(plugin));
    }
    Ok(plugins)
}

/// A plugin's component, embedded in the binary or read from its file, and hashed; the
/// file read and the hash run on a blocking thread, off the request workers.
pub async fn read_component(settings: &PluginConfig) -> anyhow::Result<ComponentBytes> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || component_bytes(&settings).map(ComponentBytes::new))
        .await
        .context("the component reader thread failed")?
}

fn component_bytes(config: &PluginConfig) -> anyhow::Result<Cow<'static, [u8]>> {
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
