//! Canary verdicts. A canary rolled back (on its own, or through the admin API) or
//! promoted is recorded in the gateway state under its plugin's name with the digest of
//! its component; every node then serves that plugin without that canary, and keeps doing
//! so across restarts, until the config names a canary with another component.

use archway_config::{PluginConfig, PluginSource};
use archway_runtime::{CanaryReports, CanaryTrip, ComponentBytes, Plugin, Runtime};
use serde::{Deserialize, Serialize};

use crate::compose;
use crate::state::{GatewayState, Kind, StateError};
use crate::status::hex;

/// What became of a canary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// It takes no more requests.
    RolledBack,
    /// It became the serving version.
    Promoted,
}

/// The verdict on one canary version of a plugin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    /// The SHA-256 of the canary's component, in hex.
    pub digest: String,
    /// What became of it.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// When (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub at: String,
    /// Who: a principal's subject, or `automatic`.
    pub by: String,
}

/// Records the verdict on `plugin`'s canary and announces it to every node.
pub(crate) async fn record(
    state: &GatewayState,
    plugin: &str,
    verdict: &Verdict,
) -> Result<(), StateError> {
    state.put(Kind::Canary, plugin, verdict).await.map(|_| ())
}

/// The verdict on `plugin`'s canary, if there is one.
pub(crate) async fn verdict(
    state: &GatewayState,
    plugin: &str,
) -> Result<Option<Verdict>, StateError> {
    state.get(Kind::Canary, plugin).await
}

/// Records every automatic rollback in `state`, so every node follows.
pub(crate) fn reporter(state: GatewayState) -> CanaryReports {
    std::sync::Arc::new(move |trip: CanaryTrip| {
        let state = state.clone();
        tokio::spawn(async move {
            let verdict = Verdict {
                digest: hex(&trip.digest),
                outcome: Outcome::RolledBack,
                reason: trip.reason,
                at: archway_proxy::timestamp::now(),
                by: "automatic".to_owned(),
            };
            if let Err(error) = record(&state, &trip.plugin, &verdict).await {
                tracing::error!(target: "archway.canary", plugin = trip.plugin, %error, "cannot record the rollback; other nodes keep the canary");
            }
        });
    })
}

/// The canary component of `settings` that should run: none without a canary, or when
/// the verdict in `state` is on this very component.
pub(crate) async fn active(
    settings: &PluginConfig,
    state: Option<&GatewayState>,
) -> anyhow::Result<Option<ComponentBytes>> {
    let Some(canary) = &settings.canary else {
        return Ok(None);
    };
    let source = PluginConfig {
        source: PluginSource::Path(canary.path.clone()),
        uploads: false,
        ..settings.clone()
    };
    let component = compose::read_component(&source, None).await?;
    if let Some(state) = state
        && let Some(verdict) = verdict(state, &settings.name).await?
        && verdict.digest == hex(&component.hash())
    {
        return Ok(None);
    }
    Ok(Some(component))
}

/// Loads the plugin `settings` describe from `component`, with `canary` beside it.
pub(crate) async fn load(
    runtime: &Runtime,
    settings: &PluginConfig,
    component: &ComponentBytes,
    canary: Option<&ComponentBytes>,
) -> anyhow::Result<Plugin> {
    let plugin = Plugin::load(runtime, settings, component).await?;
    let Some(canary) = canary else {
        return Ok(plugin);
    };
    let alone = PluginConfig {
        canary: None,
        ..settings.clone()
    };
    let version = Plugin::load(runtime, &alone, canary)
        .await
        .map_err(|error| anyhow::anyhow!("its canary cannot serve: {error}"))?;
    Ok(plugin.with_canary(runtime, version))
}
