//! Tenants: how a request's tenant is found when no principal names one, each tenant's
//! budgets (requests per minute, concurrent plugin calls, a plugin call's CPU deadline
//! and memory), and the policy plugins a tenant runs after a route's authorizers. A
//! tenant's plugin is sandboxed to its tenant: it runs only on that tenant's requests,
//! with the tenant's budgets, its own instances and a `kv` space of its own.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::validate::{check_plugin, is_lower_token};
use crate::{Capability, Config, InstanceMode, PluginConfig, PluginSource};

/// `[tenancy]`: tenant resolution and the budgets of every tenant that sets none.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TenancyConfig {
    /// A request header naming the tenant of a request with no principal (for routes
    /// that do not authenticate); a principal's tenant always wins.
    pub header: Option<String>,
    /// Host names (without port) whose requests with no principal belong to a tenant.
    pub hosts: BTreeMap<String, String>,
    /// Requests per minute per tenant, over every route (0: unlimited).
    pub rate_limit_rpm: u32,
    /// The most calls into a tenant's policy plugins at once; further requests of that
    /// tenant wait for a free slot, within their route's timeout.
    pub max_concurrent_calls: usize,
    /// The CPU deadline of one call into a tenant's plugin, in milliseconds.
    pub timeout_ms: u64,
    /// The linear-memory cap of one instance of a tenant's plugin, in MiB.
    pub memory_mb: u64,
}

impl Default for TenancyConfig {
    fn default() -> Self {
        Self {
            header: None,
            hosts: BTreeMap::new(),
            rate_limit_rpm: 0,
            max_concurrent_calls: 4,
            timeout_ms: 50,
            memory_mb: 32,
        }
    }
}

/// `[[tenants]]`: one tenant's own budgets and policy plugins.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant id principals carry (letters, digits, `-`, `_`).
    pub id: String,
    /// Overrides `[tenancy] rate_limit_rpm`.
    #[serde(default)]
    pub rate_limit_rpm: Option<u32>,
    /// Overrides `[tenancy] max_concurrent_calls`.
    #[serde(default)]
    pub max_concurrent_calls: Option<usize>,
    /// Overrides `[tenancy] timeout_ms`.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Overrides `[tenancy] memory_mb`.
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Policy plugins from files, run in this order before the tenant's uploaded ones.
    #[serde(default)]
    pub plugins: Vec<TenantPluginConfig>,
}

/// A tenant's policy plugin: an `authorize` component from a file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantPluginConfig {
    /// Its name within the tenant (letters, digits, `-`, `_`).
    pub name: String,
    /// The component file; relative paths start at the config file's directory.
    pub path: PathBuf,
    /// Whether it reads the request body (buffered up to the route's limit).
    #[serde(default)]
    pub read_body: bool,
    /// Passed to its `init` as JSON.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

/// A tenant's budgets, its own settings over `[tenancy]`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantBudget {
    /// Requests per minute over every route (0: unlimited).
    pub rate_limit_rpm: u32,
    /// Calls into its plugins at once.
    pub max_concurrent_calls: usize,
    /// One plugin call's CPU deadline, in milliseconds.
    pub timeout_ms: u64,
    /// One plugin instance's memory cap, in MiB.
    pub memory_mb: u64,
}

/// The capabilities a tenant's plugin gets: its own data, logs and metrics, nothing that
/// reaches other tenants, services or the gateway.
pub const TENANT_CAPABILITIES: [Capability; 3] =
    [Capability::Log, Capability::Kv, Capability::Metrics];

/// The longest tenant id or tenant plugin name.
pub const MAX_TENANT_NAME_BYTES: usize = 64;

