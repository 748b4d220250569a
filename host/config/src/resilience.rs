//! How the gateway keeps a service usable when its instances fail: health checks (active
//! probes and passive marking), the circuit breaker each instance has, and the share of
//! requests that may be retries. Routes turn the breaker and retries on
//! (`circuit_breaker_enabled`, `retry_count`); these tables tune them per service.

use serde::{Deserialize, Serialize};

/// When an instance is marked unhealthy and healthy again.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Consecutive failed probes of `health_check_url` that mark an instance unhealthy.
    pub unhealthy_threshold: u32,
    /// Consecutive passing probes that mark it healthy again.
    pub healthy_threshold: u32,
    /// How long a probe may take before it counts as failed.
    pub timeout_ms: u64,
    /// Consecutive failed requests (no connection, broken off, or a 5xx answer) that
    /// mark an instance unhealthy without a probe; 0 turns passive marking off.
    pub passive_failures: u32,
    /// How long a passively marked instance without `health_check_url` stays out; one
    /// with a probe comes back when its probes pass.
    pub eject_seconds: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            timeout_ms: 2000,
            passive_failures: 5,
            eject_seconds: 30,
        }
    }
}

/// The circuit breaker of each instance of a service, used by routes with
/// `circuit_breaker_enabled`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures within `window_seconds` that open the breaker, when they are at least
    /// `failure_rate_percent` of the window's requests.
    pub failure_threshold: u32,
    /// The share of the window's requests that must have failed, so a busy instance
    /// with a few errors stays in.
    pub failure_rate_percent: u32,
    /// The window failures are counted in.
    pub window_seconds: u64,
    /// How long an open breaker refuses requests before it lets one probe through
    /// (half-open): its success closes the breaker, its failure opens it again.
    pub open_seconds: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            failure_rate_percent: 50,
            window_seconds: 10,
            open_seconds: 30,
        }
    }
}

/// How many of a service's requests may be retries, so retries cannot multiply an
/// outage: every request earns `percent` hundredths of a retry, up to `reserve` saved.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBudgetConfig {
    /// Retries allowed per 100 requests, over time.
    pub percent: u32,
    /// Retries that may be spent at once (and that a fresh service starts with).
    pub reserve: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            percent: 20,
            reserve: 10,
        }
    }
}
