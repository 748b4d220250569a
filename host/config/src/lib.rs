//! The gateway's configuration: an `archway.toml` file read strictly (unknown keys are
//! errors), resolved against the file's directory, validated as a whole, and handed out
//! as an immutable [`Config`]. An empty file is refused, closed sets of values are enums,
//! and fields the gateway parses but does not act on yet are listed by
//! [`Config::warnings`].
//!
//! ```
//! let config = archway_config::Config::from_toml_str(r#"
//!     [[services]]
//!     name = "users"
//!     url = "http://127.0.0.1:9000"
//!
//!     [[routes]]
//!     service_name = "users"
//!     path_pattern = "/api/v1/users/*"
//!     target_url = "/users/*"
//!     method = "GET"
//!     requires_auth = false
//! "#, std::path::Path::new(".")).expect("valid config");
//! assert_eq!(config.routes[0].target_url, "/users/*");
//! ```
#![deny(missing_docs)]

mod canary;
mod compression;
mod cors;
mod error;
mod jwt;
mod limits;
mod managed;
mod model;
mod resilience;
mod tenancy;
mod tls;
mod validate;

pub use canary::CanaryConfig;
pub use compression::CompressionConfig;
pub use cors::CorsConfig;
pub use error::ConfigError;
pub use jwt::{JwtConfig, KeySetConfig, KeySource, MAX_LEEWAY_SECONDS};
pub use limits::{Network, RateLimitAlgorithm};
pub use managed::Managed;
/// The envelope of errors the gateway itself produces (`admin` or `trading`).
pub use model::ErrorFormat;
/// How a route spreads requests over a service's instances.
pub use model::LoadBalanceStrategy;
/// Whether a route needs `any` or `all` of its `required_permissions`.
pub use model::PermissionStrategy;
pub use model::{
    AdminDocsConfig, Capability, Config, Endpoint, FailurePolicy, HealthEndpointConfig,
    IdentityConfig, InstanceConfig, InstanceMode, InstanceStatus, LogConfig, LogFormat, Method,
    MetricsConfig, PluginConfig, PluginSource, Probe, Protocol, RateLimitFailure, RouteConfig,
    RouteDefaults, ServerConfig, ServiceConfig, StoreSettings, TracingConfig,
};
pub use resilience::{BreakerConfig, HealthConfig, RetryBudgetConfig};
pub use tenancy::{
    MAX_TENANT_NAME_BYTES, TENANT_CAPABILITIES, TenancyConfig, TenantBudget, TenantConfig,
    TenantPluginConfig, is_tenant_name, tenant_plugin_settings,
};
pub use tls::{CertificateConfig, TlsConfig};

use std::path::Path;

