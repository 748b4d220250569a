//! The `archway` gateway: composes config, plugin runtime and proxy into a running
//! server. The binary's `serve` and `check` commands, and the end-to-end tests, use this.
#![deny(missing_docs)]

mod builtin;
mod compose;
mod reload;
mod state;
mod status;
mod sync;
pub mod telemetry;
mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use archway_config::{Config, StoreSettings};
use archway_proxy::Proxy;
use archway_runtime::{Plugin, Runtime, StoreBridge};
use archway_store::StoreConfig;
pub use state::{ApiKeyRecord, GatewayState, Kind, StateError};
pub use status::{ConfigStatus, PluginStatus};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What `archway check` found: every plugin loaded with its roles, and the route count.
#[derive(Debug)]
pub struct CheckReport {
    /// `(name, roles)` of each plugin.
    pub plugins: Vec<(String, String)>,
    /// How many routes the config has.
    pub routes: usize,
}

/// Validates a config and starts every plugin once, without listening.
pub fn check(config: &Config) -> anyhow::Result<CheckReport> {
    let runtime = Runtime::new()?;
    let (_, plugins) = compose::snapshot(&runtime, config)?;
    let mut plugins: Vec<(String, String)> = plugins
        .values()
        .map(|p: &Arc<Plugin>| {
            let roles = p
                .roles()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            (p.name().to_owned(), roles)
        })
        .collect();
    plugins.sort();
    Ok(CheckReport {
        plugins,
        routes: config.routes.len(),
    })
}

/// A gateway serving on a socket.
pub struct Running {
    addr: SocketAddr,
    state: GatewayState,
    reloader: Arc<reload::Reloader>,
    watcher: Option<watch::Watcher>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The gateway state in this node's store (shared with other nodes on Redis).
    pub fn state(&self) -> &GatewayState {
        &self.state
    }

    /// Each plugin's hot-reload status: the version serving and why a newer one was refused.
    pub fn plugin_status(&self) -> Vec<PluginStatus> {
        self.reloader.plugin_status()
    }

    /// The config file's hot-reload status.
    pub fn config_status(&self) -> ConfigStatus {
        self.reloader.config_status()
    }

    /// Stops watching files, stops accepting, drains requests in flight, and waits for
    /// the server to end.
    pub async fn stop(mut self) {
        if let Some(watcher) = self.watcher.take() {
            watcher.stop().await;
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Loads the config's plugins and serves on `listener` until [`Running::stop`].
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Running> {
    let addr = listener
        .local_addr()
        .context("listener has no local address")?;
    let (base, runtime, state) = tokio::task::spawn_blocking(move || {
        let store = Arc::new(open_store(&config.store)?);
        let state = GatewayState::new(store.store().clone());
        let runtime = Runtime::with_disk_cache(&config.server.cache_dir)?.with_store(store);
        let plugins = compose::load_plugins(&runtime, &config)?;
        Ok::<_, anyhow::Error>((sync::Base { config, plugins }, runtime, state))
    })
    .await
    .context("plugin loading panicked")??;
    let snapshot = sync::initial(&base, &state).await?;
    let grace = Duration::from_secs(base.config.server.shutdown_grace_seconds);
    let proxy = Arc::new(
        Proxy::new(snapshot, base.config.log.access_log).with_rate_limits(state.store().clone()),
    );
    let routing = Arc::new(sync::Routing::new(base));
    let follower = sync::follow(state.clone(), routing.clone(), proxy.clone());
    let reloader = Arc::new(reload::Reloader::new(
        Arc::new(runtime),
        routing,
        state.clone(),
        proxy.clone(),
    ));
    let serving = reloader.clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        proxy
            .serve(
                listener,
                async {
                    let _ = stopped.await;
                },
                grace,
            )
            .await;
        follower.abort();
        drop(serving);
    });
    Ok(Running {
        addr,
        state,
        reloader,
        watcher: None,
        shutdown: Some(shutdown),
        task,
    })
}

/// Opens the configured store: Redis when `redis_url` is set, else the embedded file.
fn open_store(settings: &StoreSettings) -> anyhow::Result<StoreBridge> {
    let config = match &settings.redis_url {
        Some(url) => StoreConfig::Redis {
            url: url.clone(),
            op_timeout: Duration::from_millis(settings.op_timeout_ms),
        },
        None => {
            if let Some(dir) = settings.path.parent() {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create the store directory {}", dir.display())
                })?;
            }
            StoreConfig::Embedded {
                path: settings.path.clone(),
            }
        }
    };
    let store = StoreBridge::open(&config).context("cannot open the store")?;
    tracing::info!(target: "archway.store", backend = store.store().backend_name(), "store open");
    Ok(store)
}

/// Like [`start`] with the config in the file `config_path`, and applies changes to that
/// file and to plugin files while serving (see the README's "Hot reload").
pub async fn start_watching(config_path: &Path, listener: TcpListener) -> anyhow::Result<Running> {
    let (config_path, config, hash) = read_config_file(config_path)?;
    watching(&config_path, config, hash, listener).await
}

/// The config file's absolute path, its config and the content hash of its text.
fn read_config_file(config_path: &Path) -> anyhow::Result<(PathBuf, Config, [u8; 32])> {
    let config_path = std::path::absolute(config_path)
        .with_context(|| format!("config {}", config_path.display()))?;
    let (config, hash) = reload::read_config(&config_path)?;
    Ok((config_path, config, hash))
}

/// Starts `config`, read from `config_path` (whose text hashes to `hash`), and watches.
async fn watching(
    config_path: &Path,
    config: Config,
    hash: [u8; 32],
    listener: TcpListener,
) -> anyhow::Result<Running> {
    let mut running = start(config, listener).await?;
    running.reloader.watch_config(config_path, hash);
    running.watcher = Some(watch::Watcher::spawn(running.reloader.clone())?);
    Ok(running)
}

/// Binds the listen address of the config in `config_path` and serves it, reloading
/// changed files, until SIGINT or SIGTERM.
pub async fn serve(config_path: &Path) -> anyhow::Result<()> {
    let (config_path, config, hash) = read_config_file(config_path)?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let running = watching(&config_path, config, hash, listener).await?;
    tracing::info!(target: "archway.server", addr = %running.addr(), "archway is serving");
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
