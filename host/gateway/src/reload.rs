//! Hot reload: re-reads the config file and every plugin's component (its file, or its
//! uploaded version in the store), stages what changed
//! off the request path (compile, import check, one instance through `init`), and hands
//! the staged plugin set to the snapshot builder, which checks the routes still fit
//! before the whole snapshot is swapped. A version that fails
//! any step is refused: the previous one keeps serving, and the error is logged (target
//! `archway.reload`), counted (`archway_plugin_reload_failures_total`,
//! `archway_config_reload_failures_total`) and kept in the status registry. The
//! listener's TLS certificates are read again with each reload and swapped in when their
//! files changed; certificates that cannot be used are refused the same way.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context;
use archway_config::{Config, PluginConfig, PluginSource};
use archway_proxy::{CertificateSet, Certificates, Plugins, Snapshot};
use archway_runtime::{ComponentBytes, Plugin, Runtime};

use crate::canaries;
use crate::compose;
use crate::key_sets::{KeySetLoader, key_files};
use crate::status::{ConfigStatus, PluginStatus, StatusRegistry, hex};
use crate::sync::Routing;
use crate::uploads::Uploads;

/// What a plugin version was loaded from: its settings, its component's content hash
/// and its active canary's.
#[derive(Clone, PartialEq)]
struct Source {
    settings: PluginConfig,
    hash: [u8; 32],
    canary: Option<[u8; 32]>,
}

/// What the reloader remembers between runs, to skip what did not change.
struct Memory {
    config_path: Option<PathBuf>,
    config_hash: Option<[u8; 32]>,
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
        previous: Option<Arc<Plugin>>,
    },
}

/// Applies changed config and plugin files to a running gateway.
pub(crate) struct Reloader {
    runtime: Arc<Runtime>,
    routing: Arc<Routing>,
    key_sets: KeySetLoader,
    /// The listener's certificates, when it terminates TLS.
    certificates: Option<Arc<Certificates>>,
    uploads: Uploads,
    memory: Mutex<Memory>,
    status: StatusRegistry,
}

/// A config file as read: its absolute path, its config and the content hash of its text.
#[derive(Debug)]
pub struct ConfigFile {
    /// The file's absolute path.
    pub path: PathBuf,
    /// Its config.
    pub config: Config,
    /// The content hash of its text.
    pub hash: [u8; 32],
}

impl ConfigFile {
    /// Reads and validates the config file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let path =
            std::path::absolute(path).with_context(|| format!("config {}", path.display()))?;
        let text = read_config_text(&path)?;
        let config = parse_config(&path, &text)?;
        Ok(Self {
            hash: Runtime::content_hash(text.as_bytes()),
            path,
            config,
        })
    }
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
        (
            "server.admin_listen",
            old.server.admin_listen != new.server.admin_listen,
        ),
        ("server.workers", old.server.workers != new.server.workers),
        (
            "server.tls (turning TLS on or off)",
            old.server.tls.is_some() != new.server.tls.is_some(),
        ),
        (
            "server.shutdown_grace_seconds",
            old.server.shutdown_grace_seconds != new.server.shutdown_grace_seconds,
        ),
        (
            "server.cache_dir",
            old.server.cache_dir != new.server.cache_dir,
        ),
        (
            "server.response_cache_max_bytes",
            old.server.response_cache_max_bytes != new.server.response_cache_max_bytes,
        ),
        (
            "server.response_cache_max_entry_bytes",
            old.server.response_cache_max_entry_bytes != new.server.response_cache_max_entry_bytes,
        ),
        ("log", old.log != new.log),
        ("tracing", old.tracing != new.tracing),
        ("store", old.store != new.store),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