impl Config {
    /// Reads, parses and validates a config file; relative plugin paths resolve against
    /// the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| e.in_file(path))
    }

    /// Parses and validates config text; `base` is the directory relative paths start from.
    pub fn from_toml_str(text: &str, base: &Path) -> Result<Self, ConfigError> {
        Self::parse(text, base)
    }

    fn parse(text: &str, base: &Path) -> Result<Self, ConfigError> {
        // A file with no settings (empty, or only the comments a config starts with) is
        // valid TOML for an all-defaults config, but it is far more often an editor's or
        // a copy's half-written state, which hot reload must never apply.
        let blank_or_comment = |line: &str| line.is_empty() || line.starts_with('#');
        if text.lines().map(str::trim).all(blank_or_comment) {
            return Err(ConfigError::Parse {
                file: None,
                message: "the config file is empty".to_owned(),
            });
        }
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: None,
            message: e.to_string(),
        })?;
        config.resolve(base);
        validate::validate(&config)?;
        Ok(config)
    }

    fn resolve(&mut self, base: &Path) {
        for (index, route) in self.routes.iter_mut().enumerate() {
            if route.id.is_empty() {
                route.id = format!("route-{index}");
            }
        }
        if self.store.path.is_relative() {
            self.store.path = base.join(&self.store.path);
        }
        if self.server.cache_dir.is_relative() {
            self.server.cache_dir = base.join(&self.server.cache_dir);
        }
        if let Some(tls) = &mut self.server.tls {
            tls.resolve(base);
        }
        for service in &mut self.services {
            service.resolve(base);
        }
        for key_set in self.jwt.key_sets.values_mut() {
            key_set.resolve(base);
        }
        for plugin in &mut self.plugins {
            if let PluginSource::Path(path) = &mut plugin.source
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
            if let Some(canary) = &mut plugin.canary
                && canary.path.is_relative()
            {
                canary.path = base.join(&canary.path);
            }
        }
        for plugin in self.tenants.iter_mut().flat_map(|t| &mut t.plugins) {
            if plugin.path.is_relative() {
                plugin.path = base.join(&plugin.path);
            }
        }
    }

    /// The budgets of tenant `id`: its `[[tenants]]` entry's, else `[tenancy]`'s.
    pub fn tenant_budget(&self, id: &str) -> TenantBudget {
        self.tenancy
            .budget(self.tenants.iter().find(|tenant| tenant.id == id))
    }

    /// The settings of every tenant policy plugin the file declares, in order.
    pub fn tenant_plugins(&self) -> impl Iterator<Item = PluginConfig> + '_ {
        self.tenants.iter().flat_map(move |tenant| {
            let budget = self.tenant_budget(&tenant.id);
            tenant.plugins.iter().map(move |plugin| {
                tenant_plugin_settings(
                    &tenant.id,
                    &plugin.name,
                    PluginSource::Path(plugin.path.clone()),
                    budget,
                    plugin.read_body,
                    plugin.config.clone(),
                )
            })
        })
    }

    /// The plugin entry with this name.
    pub fn plugin(&self, name: &str) -> Option<&PluginConfig> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// This file config plus what the admin API manages, checked as a whole. File entries
    /// are read-only: a managed service or route whose name or id the file already uses
    /// is left out. Registered instances join the service they name when it has no `url`
    /// (a service no one declared is created for them), and a managed route to a service
    /// no one declared gets an empty one, which answers 503 until an instance registers.
    pub fn with_managed(&self, managed: &Managed) -> Result<Self, ConfigError> {
        let mut merged = self.clone();
        for service in &managed.services {
            if self.service(&service.name).is_none() {
                merged.services.push(service.clone());
            }
        }
        for route in &managed.routes {
            if !self.routes.iter().any(|r| r.id == route.id) {
                merged.routes.push(route.clone());
            }
        }
        let needed = managed
            .instances
            .iter()
            .map(|(service, _)| service)
            .chain(
                merged
                    .routes
                    .iter()
                    .filter(|r| r.handler.is_none() && !r.service_name.is_empty())
                    .map(|r| &r.service_name),
            )
            .cloned()
            .collect::<Vec<_>>();
        for name in needed {
            if merged.service(&name).is_none() {
                merged.services.push(ServiceConfig {
                    name,
                    ..ServiceConfig::default()
                });
            }
        }
        for (name, instance) in &managed.instances {
            if let Some(service) = merged.services.iter_mut().find(|s| &s.name == name)
                && service.url.is_none()
            {
                service.instances.push(instance.clone());
            }
        }
        validate::validate(&merged)?;
        Ok(merged)
    }

    /// The error envelope for a request that matches no route: the value of the longest
    /// `[error_formats]` key that `path` starts with, [`ErrorFormat::Admin`] when none.
    ///
    /// ```
    /// use archway_config::{Config, ErrorFormat};
    ///
    /// let config = Config::from_toml_str(
    ///     "[error_formats]\n\"/api/\" = \"trading\"\n\"/api/admin/\" = \"admin\"\n",
    ///     std::path::Path::new("."),
    /// )
    /// .expect("valid config");
    /// assert_eq!(config.unmatched_error_format("/api/orders"), ErrorFormat::Trading);
    /// assert_eq!(config.unmatched_error_format("/api/admin/x"), ErrorFormat::Admin);
    /// assert_eq!(config.unmatched_error_format("/other"), ErrorFormat::Admin);
    /// ```
    pub fn unmatched_error_format(&self, path: &str) -> ErrorFormat {
        self.error_formats
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(ErrorFormat::Admin, |(_, format)| *format)
    }

    /// Fields this config sets that the gateway parses but does not act on yet, one line
    /// each, for `archway check` and the start-up log to print.
    ///
    /// They exist because the admin API contract defines these route fields (and defaults
    /// `retry_count = 3` and `circuit_breaker_enabled = true`) before the gateway
    /// implements them; accepting them silently would let a config promise retries,
    /// caching or a circuit breaker that never happen.
    pub fn warnings(&self) -> Vec<String> {
        validate::warnings(self)
    }

    /// The service entry with this name.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn an_empty_config_file_is_refused() {
        for text in [
            "",
            "   ",
            "\n\n\t\r\n",
            "# Quickstart: the first line of a file being copied\n",
        ] {
            let err = Config::from_toml_str(text, Path::new(".")).expect_err("empty");
            assert!(
                matches!(&err, ConfigError::Parse { message, .. } if message == "the config file is empty"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn loading_an_empty_file_names_the_file() {
        let path = std::env::temp_dir().join(format!("archway-empty-{}.toml", std::process::id()));
        std::fs::write(&path, "\n").expect("write temp file");
        let err = Config::load(&path).expect_err("empty");
        std::fs::remove_file(&path).expect("remove temp file");
        assert_eq!(
            err.to_string(),
            format!("{}: the config file is empty", path.display())
        );
    }

    #[test]
    fn unmatched_requests_take_the_longest_matching_prefix_format() {
        let config = Config::from_toml_str(
            "[error_formats]\n\"/\" = \"trading\"\n\"/admin/\" = \"admin\"\n\"/admin/trade/\" = \"trading\"\n",
            Path::new("."),
        )
        .expect("valid");
        for (path, format) in [
            ("/x", ErrorFormat::Trading),
            ("/admin/", ErrorFormat::Admin),
            ("/admin/users", ErrorFormat::Admin),
            ("/admin/trade/7", ErrorFormat::Trading),
        ] {
            assert_eq!(config.unmatched_error_format(path), format, "{path}");
        }
        let none = Config::from_toml_str("[server]\n", Path::new(".")).expect("valid");
        assert_eq!(none.unmatched_error_format("/x"), ErrorFormat::Admin);
    }
}
