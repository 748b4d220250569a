//! What the admin API shows about hot reload: for each plugin the version serving and
//! why the newest file was refused, and the same for the config file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// One plugin's reload history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginStatus {
    /// The plugin's name from config.
    pub name: String,
    /// SHA-256 (hex) of the component serving now.
    pub content_hash: String,
    /// When the serving version was loaded.
    pub loaded_at: SystemTime,
    /// Why the newest version on disk was refused; `None` once the file on disk serves.
    pub last_error: Option<String>,
    /// Versions loaded after the first.
    pub reloads: u64,
    /// Versions refused (the previous one kept serving).
    pub failed_reloads: u64,
}

/// The config file's reload history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigStatus {
    /// The watched config file, when the gateway was started from one.
    pub path: Option<PathBuf>,
    /// When the serving config was applied.
    pub loaded_at: SystemTime,
    /// Why the newest config text was refused; `None` once the file on disk serves.
    pub last_error: Option<String>,
    /// Configs applied after the first.
    pub reloads: u64,
    /// Configs refused (the previous one kept serving).
    pub failed_reloads: u64,
}

/// Reload status of the config and every plugin, readable while a reload runs.
pub(crate) struct StatusRegistry {
    inner: Mutex<Inner>,
}

struct Inner {
    plugins: BTreeMap<String, PluginStatus>,
    config: ConfigStatus,
}

/// A content hash as lowercase hex.
pub(crate) fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl StatusRegistry {
    /// A registry for plugins loaded at start, given as `(name, content hash)`.
    pub(crate) fn new<'a>(plugins: impl IntoIterator<Item = (&'a str, &'a [u8; 32])>) -> Self {
        let now = SystemTime::now();
        let plugins = plugins
            .into_iter()
            .map(|(name, hash)| {
                let status = PluginStatus {
                    name: name.to_owned(),
                    content_hash: hex(hash),
                    loaded_at: now,
                    last_error: None,
                    reloads: 0,
                    failed_reloads: 0,
                };
                (name.to_owned(), status)
            })
            .collect();
        let config = ConfigStatus {
            path: None,
            loaded_at: now,
            last_error: None,
            reloads: 0,
            failed_reloads: 0,
        };
        Self {
            inner: Mutex::new(Inner { plugins, config }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("status registry lock"))
    }

    /// Every plugin's status, by name.
    pub(crate) fn plugins(&self) -> Vec<PluginStatus> {
        self.with(|inner| inner.plugins.values().cloned().collect())
    }

    /// The config's status.
    pub(crate) fn config(&self) -> ConfigStatus {
        self.with(|inner| inner.config.clone())
    }

    /// Records the config file being watched.
    pub(crate) fn watching(&self, path: PathBuf) {
        self.with(|inner| inner.config.path = Some(path));
    }

    /// A new version of plugin `name` serves (or a new plugin, added by a config reload).
    pub(crate) fn plugin_loaded(&self, name: &str, hash: &[u8; 32]) {
        self.with(|inner| {
            let now = SystemTime::now();
            let status = inner
                .plugins
                .entry(name.to_owned())
                .and_modify(|status| status.reloads += 1)
                .or_insert_with(|| PluginStatus {
                    name: name.to_owned(),
                    content_hash: String::new(),
                    loaded_at: now,
                    last_error: None,
                    reloads: 0,
                    failed_reloads: 0,
                });
            status.content_hash = hex(hash);
            status.loaded_at = now;
            status.last_error = None;
        });
    }

    /// A version of plugin `name` was refused; the previous one keeps serving.
    pub(crate) fn plugin_refused(&self, name: &str, error: &str) {
        self.with(|inner| {
            if let Some(status) = inner.plugins.get_mut(name) {
                status.failed_reloads += 1;
                status.last_error = Some(error.to_owned());
            }
        });
    }

    /// The file of plugin `name` holds the serving version again.
    pub(crate) fn plugin_current(&self, name: &str) {
        self.with(|inner| {
            if let Some(status) = inner.plugins.get_mut(name) {
                status.last_error = None;
            }
        });
    }

    /// Forgets plugins the config no longer has.
    pub(crate) fn retain_plugins(&self, keep: impl Fn(&str) -> bool) {
        self.with(|inner| inner.plugins.retain(|name, _| keep(name)));
    }

    /// A new config serves.
    pub(crate) fn config_applied(&self) {
        self.with(|inner| {
            inner.config.reloads += 1;
            inner.config.loaded_at = SystemTime::now();
            inner.config.last_error = None;
        });
    }

    /// A config was refused; the previous one keeps serving.
    pub(crate) fn config_refused(&self, error: &str) {
        self.with(|inner| {
            inner.config.failed_reloads += 1;
            inner.config.last_error = Some(error.to_owned());
        });
    }

    /// The config file holds the serving config again.
    pub(crate) fn config_current(&self) {
        self.with(|inner| inner.config.last_error = None);
    }
}
