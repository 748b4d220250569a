//! Hot reload: re-reads the config file and every plugin's component, loads what changed
//! off the request path (compile, import check, one instance through `init`), checks the
//! routes still fit, and only then swaps the whole routing snapshot. A version that fails
//! any step is refused: the previous one keeps serving, and the error is logged (target
//! `archway.reload`), counted (`archway_plugin_reload_failures_total`,
//! `archway_config_reload_failures_total`) and kept in the status registry.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use archway_config::{Config, PluginConfig, PluginSource};
use archway_proxy::Proxy;
use archway_runtime::{Plugin, Runtime};

use crate::compose;
use crate::state::GatewayState;
use crate::status::{ConfigStatus, PluginStatus, StatusRegistry, hex};
use crate::sync::{self, Base, Routing};

/// What a plugin was loaded from: its settings and its component's content hash.
#[derive(Clone, PartialEq)]
struct Source {
    settings: PluginConfig,
    hash: [u8; 32],
}

/// A plugin serving now and where it came from.
struct Serving {
    source: Source,
    plugin: Arc<Plugin>,
}

/// What the reloader remembers between runs, to skip what did not change.
struct Memory {
    config_path: Option<PathBuf>,
    config_hash: Option<[u8; 32]>,
    serving: HashMap<String, Serving>,
    /// The last version refused per plugin: not retried until its file or settings change.
    refused: HashMap<String, Source>,
}

/// One plugin of a config being applied.
enum Staged {
    /// The serving plugin, unchanged (or its new version was refused).
    Kept(Arc<Plugin>),
    /// A new version, loaded and started; `previous` serves if the routes refuse it.
    Fresh {
        plugin: Arc<Plugin>,
        source: Source,
        previous: Option<Arc<Plugin>>,
    },
}

/// Applies changed config and plugin files to a running gateway.
pub(crate) struct Reloader {
    runtime: Arc<Runtime>,
    routing: Arc<Routing>,
    state: GatewayState,
    proxy: Arc<Proxy>,
    memory: Mutex<Memory>,
    status: StatusRegistry,
}

/// Reads a config file, returning it with the content hash of its text.
pub(crate) fn read_config(path: &Path) -> anyhow::Result<(Config, [u8; 32])> {
    let text = read_config_text(path)?;
    let config = parse_config(path, &text)?;
    Ok((config, Runtime::content_hash(text.as_bytes())))
}

fn read_config_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))
}

fn parse_config(path: &Path, text: &str) -> anyhow::Result<Config> {
    let base = path.parent().unwrap_or(Path::new("."));
    Config::from_toml_str(text, base).with_context(|| format!("config {}", path.display()))
}

/// The settings that changed between `old` and `new` but only take effect on restart.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    [
        ("server.listen", old.server.listen != new.server.listen),
        ("server.workers", old.server.workers != new.server.workers),
        (
            "server.shutdown_grace_seconds",
            old.server.shutdown_grace_seconds != new.server.shutdown_grace_seconds,
        ),
        (
            "server.cache_dir",
            old.server.cache_dir != new.server.cache_dir,
        ),
        ("log", old.log != new.log),
        ("store", old.store != new.store),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