impl Reloader {
    /// A reloader for the gateway `routing` serves.
    pub(crate) fn new(
        runtime: Arc<Runtime>,
        routing: Arc<Routing>,
        key_sets: KeySetLoader,
        certificates: Option<Arc<Certificates>>,
        uploads: Uploads,
    ) -> Self {
        let serving = routing.current();
        let hashes: Vec<(&str, [u8; 32])> = serving
            .plugins()
            .iter()
            .map(|(name, plugin)| (name.as_str(), plugin.content_hash()))
            .collect();
        let status = StatusRegistry::new(hashes.iter().map(|(name, hash)| (*name, hash)));
        Self {
            runtime,
            routing,
            key_sets,
            certificates,
            uploads,
            memory: Mutex::new(Memory {
                config_path: None,
                config_hash: None,
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

    /// Whether `component` would serve as the plugin `settings` describe, checked as a
    /// reload checks a new version: it loads and starts, and every route still fits it.
    /// A version that fails is reported like a refused reload.
    pub(crate) async fn check_version(
        &self,
        settings: &PluginConfig,
        component: &ComponentBytes,
    ) -> anyhow::Result<()> {
        let checked = async {
            let plugin = Plugin::load(&self.runtime, settings, component).await?;
            let current = self.routing.current();
            let mut plugins = (**current.plugins()).clone();
            plugins.insert(settings.name.clone(), Arc::new(plugin));
            current.with_plugins(Arc::new(plugins))?;
            anyhow::Ok(())
        };
        checked
            .await
            .inspect_err(|error| self.refuse(&settings.name, &format!("{error:#}"), None))
    }

    /// The uploaded plugin versions this gateway serves.
    pub(crate) fn uploads(&self) -> &Uploads {
        &self.uploads
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

    /// The files whose changes matter: the config file, every plugin file, every key
    /// file of the JWT key sets and the listener's certificate files.
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        let config_path = self.memory().config_path.clone();
        let serving = self.routing.current();
        let key_files = key_files(&serving.config().jwt);
        let certificate_files = serving
            .config()
            .server
            .tls
            .iter()
            .flat_map(|tls| tls.files().map(Path::to_owned))
            .collect::<Vec<_>>();
        let config = serving.config();
        let plugin_paths = config
            .plugins
            .iter()
            .flat_map(|p| {
                let source = match &p.source {
                    PluginSource::Path(path) => Some(path.clone()),
                    PluginSource::Builtin(_) | PluginSource::Uploaded => None,
                };
                source
                    .into_iter()
                    .chain(p.canary.iter().map(|c| c.path.clone()))
            })
            .chain(
                config
                    .tenants
                    .iter()
                    .flat_map(|t| t.plugins.iter().map(|p| p.path.clone())),
            );
        config_path
            .into_iter()
            .chain(plugin_paths)
            .chain(key_files)
            .chain(certificate_files)
            .collect()
    }

    /// Applies whatever changed on disk since the last run; never fails: a refused
    /// version is reported and the previous one keeps serving.
    pub(crate) async fn reload(self: &Arc<Self>) {
        let this = self.clone();
        let changed_config = tokio::task::spawn_blocking(move || this.changed_config())
            .await
            .expect("reading the config does not panic");
        if let Some(config) = changed_config {
            let restart_only = restart_only_changes(self.routing.current().config(), &config);
            let applied = match self.read_certificates(&config) {
                Ok(certificates) => self
                    .apply(Arc::new(config), true)
                    .await
                    .map(|()| certificates),
                Err(error) => Err(error),
            };
            match applied {
                Ok(certificates) => {
                    self.install_certificates(certificates);
                    self.status.config_applied();
                    reloaded("archway_config_reloads_total", None, "applied");
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
        let config = self.routing.current().config().clone();
        match self.read_certificates(&config) {
            Ok(certificates) => self.install_certificates(certificates),
            Err(error) => self.refuse_config(&format!("{error:#}")),
        }
        if self.key_sets.files_changed(&config.jwt) {
            match self.reload_key_files(&config).await {
                Ok(()) => tracing::info!(target: "archway.reload", "JWT key files reloaded"),
                Err(error) => self.refuse_config(&format!("{error:#}")),
            }
        }
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
            Ok(config) if config == **self.routing.current().config() => {
                self.status.config_current();
                None
            }
            Ok(config) => {
                for warning in config.warnings() {
                    tracing::warn!(target: "archway.config", "{warning}");
                }
                Some(config)
            }
        }
    }

    /// The listener's certificates of `config` read again, when the listener terminates
    /// TLS and they changed.
    fn read_certificates(&self, config: &Config) -> anyhow::Result<Option<CertificateSet>> {
        match (&self.certificates, &config.server.tls) {
            (Some(serving), Some(tls)) => serving.read(tls).context("server.tls"),
            _ => Ok(None),
        }
    }

    /// Serves `certificates` to new connections, if there are new ones.
    fn install_certificates(&self, certificates: Option<CertificateSet>) {
        if let (Some(serving), Some(certificates)) = (&self.certificates, certificates) {
            serving.install(certificates);
            tracing::info!(target: "archway.reload", "listener certificates reloaded");
        }
    }

    /// Loads the key sets of the serving `config` again from their changed files and
    /// swaps in the snapshot that serves with them.
    async fn reload_key_files(&self, config: &Config) -> anyhow::Result<()> {
        let loaded = self
            .key_sets
            .load(&config.jwt, self.routing.current().key_sets())?;
        self.routing
            .rebuild(async |current| {
                let snapshot = Snapshot::build(
                    current.config().clone(),
                    current.managed().clone(),
                    current.plugins().clone(),
                    current.upstreams().clone(),
                    loaded.sets.clone(),
                )?;
                Ok((snapshot, ()))
            })
            .await?;
        self.key_sets.serving(&loaded);
        Ok(())
    }

    /// Stages the plugins of `config` that changed and swaps in the snapshot built on
    /// them. Fails, changing nothing, when the config itself does not work (a plugin it
    /// adds or re-configures fails to load, a route does not fit).
    async fn apply(&self, config: Arc<Config>, config_changed: bool) -> anyhow::Result<()> {
        let loaded = match config_changed {
            true => {
                let serving = self.routing.current();
                Some(self.key_sets.load(&config.jwt, serving.key_sets())?)
            }
            false => None,
        };
        let staged = self.stage(&config).await?;
        let any_fresh = staged.values().any(|s| matches!(s, Staged::Fresh { .. }));
        let any_gone = self
            .routing
            .current()
            .plugins()
            .keys()
            .any(|name| !staged.contains_key(name));
        if !config_changed && !any_fresh && !any_gone {
            self.forget_unused();
            return Ok(());
        }

        let mut plugins = Plugins::new();
        let mut accepted = Vec::new();
        let mut optional = Vec::new();
        for (name, staged) in staged {
            let serving = match staged {
                Staged::Kept(plugin) => plugin,
                Staged::Fresh {
                    plugin,
                    previous: None,
                } => {
                    accepted.push(plugin.clone());
                    plugin
                }
                Staged::Fresh {
                    plugin,
                    previous: Some(previous),
                } => {
                    optional.push(plugin);
                    previous
                }
            };
            plugins.insert(name, serving);
        }
        optional.sort_by(|a, b| a.name().cmp(b.name()));
        let names: HashSet<String> = plugins.keys().cloned().collect();
        let new_key_sets = loaded.as_ref().map(|l| l.sets.clone());
        let accepted = self
            .routing
            .rebuild(async move |current| {
                let key_sets = new_key_sets.unwrap_or_else(|| current.key_sets().clone());
                let build = |plugins: &Plugins| {
                    Snapshot::build(
                        config.clone(),
                        current.managed().clone(),
                        Arc::new(plugins.clone()),
                        current.upstreams().clone(),
                        key_sets.clone(),
                    )
                };
                let mut snapshot = build(&plugins)?;
                // A new version of an unchanged plugin goes in only if every route still
                // fits it; otherwise it alone is refused.
                for plugin in optional {
                    let mut trial = plugins.clone();
                    trial.insert(plugin.name().to_owned(), plugin.clone());
                    match build(&trial) {
                        Ok(fits) => {
                            snapshot = fits;
                            plugins = trial;
                            accepted.push(plugin);
                        }
                        Err(error) => {
                            self.refuse_plugin(&plugin_source(&plugin), &format!("{error:#}"))
                        }
                    }
                }
                Ok((snapshot, accepted))
            })
            .await?;
        if let Some(loaded) = &loaded {
            self.key_sets.serving(loaded);
        }

        {
            let mut memory = self.memory();
            memory.refused.retain(|name, _| names.contains(name));
            for plugin in accepted {
                let name = plugin.name();
                tracing::info!(
                    target: "archway.reload",
                    plugin = name,
                    content_hash = hex(&plugin.content_hash()),
                    "plugin reloaded"
                );
                reloaded("archway_plugin_reloads_total", Some(name), "applied");
                self.status.plugin_loaded(name, &plugin.content_hash());
                memory.refused.remove(name);
            }
        }
        self.status.retain_plugins(|name| names.contains(name));
        self.forget_unused();
        Ok(())
    }

    /// Reads each plugin of `config` and loads those whose component or settings changed.
    /// A plugin that fails keeps its serving version if its settings did not change;
    /// otherwise the config cannot apply and this fails.
    async fn stage(&self, config: &Config) -> anyhow::Result<HashMap<String, Staged>> {
        let serving = self.routing.current();
        let mut staged = HashMap::new();
        for settings in compose::plugin_settings(config, Some(&self.uploads)).await? {
            let previous = serving
                .plugins()
                .get(&settings.name)
                .filter(|plugin| *plugin.settings() == settings)
                .cloned();
            let one = self.stage_one(&settings, previous).await?;
            staged.insert(settings.name, one);
        }
        Ok(staged)
    }

    async fn stage_one(
        &self,
        settings: &PluginConfig,
        previous: Option<Arc<Plugin>>,
    ) -> anyhow::Result<Staged> {
        let name = &settings.name;
        let read = async {
            let component = compose::read_component(settings, Some(&self.uploads)).await?;
            let canary = canaries::active(settings, Some(self.uploads.state())).await?;
            anyhow::Ok((component, canary))
        };
        let (component, canary) = match read.await {
            Ok(read) => read,
            Err(error) => return self.keep_previous(name, previous, error, None),
        };
        let source = Source {
            settings: settings.clone(),
            hash: component.hash(),
            canary: canary.as_ref().map(ComponentBytes::hash),
        };
        if let Some(previous) = &previous {
            if plugin_source(previous).1 == source {
                self.status.plugin_current(name);
                return Ok(Staged::Kept(previous.clone()));
            }
            if self.memory().refused.get(name) == Some(&source) {
                return Ok(Staged::Kept(previous.clone()));
            }
        }
        match canaries::load(&self.runtime, settings, &component, canary.as_ref()).await {
            Ok(plugin) => Ok(Staged::Fresh {
                plugin: Arc::new(plugin),
                previous,
            }),
            Err(error) => self.keep_previous(name, previous, error, Some(source)),
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
                self.refuse(name, &format!("{error:#}"), source);
                Ok(Staged::Kept(previous))
            }
            None => Err(error),
        }
    }

    /// Reports a refused plugin version that loaded but does not fit the routes.
    fn refuse_plugin(&self, (name, source): &(String, Source), error: &str) {
        self.refuse(name, error, Some(source.clone()));
    }

    /// Reports a refused plugin version; the previous one keeps serving.
    fn refuse(&self, name: &str, error: &str, source: Option<Source>) {
        tracing::error!(
            target: "archway.reload",
            plugin = name,
            error,
            "plugin version refused; the previous version keeps serving"
        );
        reloaded("archway_plugin_reloads_total", Some(name), "refused");
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
        reloaded("archway_config_reloads_total", None, "refused");
        self.status.config_refused(error);
    }

    /// Drops compiled components no serving plugin uses from the in-memory cache.
    fn forget_unused(&self) {
        let in_use = self
            .routing
            .current()
            .plugins()
            .values()
            .map(|plugin| plugin.content_hash())
            .collect();
        self.runtime.retain_compiled(&in_use);
    }
}

/// A loaded plugin's name and what it was loaded from.
fn plugin_source(plugin: &Plugin) -> (String, Source) {
    let source = Source {
        settings: plugin.settings().clone(),
        hash: plugin.content_hash(),
        canary: plugin.canary().map(|canary| canary.digest),
    };
    (plugin.name().to_owned(), source)
}

/// Counts a reload of the config or of one plugin by its result (`applied`, `refused`).
fn reloaded(series: &'static str, plugin: Option<&str>, result: &'static str) {
    match plugin {
        Some(plugin) => {
            metrics::counter!(series, "plugin" => plugin.to_owned(), "result" => result)
        }
        None => metrics::counter!(series, "result" => result),
    }
    .increment(1);
}
