//! Runs plugins' scheduled `tick`s off the request path: every `tick_interval_ms`, on the
//! async runtime, under the plugin's CPU budget, for the plugin version serving now. With
//! several nodes on one store, a lease per plugin (renewed every second, lapsing after
//! three) lets exactly one node run a plugin's ticks at a time; another node takes over
//! within a few seconds of the holder stopping. A tick that traps, overruns or returns an
//! error is logged and counted, and the next one still runs; a plugin's ticks never
//! overlap.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use archway_runtime::Plugin;
use archway_store::Store;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::sync::Routing;

/// How long a lease lasts unless renewed.
const LEASE_TTL: Duration = Duration::from_secs(3);
/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// One ticking plugin's schedule on this node.
struct Schedule {
    next_tick: Instant,
    renew_at: Instant,
    held_until: Option<Instant>,
}

/// Starts the scheduler; `node` names this gateway in the leases.
pub(crate) fn spawn(routing: Arc<Routing>, store: Store, node: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut schedules: HashMap<String, Schedule> = HashMap::new();
        let mut running = JoinSet::new();
        let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
        loop {
            let serving = routing.current();
            let ticking: Vec<&Arc<Plugin>> = serving
                .plugins()
                .values()
                .filter(|plugin| plugin.settings().tick_interval_ms.is_some())
                .collect();
            schedules.retain(|name, _| ticking.iter().any(|plugin| plugin.name() == name));
            let now = Instant::now();
            let mut wake = now + RENEW_EVERY;
            for plugin in ticking {
                let name = plugin.name();
                let schedule = schedules.entry(name.to_owned()).or_insert(Schedule {
                    next_tick: now,
                    renew_at: now,
                    held_until: None,
                });
                if schedule.renew_at <= now {
                    schedule.held_until =
                        lease(&store, name, &node).await.then_some(now + LEASE_TTL);
                    schedule.renew_at = now + RENEW_EVERY;
                }
                wake = wake.min(schedule.renew_at);
                let ticking_now = busy.values().any(|busy| busy == name);
                if schedule.held_until.is_none_or(|until| until <= now) || ticking_now {
                    continue;
                }
                if schedule.next_tick <= now {
                    let task = running.spawn(tick(plugin.clone()));
                    busy.insert(task.id(), name.to_owned());
                    let interval = plugin.settings().tick_interval_ms.unwrap_or_default();
                    schedule.next_tick = now + Duration::from_millis(interval);
                }
                wake = wake.min(schedule.next_tick);
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                Some(done) = running.join_next_with_id() => {
                    // A tick task that panicked frees its plugin for the next tick too.
                    let id = done.map_or_else(|error| error.id(), |(id, ())| id);
                    busy.remove(&id);
                }
            }
        }
    })
}

/// Takes or renews this node's lease on the plugin's ticks; `false` while another node
/// holds it or the store cannot answer.
async fn lease(store: &Store, plugin: &str, node: &str) -> bool {
    match store
        .lease(&format!("archway:lease/tick/{plugin}"), node, LEASE_TTL)
        .await
    {
        Ok(held) => held,
        Err(error) => {
            tracing::warn!(target: "archway.tick", plugin, %error, "cannot renew the tick lease");
            false
        }
    }
}

/// Runs one tick and reports a failure.
async fn tick(plugin: Arc<Plugin>) {
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let name = plugin.name().to_owned();
    let failure = match plugin.tick(now_ms).await {
        Ok(Ok(())) => None,
        Ok(Err(message)) => Some(format!("tick returned an error: {message}")),
        Err(error) => Some(error.to_string()),
    };
    metrics::counter!("archway_plugin_ticks_total", "plugin" => name.clone()).increment(1);
    if let Some(error) = failure {
        tracing::warn!(target: "archway.tick", plugin = name, error, "tick failed");
        metrics::counter!("archway_plugin_tick_failures_total", "plugin" => name).increment(1);
    }
}
