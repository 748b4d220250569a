//! The `archway` gateway: composes config, plugin runtime and proxy into a running
//! server. The binary's `serve` and `check` commands, and the end-to-end tests, use this.
#![deny(missing_docs)]

mod builtin;
mod compose;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use archway_config::{Config, StoreSettings};
use archway_proxy::Proxy;
use archway_runtime::{Plugin, Runtime, StoreBridge};
use archway_store::StoreConfig;
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
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, drains requests in flight, and waits for the server to end.
    pub async fn stop(mut self) {
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
    let ((proxy, grace), runtime) = tokio::task::spawn_blocking(move || {
        let store = open_store(&config.store)?;
        let runtime = Runtime::new()?.with_store(Arc::new(store));
        let (snapshot, _) = compose::snapshot(&runtime, &config)?;
        let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
        Ok::<_, anyhow::Error>((
            (Arc::new(Proxy::new(snapshot, config.log.access_log)), grace),
            runtime,
        ))
    })
    .await
    .context("plugin loading panicked")??;
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
        drop(runtime);
    });
    Ok(Running {
        addr,
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

/// Binds the config's listen address and serves until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let running = start(config, listener).await?;
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