/// Whether `name` can be a tenant id or a tenant plugin's name: 1-64 letters, digits,
/// `-` or `_`, so it is one segment of every key and path it appears in.
pub fn is_tenant_name(name: &str) -> bool {
    (1..=MAX_TENANT_NAME_BYTES).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl TenancyConfig {
    /// A tenant's budgets: those its `[[tenants]]` entry sets, else these.
    pub fn budget(&self, tenant: Option<&TenantConfig>) -> TenantBudget {
        TenantBudget {
            rate_limit_rpm: tenant
                .and_then(|t| t.rate_limit_rpm)
                .unwrap_or(self.rate_limit_rpm),
            max_concurrent_calls: tenant
                .and_then(|t| t.max_concurrent_calls)
                .unwrap_or(self.max_concurrent_calls),
            timeout_ms: tenant.and_then(|t| t.timeout_ms).unwrap_or(self.timeout_ms),
            memory_mb: tenant.and_then(|t| t.memory_mb).unwrap_or(self.memory_mb),
        }
    }
}

/// The settings a tenant's plugin loads with: its tenant's budgets, the tenant
/// capabilities, pooled instances of its own, named `<tenant>/<name>` (no other plugin's
/// name has a `/`).
pub fn tenant_plugin_settings(
    tenant: &str,
    name: &str,
    source: PluginSource,
    budget: TenantBudget,
    read_body: bool,
    config: BTreeMap<String, toml::Value>,
) -> PluginConfig {
    PluginConfig {
        name: format!("{tenant}/{name}"),
        source,
        uploads: false,
        capabilities: TENANT_CAPABILITIES.to_vec(),
        share: Vec::new(),
        instances: InstanceMode::Pooled,
        max_idle_instances: budget.max_concurrent_calls,
        max_concurrent_calls: budget.max_concurrent_calls,
        timeout_ms: budget.timeout_ms,
        memory_mb: budget.memory_mb,
        read_body,
        read_response_body: false,
        upstreams: Vec::new(),
        key_sets: Vec::new(),
        max_upstream_response_bytes: 1 << 20,
        max_metric_series: 100,
        tick_interval_ms: None,
        config,
        canary: None,
        tenant: Some(tenant.to_owned()),
    }
}

/// What is wrong with `[tenancy]` and `[[tenants]]` (the budgets are checked with each
/// tenant plugin's settings).
pub(crate) fn problems(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let tenancy = &config.tenancy;
    if let Some(header) = &tenancy.header {
        if !is_lower_token(header) {
            problems.push(format!(
                "tenancy: header {header:?} must be lower-case letters, digits and -"
            ));
        } else if config.identity.headers().contains(&header.as_str())
            || config.identity.credential_headers().any(|h| h == header)
        {
            problems.push(format!(
                "tenancy: header {header} is an identity or credential header"
            ));
        }
    }
    for (host, tenant) in &tenancy.hosts {
        if host.is_empty() || host.contains(':') || host.bytes().any(|b| b.is_ascii_uppercase()) {
            problems.push(format!(
                "tenancy.hosts: {host:?} must be a lower-case host name without a port"
            ));
        }
        if !is_tenant_name(tenant) {
            problems.push(format!(
                "tenancy.hosts.{host}: {tenant:?} is not a tenant id"
            ));
        }
    }
    let mut ids = HashSet::new();
    for tenant in &config.tenants {
        let id = &tenant.id;
        if !is_tenant_name(id) {
            problems.push(format!(
                "tenants: {id:?} must be 1-{MAX_TENANT_NAME_BYTES} letters, digits, - or _"
            ));
        } else if !ids.insert(id) {
            problems.push(format!("tenants: {id} is defined twice"));
        }
        let mut names = HashSet::new();
        for plugin in &tenant.plugins {
            if !is_tenant_name(&plugin.name) {
                problems.push(format!(
                    "tenants.{id}.plugins: {:?} must be 1-{MAX_TENANT_NAME_BYTES} letters, digits, - or _",
                    plugin.name
                ));
            } else if !names.insert(&plugin.name) {
                problems.push(format!(
                    "tenants.{id}.plugins: {} is defined twice",
                    plugin.name
                ));
            }
        }
    }
    let budget = tenancy.budget(None);
    let defaults = tenant_plugin_settings(
        "tenancy",
        "defaults",
        PluginSource::Uploaded,
        budget,
        false,
        BTreeMap::new(),
    );
    let mut checked = Vec::new();
    check_plugin(&defaults, &mut checked);
    problems.extend(
        checked
            .into_iter()
            .map(|p| p.replace("plugin tenancy/defaults", "tenancy")),
    );
    problems
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml_str(text, Path::new("/etc/archway"))
    }

    use super::*;

    #[test]
    fn a_tenant_takes_its_own_budgets_over_the_defaults_and_its_plugins_are_sandboxed() {
        let config = parse(
            r#"
            [tenancy]
            header = "x-tenant-id"
            timeout_ms = 40
            [[tenants]]
            id = "acme"
            max_concurrent_calls = 2
            [[tenants.plugins]]
            name = "hours"
            path = "hours.wasm"
            read_body = true
            "#,
        )
        .expect("valid");
        let budget = config.tenant_budget("acme");
        assert_eq!(
            (
                budget.max_concurrent_calls,
                budget.timeout_ms,
                budget.memory_mb
            ),
            (2, 40, 32)
        );
        assert_eq!(config.tenant_budget("globex").max_concurrent_calls, 4);
        let plugin = config.tenant_plugins().next().expect("one plugin");
        assert_eq!(plugin.name, "acme/hours");
        assert_eq!(plugin.tenant.as_deref(), Some("acme"));
        assert_eq!(
            plugin.source,
            PluginSource::Path("/etc/archway/hours.wasm".into())
        );
        assert_eq!(plugin.capabilities, TENANT_CAPABILITIES);
        assert_eq!((plugin.max_concurrent_calls, plugin.timeout_ms), (2, 40));
        assert!(plugin.read_body);
    }

    #[test]
    fn bad_tenancy_is_refused_naming_each_problem() {
        let error = parse(
            r#"
            [tenancy]
            header = "x-auth-tenant"
            hosts = { "Acme.example:80" = "a b" }
            max_concurrent_calls = 0
            [[tenants]]
            id = "acme"
            [[tenants.plugins]]
            name = "p"
            path = "p.wasm"
            [[tenants.plugins]]
            name = "p"
            path = "q.wasm"
            [[tenants]]
            id = "acme"
            [[plugins]]
            name = "a/b"
            builtin = "admin"
            "#,
        )
        .expect_err("invalid")
        .to_string();
        for problem in [
            "tenancy: header x-auth-tenant is an identity or credential header",
            "tenancy.hosts: \"Acme.example:80\" must be a lower-case host name without a port",
            "tenancy.hosts.Acme.example:80: \"a b\" is not a tenant id",
            "tenancy: max_concurrent_calls must be 1..=1000",
            "tenants.acme.plugins: p is defined twice",
            "tenants: acme is defined twice",
            "plugin a/b: a plugin name has no /",
        ] {
            assert!(error.contains(problem), "{problem:?} missing from {error}");
        }
    }
}
