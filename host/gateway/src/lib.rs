//! The `archway` gateway: composes config, plugin runtime and proxy into a running
//! server. The binary's `serve` and `check` commands, and the end-to-end tests, use this.
#![deny(missing_docs)]

mod admin;
mod builtin;
mod canaries;
mod compose;
mod key_sets;
pub mod keys;
mod reload;
mod state;
mod status;
mod sync;
pub mod telemetry;
mod tenant_plugins;
mod ticks;
pub mod tokens;
mod uploads;
mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use archway_config::{Config, StoreSettings};
use archway_jwt::{KeySets, Verifier};
use archway_proxy::{
    CertificateSet, Certificates, Clients, Managed, Plugins, Proxy, ServiceDirectory, Snapshot,
    TrafficLog, Upstreams, spawn_traffic_flusher,
};
use archway_runtime::Runtime;
use archway_store::{Store, StoreConfig};
pub use reload::ConfigFile;
pub use state::{
    GatewayState, InstanceRecord, Kind, PermissionRecord, RoleRecord, RouteRecord, StateError,
};
pub use status::{ConfigStatus, PluginStatus};
use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

/// What `archway check` found: every plugin loaded with its roles, the route count, and
/// the config's warnings.
#[derive(Debug)]
pub struct CheckReport {
    /// `(name, roles)` of each plugin.
    pub plugins: Vec<(String, String)>,
    /// How many routes the config has.
    pub routes: usize,
    /// Settings that are accepted but have no effect yet.
    pub warnings: Vec<String>,
}

/// Validates a config and starts every plugin once, without listening.
pub async fn check(config: &Config) -> anyhow::Result<CheckReport> {
    let runtime = Runtime::new()?;
    let clients = Arc::new(Clients::default());
    let key_sets = key_sets::KeySetLoader::new(clients.clone());
    let loaded = key_sets.load(&config.jwt, &KeySets::default())?;
    listener_certificates(config)?;
    let plugins = compose::load_plugins(&runtime, config, None).await?;
    let config = Arc::new(config.clone());
    Snapshot::build(
        config.clone(),
        Arc::default(),
        Arc::new(plugins.clone()),
        Arc::new(Upstreams::new(clients)),
        loaded.sets,
    )?;
    let mut plugins: Vec<(String, String)> = plugins
        .values()
        .map(|p| {
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
        warnings: config.warnings(),
    })
}

