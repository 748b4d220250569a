//! Counts and times a plugin's calls for the metrics endpoint, by plugin and role. The
//! series are registered once when the plugin loads, so a call only bumps atomics.

use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::{PluginError, Role};

/// How a call ended, as the failure series name it.
const FAILURE_KINDS: [&str; 5] = ["timeout", "memory", "trap", "invalid_output", "instantiate"];

/// The series of one role.
struct RoleSeries {
    role: Role,
    calls: Counter,
    duration: Histogram,
    failures: [Counter; FAILURE_KINDS.len()],
}

/// The call series of one plugin: `archway_plugin_calls_total`,
/// `archway_plugin_call_duration_seconds` and `archway_plugin_call_failures_total`.
pub(crate) struct CallMetrics {
    roles: Vec<RoleSeries>,
}

impl CallMetrics {
    /// Registers the series of each role the plugin exports.
    pub(crate) fn new(plugin: &str, roles: &[Role]) -> Self {
        let roles = roles
            .iter()
            .map(|&role| {
                let labels = [
                    ("plugin", plugin.to_owned()),
                    ("role", role.interface().to_owned()),
                ];
                RoleSeries {
                    role,
                    calls: metrics::counter!("archway_plugin_calls_total", &labels),
                    duration: metrics::histogram!("archway_plugin_call_duration_seconds", &labels),
                    failures: FAILURE_KINDS.map(|kind| {
                        metrics::counter!(
                            "archway_plugin_call_failures_total",
                            "plugin" => plugin.to_owned(),
                            "role" => role.interface(),
                            "kind" => kind
                        )
                    }),
                }
            })
            .collect();
        Self { roles }
    }

    /// Records one call of `role` that took `elapsed` and ended in `failure`, if any.
    pub(crate) fn record(&self, role: Role, elapsed: Duration, failure: Option<&PluginError>) {
        let Some(series) = self.roles.iter().find(|series| series.role == role) else {
            return;
        };
        series.calls.increment(1);
        series.duration.record(elapsed.as_secs_f64());
        if let Some(error) = failure {
            let kind = failure_kind(error);
            if let Some(index) = FAILURE_KINDS.iter().position(|k| *k == kind) {
                series.failures[index].increment(1);
            }
        }
    }
}

/// The `kind` label of a failed call.
fn failure_kind(error: &PluginError) -> &'static str {
    match error {
        PluginError::Timeout { .. } => "timeout",
        PluginError::MemoryLimit { .. } => "memory",
        PluginError::Trap { .. } => "trap",
        PluginError::InvalidOutput { .. } => "invalid_output",
        PluginError::Instantiate { .. } => "instantiate",
    }
}
