//! Keeps this node's routing in step with admin changes made on any node: on a
//! change-feed event (a burst counts once) the managed routes and services are read from
//! the store once and the snapshot is rebuilt on those that fit, with the file config and
//! plugins it already serves; a change to uploaded plugins reloads them as a file change
//! would.

use std::sync::Arc;

use anyhow::Context;
use archway_config::Managed;
use archway_proxy::{Proxy, Snapshot};
use archway_store::FeedEvent;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::reload::Reloader;
use crate::state::{GatewayState, Kind};

/// The proxy's snapshot and the lock every rebuild holds from reading the current
/// snapshot to swapping in its successor, so a file reload and a store change never
/// swap in each other's stale routes.
pub(crate) struct Routing {
    proxy: Arc<Proxy>,
    rebuilding: Mutex<()>,
}

impl Routing {
    /// Routing for the snapshot `proxy` serves.
    pub(crate) fn new(proxy: Arc<Proxy>) -> Self {
        Self {
            proxy,
            rebuilding: Mutex::new(()),
        }
    }

    /// The snapshot serving now.
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        self.proxy.snapshot()
    }

    /// Builds a successor of the serving snapshot with `next` and swaps it in; when
    /// `next` fails, the serving snapshot stays and the error is returned.
    pub(crate) async fn rebuild<T>(
        &self,
        next: impl AsyncFnOnce(&Snapshot) -> anyhow::Result<(Snapshot, T)>,
    ) -> anyhow::Result<T> {
        let _rebuilding = self.rebuilding.lock().await;
        let (snapshot, outcome) = next(&self.current()).await?;
        self.proxy.swap(snapshot);
        Ok(outcome)
    }
}

/// The managed records that fit `serving`'s file config and plugins: when the whole set
/// does not, each record that breaks it (an invalid field, a route that clashes in the
/// router) is left out and logged, so one bad record never takes the others down.
pub(crate) fn fitting(serving: &Snapshot, managed: Managed) -> Managed {
    if serving.with_managed(Arc::new(managed.clone())).is_ok() {
        return managed;
    }
    let mut kept = Managed {
        roles: managed.roles,
        ..Managed::default()
    };
    keep(
        serving,
        &mut kept,
        managed.services,
        |m| &mut m.services,
        |s| format!("service {}", s.name),
    );
    keep(
        serving,
        &mut kept,
        managed.instances,
        |m| &mut m.instances,
        |(service, i)| format!("instance {} of {service}", i.instance_id),
    );
    keep(
        serving,
        &mut kept,
        managed.routes,
        |m| &mut m.routes,
        |r| format!("route {}", r.id),
    );
    kept
}

/// Adds each of `items` to `kept` when a snapshot still builds with the result.
fn keep<T: Clone>(
    serving: &Snapshot,
    kept: &mut Managed,
    items: Vec<T>,
    slot: fn(&mut Managed) -> &mut Vec<T>,
    name: fn(&T) -> String,
) {
    for item in items {
        slot(kept).push(item);
        if let Err(error) = serving.with_managed(Arc::new(kept.clone())) {
            let item = slot(kept).pop().expect("just pushed");
            tracing::error!(
                target: "archway.sync",
                record = name(&item),
                error = format!("{error:#}"),
                "skipped a managed record that does not fit the config"
            );
        }
    }
}

/// The serving snapshot rebuilt on the managed records now in the store.
async fn with_store_records(current: &Snapshot, state: &GatewayState) -> anyhow::Result<Snapshot> {
    let managed = state
        .managed()
        .await
        .context("cannot read managed routes from the store")?;
    Ok(current.with_managed(Arc::new(fitting(current, managed)))?)
}

/// Whether `event` may mean an uploaded plugin version changed.
fn concerns_uploads(event: &FeedEvent) -> bool {
    match event {
        FeedEvent::Change(change) => [Kind::Plugin, Kind::TenantPlugin, Kind::Canary]
            .iter()
            .any(|kind| change.topic == kind.segment()),
        FeedEvent::Missed => true,
    }
}

/// Rebuilds the snapshot after every change announced on the feed, and reloads plugins
/// after a change to their uploaded versions.
pub(crate) fn follow(
    state: GatewayState,
    routing: Arc<Routing>,
    reloader: Arc<Reloader>,
) -> JoinHandle<()> {
    let mut feed = state.store().subscribe();
    tokio::spawn(async move {
        while let Some(event) = feed.recv().await {
            if let FeedEvent::Change(change) = &event {
                tracing::debug!(target: "archway.sync", version = change.version, topic = change.topic, "config changed");
            }
            // The rebuild reads everything, so the events of a burst need only one.
            let mut burst = feed.take_pending();
            burst.push(event);
            if burst.iter().any(concerns_uploads) {
                reloader.reload().await;
            }
            let rebuilt = routing
                .rebuild(async |current| Ok((with_store_records(current, &state).await?, ())))
                .await;
            if let Err(error) = rebuilt {
                tracing::error!(
                    target: "archway.sync",
                    error = format!("{error:#}"),
                    "kept the current routes"
                );
            }
        }
    })
}
