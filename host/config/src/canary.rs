//! Canary rollout of a new plugin version: a share of requests, and every request of the
//! tenants listed, runs the new version while the rest stays on the serving one; the new
//! version is rolled back on its own when its error rate over a window passes a
//! threshold.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[plugins.canary]`: the new version and how much traffic it gets.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// The new version's component; relative paths start at the config file's directory.
    pub path: PathBuf,
    /// The share of requests it runs, in percent (0-100).
    #[serde(default)]
    pub percent: f64,
    /// Tenants whose every request runs it.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Rolled back when its failed calls (traps, CPU timeouts, the memory cap, invalid
    /// answers) over one window pass this share of its calls (0-1).
    #[serde(default = "default_max_error_rate")]
    pub max_error_rate: f64,
    /// The window the error rate is counted over, in seconds.
    #[serde(default = "default_window_seconds")]
    pub window_seconds: u64,
    /// The calls a window needs before its error rate counts.
    #[serde(default = "default_min_calls")]
    pub min_calls: u64,
}

fn default_max_error_rate() -> f64 {
    0.05
}
fn default_window_seconds() -> u64 {
    60
}
fn default_min_calls() -> u64 {
    20
}

impl CanaryConfig {
    /// What is wrong with it, for plugin `plugin`.
    pub(crate) fn problems(&self, plugin: &str) -> Vec<String> {
        let at = format!("plugin {plugin}: canary");
        let mut problems = Vec::new();
        if !(0.0..=100.0).contains(&self.percent) {
            problems.push(format!("{at}: percent must be 0..=100"));
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            problems.push(format!("{at}: max_error_rate must be 0..=1"));
        }
        if !(1..=86_400).contains(&self.window_seconds) {
            problems.push(format!("{at}: window_seconds must be 1..=86400"));
        }
        if !(1..=1_000_000).contains(&self.min_calls) {
            problems.push(format!("{at}: min_calls must be 1..=1000000"));
        }
        if self.percent == 0.0 && self.tenants.is_empty() {
            problems.push(format!(
                "{at}: neither percent nor tenants sends it any request"
            ));
        }
        problems
    }
}