impl Reloader {
    /// A reloader for a gateway serving `routing`.
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        routing: Arc<Routing>,
        state: GatewayState,
        proxy: Arc<Proxy>,
    ) -> Self {
        let base = routing.base.load();
        let serving = base
            .config
            .plugins
            .iter()
            .filter_map(|settings| {
                let plugin = base.plugins.get(&settings.name)?;
                let serving = Serving {
                    source: Source {
                        settings: settings.clone(),
                        hash: plugin.content_hash(),
                    },
                    plugin: plugin.clone(),
                };
                Some((settings.name.clone(), serving))
            })
            .collect::<HashMap<_, _>>();
        drop(base);
        let status = StatusRegistry::new(
            serving
                .iter()
                .map(|(name, serving)| (name.as_str(), &serving.source.hash)),
        );
        Self {
            runtime,
            routing,
            state,
            proxy,
            memory: Mutex::new(Memory {
                config_path: None,
                config_hash: None,
                serving,
                refused: HashMap::new(),
            }),
            status,
        }
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().expect("reload memory lock")
    }

    /// Every plugin's reload status.
    pub(crate) fn plugin_status(&self) -> Vec<PluginStatus> {
        self.status.plugins()
    }

    /// The config's reload status.
    pub(crate) fn config_status(&self) -> ConfigStatus {
        self.status.config()
    }

    /// Ties the serving config to the file `path` whose text hashed to `hash`.
    pub(crate) fn watch_config(&self, path: &Path, hash: [u8; 32]) {
        let mut memory = self.memory();
        memory.config_path = Some(path.to_owned());
        memory.config_hash = Some(hash);
        self.status.watching(path.to_owned());
    }

    /// The files whose changes matter: the config file and every plugin file.
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        let config_path = self.memory().config_path.clone();
        let base = self.routing.base.load();
        let plugin_paths = base.config.plugins.iter().filter_map(|p| match &p.source {
            PluginSource::Path(path) => Some(path.clone()),
            PluginSource::Builtin(_) => None,
        });
        config_path.into_iter().chain(plugin_paths).collect()
    }

    /// Applies whatever changed on disk since the last run; never fails: a refused
    /// version is reported and the previous one keeps serving.
    pub(crate) async fn reload(self: &Arc<Self>) {
        let this = self.clone();
        let changed_config = tokio::task::spawn_blocking(move || this.changed_config())
            .await
            .expect("reading the config does not panic");
        if let Some(config) = changed_config {
            let restart_only = restart_only_changes(&self.routing.base.load().config, &config);
            match self.apply(config, true).await {
                Ok(()) => {
                    self.status.config_applied();
                    tracing::info!(target: "archway.reload", "config reloaded");
                    if !restart_only.is_empty() {
                        tracing::warn!(
                            target: "archway.reload",
                            keys = restart_only.join(", "),
                            "these config changes take effect only after a restart"
                        );
                    }
                    return;
                }
                Err(error) => self.refuse_config(&format!("{error:#}")),
            }
        }
        let config = self.routing.base.load().config.clone();
        if let Err(error) = self.apply(config, false).await {
            tracing::error!(
                target: "archway.reload",
                error = format!("{error:#}"),
                "plugin reload failed; the current routes keep serving"
            );
        }
    }

    /// The config file's new contents, if they changed and are valid; a refused config
    /// is reported here.
    fn changed_config(&self) -> Option<Config> {
        let path = self.memory().config_path.clone()?;
        let text = match read_config_text(&path) {
            Ok(text) => text,
            Err(error) => {
                self.refuse_config(&format!("{error:#}"));
                return None;
            }
        };
        let hash = Runtime::content_hash(text.as_bytes());
        if self.memory().config_hash.replace(hash) == Some(hash) {
            return None;
        }
        match parse_config(&path, &text) {
            Err(error) => {
                self.refuse_config(&format!("{error:#}"));
                None
            }
            Ok(config) if config == self.routing.base.load().config => {
                self.status.config_current();
                None
            }
            Ok(config) => Some(config),
        }
    }

    /// Loads the plugins of `config` that changed, checks the routes against them and
    /// swaps the snapshot. Fails, changing nothing, when the config itself does not work
    /// (a plugin it adds or re-configures fails to load, a route does not fit).
    async fn apply(self: &Arc<Self>, config: Config, config_changed: bool) -> anyhow::Result<()> {
        let this = self.clone();
        let (config, staged) = tokio::task::spawn_blocking(move || {
            let staged = this.stage(&config);
            (config, staged)
        })
        .await
        .expect("staging plugins does not panic");
        let staged = staged?;
        let any_fresh = staged.values().any(|s| matches!(s, Staged::Fresh { .. }));
        if !config_changed && !any_fresh {
            self.forget_unused();
            return Ok(());
        }

        let mut optional = Vec::new();
        let mut accepted = Vec::new();
        let mut plugins = HashMap::new();
        for (name, staged) in staged {
            let serving = match staged {
                Staged::Kept(plugin) => plugin,
                Staged::Fresh {
                    plugin,
                    source,
                    previous: None,
                } => {
                    accepted.push((name.clone(), source, plugin.clone()));
                    plugin
                }
                Staged::Fresh {
                    plugin,
                    source,
                    previous: Some(previous),
                } => {
                    optional.push((name.clone(), source, plugin));
                    previous
                }
            };
            plugins.insert(name, serving);
        }
        let _rebuilding = self.routing.rebuilding().await;
        let mut base = Base { config, plugins };
        let mut snapshot = sync::snapshot(&base, &self.state).await?;
        // A new version of an unchanged plugin goes in only if every route still fits it;
        // otherwise it alone is refused.
        optional.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, source, plugin) in optional {
            let mut plugins = base.plugins.clone();
            plugins.insert(name.clone(), plugin.clone());
            let trial = Base {
                config: base.config.clone(),
                plugins,
            };
            match sync::snapshot(&trial, &self.state).await {
                Ok(fits) => {
                    snapshot = fits;
                    base = trial;
                    accepted.push((name, source, plugin));
                }
                Err(error) => self.refuse_plugin(&name, &format!("{error:#}"), Some(source)),
            }
        }

        let names: HashSet<String> = base.config.plugins.iter().map(|p| p.name.clone()).collect();
        self.routing.base.store(Arc::new(base));
        self.proxy.swap(snapshot);
        {
            let mut memory = self.memory();
            memory.serving.retain(|name, _| names.contains(name));
            memory.refused.retain(|name, _| names.contains(name));
            for (name, source, plugin) in accepted {
                tracing::info!(
                    target: "archway.reload",
                    plugin = name,
                    content_hash = hex(&source.hash),
                    "plugin reloaded"
                );
                metrics::counter!("archway_plugin_reloads_total", "plugin" => name.clone())
                    .increment(1);
                self.status.plugin_loaded(&name, &source.hash);
                memory.refused.remove(&name);
                memory.serving.insert(name, Serving { source, plugin });
            }
        }
        self.status.retain_plugins(|name| names.contains(name));
        self.forget_unused();
        Ok(())
    }

    /// Reads each plugin of `config` and loads those whose component or settings changed.
    /// A plugin that fails keeps its serving version if its settings did not change;
    /// otherwise the config cannot apply and this fails.
    fn stage(&self, config: &Config) -> anyhow::Result<HashMap<String, Staged>> {
        config
            .plugins
            .iter()
            .map(|settings| Ok((settings.name.clone(), self.stage_one(settings)?)))
            .collect()
    }

    fn stage_one(&self, settings: &PluginConfig) -> anyhow::Result<Staged> {
        let name = &settings.name;
        let (previous, serving_hash, refused_hash) = {
            let memory = self.memory();
            let same_settings = |source: &Source| source.settings == *settings;
            let serving = memory
                .serving
                .get(name)
                .filter(|s| same_settings(&s.source));
            (
                serving.map(|s| s.plugin.clone()),
                serving.map(|s| s.source.hash),
                memory
                    .refused
                    .get(name)
                    .filter(|r| same_settings(r))
                    .map(|r| r.hash),
            )
        };
        let bytes = match compose::read_component(settings) {
            Ok(bytes) => bytes,
            Err(error) => return self.keep_previous(name, previous, error, None),
        };
        let hash = Runtime::content_hash(&bytes);
        if let Some(previous) = &previous {
            if serving_hash == Some(hash) {
                self.status.plugin_current(name);
                return Ok(Staged::Kept(previous.clone()));
            }
            if refused_hash == Some(hash) {
                return Ok(Staged::Kept(previous.clone()));
            }
        }
        let source = Source {
            settings: settings.clone(),
            hash,
        };
        match Plugin::load(&self.runtime, settings, &bytes) {
            Ok(plugin) => Ok(Staged::Fresh {
                plugin: Arc::new(plugin),
                source,
                previous,
            }),
            Err(error) => self.keep_previous(name, previous, error.into(), Some(source)),
        }
    }

    /// Refuses a version that failed to load if `previous` can keep serving; otherwise
    /// the failure is the config's.
    fn keep_previous(
        &self,
        name: &str,
        previous: Option<Arc<Plugin>>,
        error: anyhow::Error,
        source: Option<Source>,
    ) -> anyhow::Result<Staged> {
        match previous {
            Some(previous) => {
                self.refuse_plugin(name, &format!("{error:#}"), source);
                Ok(Staged::Kept(previous))
            }
            None => Err(error),
        }
    }

    /// Reports a refused plugin version; the previous one keeps serving.
    fn refuse_plugin(&self, name: &str, error: &str, source: Option<Source>) {
        tracing::error!(
            target: "archway.reload",
            plugin = name,
            error,
            "plugin version refused; the previous version keeps serving"
        );
        metrics::counter!("archway_plugin_reload_failures_total", "plugin" => name.to_owned())
            .increment(1);
        self.status.plugin_refused(name, error);
        if let Some(source) = source {
            self.memory().refused.insert(name.to_owned(), source);
        }
    }

    /// Reports a refused config; the previous one keeps serving.
    fn refuse_config(&self, error: &str) {
        tracing::error!(
            target: "archway.reload",
            error,
            "config refused; the previous config keeps serving"
        );
        metrics::counter!("archway_config_reload_failures_total").increment(1);
        self.status.config_refused(error);
    }

    /// Drops compiled components no serving plugin uses from the in-memory cache.
    fn forget_unused(&self) {
        let in_use = self
            .memory()
            .serving
            .values()
            .map(|s| s.source.hash)
            .collect();
        self.runtime.retain_compiled(&in_use);
    }
}
