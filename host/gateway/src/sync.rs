//! Keeps this node's routing in step with admin changes made on any node: the routing
//! snapshot is the file config plus the routes and services managed in the store, rebuilt
//! on every change-feed event.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use archway_config::Config;
use archway_proxy::{Proxy, Snapshot};
use archway_runtime::Plugin;
use archway_store::FeedEvent;
use tokio::sync::{Mutex, MutexGuard};
use tokio::task::JoinHandle;

use crate::state::GatewayState;

/// What the routing snapshot is built on besides the store: the file config and the
/// plugins loaded from it.
pub(crate) struct Base {
    /// The config file's contents.
    pub(crate) config: Config,
    /// Its plugins, loaded and started.
    pub(crate) plugins: HashMap<String, Arc<Plugin>>,
}

/// The base routing is built on, and the lock every rebuild holds from reading the base
/// to swapping in the snapshot, so a file reload and a store change never swap in each
/// other's stale routes.
pub(crate) struct Routing {
    /// The file config and its plugins now serving.
    pub(crate) base: ArcSwap<Base>,
    rebuilding: Mutex<()>,
}

impl Routing {
    /// Routing built on `base`.
    pub(crate) fn new(base: Base) -> Self {
        Self {
            base: ArcSwap::from_pointee(base),
            rebuilding: Mutex::new(()),
        }
    }

    /// Held from building a snapshot until it is swapped in.
    pub(crate) async fn rebuilding(&self) -> MutexGuard<'_, ()> {
        self.rebuilding.lock().await
    }
}

/// The snapshot for `base` plus the managed routes and services in the store. When the
/// store cannot be read, or its records do not fit the file config, the error says so
/// and the caller keeps what it serves.
pub(crate) async fn snapshot(base: &Base, state: &GatewayState) -> anyhow::Result<Snapshot> {
    let (services, routes) = state
        .managed()
        .await
        .context("cannot read managed routes from the store")?;
    let config = base
        .config
        .with_managed(services, routes)
        .context("managed routes do not fit the file config")?;
    Snapshot::build(&config, &base.plugins).context("cannot build the routing table")
}

/// The snapshot to start with: the managed routes when the store has valid ones, else
/// the file config alone (the follower catches up when the store recovers).
pub(crate) async fn initial(base: &Base, state: &GatewayState) -> anyhow::Result<Snapshot> {
    match snapshot(base, state).await {
        Ok(snapshot) => Ok(snapshot),
        Err(error) => {
            tracing::warn!(target: "archway.sync", error = format!("{error:#}"), "serving the file config alone");
            Snapshot::build(&base.config, &base.plugins).context("cannot build the routing table")
        }
    }
}

/// Rebuilds and swaps the proxy's snapshot after every change announced on the feed.
pub(crate) fn follow(
    state: GatewayState,
    routing: Arc<Routing>,
    proxy: Arc<Proxy>,
) -> JoinHandle<()> {
    let mut feed = state.store().subscribe();
    tokio::spawn(async move {
        while let Some(event) = feed.recv().await {
            if let FeedEvent::Change(change) = &event {
                tracing::debug!(target: "archway.sync", version = change.version, topic = change.topic, "config changed");
            }
            let _rebuilding = routing.rebuilding().await;
            match snapshot(&routing.base.load(), &state).await {
                Ok(snapshot) => proxy.swap(snapshot),
                Err(error) => tracing::error!(
                    target: "archway.sync",
                    error = format!("{error:#}"),
                    "kept the current routes"
                ),
            }
        }
    })
}
