//! Reads each plugin's component (its uploaded version, or embedded in the binary, or
//! from its file, refused when any user may write the file) and loads it into the runtime.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use archway_config::{Config, PluginConfig, PluginSource};
use archway_proxy::Plugins;
use archway_runtime::{ComponentBytes, LoadError, Plugin, Runtime};

use crate::builtin;
use crate::canaries;
use crate::uploads::Uploads;

/// Every plugin in the config and every tenant plugin uploaded to `uploads`, loaded and
/// started once; a plugin that takes uploads starts on its uploaded version, or on its
/// source when that fails. A tenant's plugin that fails stops the start: its tenant's
/// requests must never run without their policy.
pub(crate) async fn load_plugins(
    runtime: &Runtime,
    config: &Config,
    uploads: Option<&Uploads>,
) -> anyhow::Result<Plugins> {
    let mut plugins = Plugins::new();
    for settings in plugin_settings(config, uploads).await? {
        let canary = canaries::active(&settings, uploads.map(Uploads::state)).await?;
        let uploaded = match uploads.filter(|_| settings.uploads) {
            Some(uploads) => load_uploaded(runtime, &settings, uploads, canary.as_ref()).await,
            None => None,
        };
        let plugin = match uploaded {
            Some(plugin) => plugin,
            None => {
                let store = uploads.filter(|_| settings.source == PluginSource::Uploaded);
                let component = read_component(&settings, store).await?;
                canaries::load(runtime, &settings, &component, canary.as_ref())
                    .await
                    .with_context(|| format!("plugin {}", settings.name))?
            }
        };
        plugins.insert(settings.name.clone(), Arc::new(plugin));
    }
    Ok(plugins)
}

/// The settings of every plugin to serve: the file's plugins and tenant plugins, then the
/// tenants' uploaded plugins in `uploads`.
pub(crate) async fn plugin_settings(
    config: &Config,
    uploads: Option<&Uploads>,
) -> anyhow::Result<Vec<PluginConfig>> {
    let mut settings: Vec<PluginConfig> = config.plugins.clone();
    settings.extend(config.tenant_plugins());
    if let Some(uploads) = uploads {
        let uploaded = uploads
            .tenant_plugins()
            .await
            .context("cannot read the tenants' uploaded plugins")?;
        settings.extend(uploaded.iter().map(|record| record.settings(config)));
    }
    Ok(settings)
}

/// The uploaded version of a plugin, loaded with `canary`; none when there is none or it
/// fails (logged).
async fn load_uploaded(
    runtime: &Runtime,
    settings: &PluginConfig,
    uploads: &Uploads,
    canary: Option<&ComponentBytes>,
) -> Option<Plugin> {
    let loaded = match uploads.component(&settings.name).await {
        Ok(None) => return None,
        Ok(Some(component)) => canaries::load(runtime, settings, &component, canary).await,
        Err(error) => Err(error.into()),
    };
    loaded
        .inspect_err(|error| {
            tracing::error!(
                target: "archway.reload",
                plugin = settings.name,
                error = format!("{error:#}"),
                "the uploaded version cannot serve; serving the configured source"
            );
        })
        .ok()
}

/// A plugin's component, hashed: its uploaded version when it takes uploads and one is
/// stored in `uploads`, else embedded in the binary or read from its file; the file read
/// and the hash run on a blocking thread, off the request workers.
pub(crate) async fn read_component(
    settings: &PluginConfig,
    uploads: Option<&Uploads>,
) -> anyhow::Result<ComponentBytes> {
    if let (PluginSource::Uploaded, Some(tenant), Some(uploads)) =
        (&settings.source, &settings.tenant, uploads)
    {
        let name = settings
            .name
            .strip_prefix(&format!("{tenant}/"))
            .unwrap_or(&settings.name);
        return uploads
            .tenant_component(tenant, name)
            .await?
            .ok_or_else(|| anyhow!("plugin {}: its upload is gone", settings.name));
    }
    if let Some(uploads) = uploads.filter(|_| settings.uploads)
        && let Some(component) = uploads.component(&settings.name).await?
    {
        return Ok(component);
    }
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
        PluginSource::Path(path) => Ok(Cow::Owned(read_plugin_file(&config.name, path)?)),
        PluginSource::Uploaded => Err(anyhow!(
            "plugin {}: an uploaded plugin is read from the store",
            config.name
        )),
    }
}

/// A plugin file's bytes. One that any user may write is refused: whoever can change it
/// can run code in the gateway. The mode is read from the open file, the one read.
fn read_plugin_file(plugin: &str, path: &Path) -> Result<Vec<u8>, LoadError> {
    let read_error = |source| LoadError::Read {
        plugin: plugin.to_owned(),
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    if world_writable(&file).map_err(read_error)? {
        return Err(LoadError::WorldWritable {
            plugin: plugin.to_owned(),
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(read_error)?;
    Ok(bytes)
}

#[cfg(unix)]
fn world_writable(file: &File) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    Ok(file.metadata()?.permissions().mode() & 0o002 != 0)
}

#[cfg(not(unix))]
fn world_writable(_file: &File) -> std::io::Result<bool> {
    Ok(false)
}
