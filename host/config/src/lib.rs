//! The gateway's configuration: an `archway.toml` file read strictly (unknown keys are
//! errors), resolved against the file's directory, validated as a whole, and handed out
//! as an immutable [`Config`].
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

mod error;
mod model;
mod validate;

pub use error::ConfigError;
pub use model::{
    Capability, Config, FailurePolicy, InstanceMode, LogConfig, LogFormat, Method, PluginConfig,
    PluginSource, RateLimitFailure, RouteConfig, ServerConfig, ServiceConfig, StoreSettings,
};

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
        for plugin in &mut self.plugins {
            if let PluginSource::Path(path) = &mut plugin.source
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        }
    }

    /// The plugin entry with this name.
    pub fn plugin(&self, name: &str) -> Option<&PluginConfig> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// This file config plus services and routes managed through the admin API, checked
    /// as a whole. File entries are read-only: a managed service or route whose name or id
    /// the file already uses is left out.
    pub fn with_managed(
        &self,
        services: impl IntoIterator<Item = ServiceConfig>,
        routes: impl IntoIterator<Item = RouteConfig>,
    ) -> Result<Self, ConfigError> {
        let mut merged = self.clone();
        for service in services {
            if self.service(&service.name).is_none() {
                merged.services.push(service);
            }
        }
        for route in routes {
            if !self.routes.iter().any(|r| r.id == route.id) {
                merged.routes.push(route);
            }
        }
        validate::validate(&merged)?;
        Ok(merged)
    }

    /// The service entry with this name.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }
}