/// A gateway serving on a socket.
pub struct Running {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    state: GatewayState,
    reloader: Arc<reload::Reloader>,
    watcher: Option<watch::Watcher>,
    shutdown: Option<signal::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where the admin listener listens, when `[server] admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
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
    for warning in config.warnings() {
        tracing::warn!(target: "archway.config", "{warning}");
    }
    let render_metrics = telemetry::metrics();
    let certificates = listener_certificates(&config)?;
    let admin_listener = match config.server.admin_listen {
        Some(listen) => Some(
            TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} (server.admin_listen)"))?,
        ),
        None => None,
    };
    let admin_addr = admin_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()
        .context("the admin listener has no local address")?;
    let store = open_store(&config.store).await?;
    let state = GatewayState::new(store.clone());
    let service_calls = Arc::new(ServiceDirectory::default());
    let clients = Arc::new(Clients::default());
    let verifier = Arc::new(Verifier::new(Some(store.clone())));
    let key_sets = key_sets::KeySetLoader::new(clients.clone());
    let loaded = key_sets.load(&config.jwt, &KeySets::default())?;
    let admin = admin::AdminApi::new(state.clone());
    let runtime = Runtime::with_disk_cache(&config.server.cache_dir)?
        .with_store(store)
        .with_service_calls(service_calls.clone())
        .with_verifier(verifier.clone())
        .with_admin(Arc::new(admin.clone()))
        .with_canary_reports(canaries::reporter(state.clone()));
    let uploads = uploads::Uploads::new(state.clone());
    let plugins = Arc::new(compose::load_plugins(&runtime, &config, Some(&uploads)).await?);
    let serving = Serving {
        plugins,
        upstreams: Arc::new(Upstreams::new(clients)),
        key_sets: loaded.sets.clone(),
    };
    let snapshot = initial_snapshot(Arc::new(config), serving, &state).await?;
    key_sets.serving(&loaded);
    let grace = Duration::from_secs(snapshot.config().server.shutdown_grace_seconds);
    let access_log = snapshot.config().log.access_log;
    let snapshot_tracing = snapshot.config().tracing.clone();
    let mut proxy = Proxy::new(snapshot, access_log)
        .with_rate_limits(state.store().clone())
        .with_shared_cache(state.store().shared_cache())
        .with_service_calls(service_calls)
        .with_verifier(verifier)
        .with_metrics_endpoint(render_metrics)
        .with_traffic(TrafficLog::new(state.store().clone()))
        .with_tracing(&snapshot_tracing);
    if let Some(certificates) = &certificates {
        proxy = proxy.with_tls(certificates);
    }
    let proxy = Arc::new(proxy);
    let routing = Arc::new(sync::Routing::new(proxy.clone()));
    let traffic = spawn_traffic_flusher(proxy.clone(), TrafficLog::new(state.store().clone()));
    // Unique per gateway process and start, even for two containers alike in pid and address.
    let nonce =
        std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), ());
    let node = format!("{}-{addr}-{nonce:016x}", std::process::id());
    let scheduler = ticks::spawn(routing.clone(), state.store().clone(), node);
    let reloader = Arc::new(reload::Reloader::new(
        Arc::new(runtime),
        routing.clone(),
        key_sets,
        certificates,
        uploads,
    ));
    let follower = sync::follow(state.clone(), routing.clone(), reloader.clone());
    admin.serve(&routing, &reloader);
    let serving = reloader.clone();
    let (shutdown, stopped) = signal::channel(());
    let task = tokio::spawn(async move {
        let until_stopped = |mut stopped: signal::Receiver<()>| async move {
            let _ = stopped.changed().await;
        };
        let main = proxy
            .clone()
            .serve(listener, false, until_stopped(stopped.clone()), grace);
        match admin_listener {
            Some(admin) => {
                let admin = proxy.serve(admin, true, until_stopped(stopped), grace);
                tokio::join!(main, admin);
            }
            None => main.await,
        }
        // Awaited after the abort, so that each has let go of the store when this ends.
        for task in [follower, traffic, scheduler] {
            task.abort();
            let _ = task.await;
        }
        drop(serving);
    });
    Ok(Running {
        addr,
        admin_addr,
        state,
        reloader,
        watcher: None,
        shutdown: Some(shutdown),
        task,
    })
}

/// The listener's certificates when the config terminates TLS, read and checked.
fn listener_certificates(config: &Config) -> anyhow::Result<Option<Arc<Certificates>>> {
    let Some(tls) = &config.server.tls else {
        return Ok(None);
    };
    let set = CertificateSet::load(tls).context("server.tls")?;
    Ok(Some(Certificates::new(set)))
}

/// What the first snapshot serves with, besides the config and the managed records.
struct Serving {
    plugins: Arc<Plugins>,
    upstreams: Arc<Upstreams>,
    key_sets: Arc<KeySets>,
}

/// The snapshot to start with: the file config with the managed records that fit it,
/// or alone when the store cannot be read (the follower catches up when it recovers).
async fn initial_snapshot(
    config: Arc<Config>,
    serving: Serving,
    state: &GatewayState,
) -> anyhow::Result<Snapshot> {
    let file = Snapshot::build(
        config,
        Arc::new(Managed::default()),
        serving.plugins,
        serving.upstreams,
        serving.key_sets,
    )?;
    match state.managed().await {
        Ok(managed) => Ok(file.with_managed(Arc::new(sync::fitting(&file, managed)))?),
        Err(error) => {
            tracing::warn!(
                target: "archway.sync",
                error = format!("{error:#}"),
                "cannot read managed routes: serving the file config alone"
            );
            Ok(file)
        }
    }
}

/// Opens the config's store for a command-line tool, explaining the usual failure: the
/// embedded file is held by a gateway serving the same config.
async fn open_store_from_cli(config: &Config) -> anyhow::Result<Store> {
    open_store(&config.store).await.map_err(|error| {
        match error.downcast_ref::<archway_store::StoreError>() {
            Some(archway_store::StoreError::EmbeddedInUse { .. }) => error.context(
                "the embedded store is open in another process (a gateway serving this \
                 config?): only one process can open it at a time, so stop that gateway \
                 and try again, or keep state in Redis ([store] redis_url), which every \
                 gateway and this command share",
            ),
            _ => error,
        }
    })
}

/// Opens the configured store: Redis when `redis_url` is set, else the embedded file.
async fn open_store(settings: &StoreSettings) -> anyhow::Result<Store> {
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
    let store = Store::open(&config)
        .await
        .context("cannot open the store")?;
    tracing::info!(target: "archway.store", backend = store.backend_name(), "store open");
    Ok(store)
}

/// Like [`start`] with the config of `file`, and applies changes to that file and to
/// plugin files while serving (see the README's "Hot reload").
pub async fn start_watching(file: ConfigFile, listener: TcpListener) -> anyhow::Result<Running> {
    let mut running = start(file.config, listener).await?;
    running.reloader.watch_config(&file.path, file.hash);
    running.watcher = Some(watch::Watcher::spawn(running.reloader.clone())?);
    Ok(running)
}

/// Binds the listen address of the config `file` and serves it, reloading changed
/// files, until SIGINT or SIGTERM.
pub async fn serve(file: ConfigFile) -> anyhow::Result<()> {
    let listen = file.config.server.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let running = start_watching(file, listener).await?;
    tracing::info!(target: "archway.server", addr = %running.addr(), "archway is serving");
    if let Some(admin) = running.admin_addr() {
        tracing::info!(target: "archway.server", addr = %admin, "the admin API is served here only");
    }
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
