//! One immutable snapshot: the routes, the services and plugins they use (and the plugins
//! that tick) and the config they came from — what a request sees from start to end, even if a reload swaps in a new one
//! meanwhile. [`Snapshot::build`] is the one builder: start-up, a file reload and a store
//! change all call it and swap the result in whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use archway_config::{Config, ConfigError, Managed};
use archway_jwt::KeySets;
use archway_runtime::{LoadError, Plugin, Role};

use crate::connection::Settings;
use crate::route::{Route, RouteError};
use crate::router::Router;
use crate::service::{ServiceError, Services};
use crate::tenants::Tenants;
use crate::upstreams::Upstreams;

/// The loaded plugins a snapshot serves with, by name.
pub type Plugins = HashMap<String, Arc<Plugin>>;

/// The permissions each role grants.
pub type RoleGrants = BTreeMap<String, Vec<String>>;

/// Why a snapshot could not be built; the caller keeps serving the one it has.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The managed routes and services do not fit the file config.
    #[error("managed routes do not fit the file config: {0}")]
    Managed(#[source] ConfigError),
    /// A service cannot be used (its CA file).
    #[error("cannot use a service: {0}")]
    Service(#[from] ServiceError),
    /// A route cannot be served (missing plugin or role, bad service, conflict).
    #[error("cannot build the routing table: {0}")]
    Route(#[from] RouteError),
    /// A plugin with a tick schedule does not export `tick`.
    #[error("tick_interval_ms is set, but {0}")]
    Tick(#[source] LoadError),
    /// A tenant's plugin does not export `authorize`.
    #[error("a tenant's policy plugin must authorize: {0}")]
    TenantPolicy(#[source] LoadError),
}

/// Routes with their plugins, ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    config: Arc<Config>,
    managed: Arc<Managed>,
    plugins: Arc<Plugins>,
    services: Arc<Services>,
    upstreams: Arc<Upstreams>,
    key_sets: Arc<KeySets>,
    roles: RoleGrants,
    tenants: Tenants,
    router: Router,
    connections: Arc<Settings>,
}

impl Snapshot {
    /// Builds the snapshot for a file config, the managed records, and the plugins and
    /// JWT key sets loaded for that config; services get their pooled clients and the
    /// state their requests built up from `upstreams` (a rebuild passes on the serving
    /// snapshot's, so warm connections, health and breakers stay).
    pub fn build(
        config: Arc<Config>,
        managed: Arc<Managed>,
        plugins: Arc<Plugins>,
        upstreams: Arc<Upstreams>,
        key_sets: Arc<KeySets>,
    ) -> Result<Self, SnapshotError> {
        let merged = if managed.services.is_empty()
            && managed.instances.is_empty()
            && managed.routes.is_empty()
        {
            None
        } else {
            Some(
                config
                    .with_managed(&managed)
                    .map_err(SnapshotError::Managed)?,
            )
        };
        for plugin in plugins.values() {
            if plugin.settings().tick_interval_ms.is_some() {
                plugin
                    .require_role(Role::Tick)
                    .map_err(SnapshotError::Tick)?;
            }
        }
        let view = merged.as_ref().unwrap_or(&config);
        let services = Services::build(&view.services, &upstreams)?;
        let routes = view
            .routes
            .iter()
            .map(|route| Route::build(view, route, &services, &plugins))
            .collect::<Result<Vec<_>, _>>()?;
        let mut roles = config.roles.clone();
        for (role, permissions) in &managed.roles {
            let granted = roles.entry(role.clone()).or_default();
            granted.extend(permissions.iter().cloned());
            granted.sort();
            granted.dedup();
        }
        let tenants = Tenants::build(&config, &plugins).map_err(SnapshotError::TenantPolicy)?;
        Ok(Self {
            router: Router::new(routes)?,
            tenants,
            connections: Arc::new(Settings::new(&config.server)),
            roles,
            config,
            managed,
            plugins,
            services: Arc::new(services),
            upstreams,
            key_sets,
        })
    }

    /// A successor with the same file config, plugins, upstream state and key sets, on
    /// other managed records.
    pub fn with_managed(&self, managed: Arc<Managed>) -> Result<Self, SnapshotError> {
        Self::build(
            self.config.clone(),
            managed,
            self.plugins.clone(),
            self.upstreams.clone(),
            self.key_sets.clone(),
        )
    }

    /// A snapshot like this one serving `plugins` instead of its own.
    pub fn with_plugins(&self, plugins: Arc<Plugins>) -> Result<Self, SnapshotError> {
        Self::build(
            self.config.clone(),
            self.managed.clone(),
            plugins,
            self.upstreams.clone(),
            self.key_sets.clone(),
        )
    }

    /// The file config it was built from.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// How client connections accepted while it serves are served.
    pub(crate) fn connections(&self) -> &Arc<Settings> {
        &self.connections
    }

    /// The JWT key sets plugins verify tokens with while it serves.
    pub fn key_sets(&self) -> &Arc<KeySets> {
        &self.key_sets
    }

    /// The permissions each role grants: the file's `[roles]` and the managed roles.
    pub fn roles(&self) -> &RoleGrants {
        &self.roles
    }

    /// The tenants' budgets and policy plugins.
    pub(crate) fn tenants(&self) -> &Tenants {
        &self.tenants
    }

    /// Tenant `tenant`'s policy plugins, in the order they run.
    pub fn tenant_plugins(&self, tenant: &str) -> &[Arc<Plugin>] {
        self.tenants
            .policies(tenant)
            .map_or(&[], |policies| &policies.plugins)
    }

    /// The managed records it was built with.
    pub fn managed(&self) -> &Arc<Managed> {
        &self.managed
    }

    /// The plugins it serves with.
    pub fn plugins(&self) -> &Arc<Plugins> {
        &self.plugins
    }

    /// The upstream services, by name.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// The upstream state its services share with the snapshots before and after it.
    pub fn upstreams(&self) -> &Arc<Upstreams> {
        &self.upstreams
    }

    /// The routing table.
    pub fn router(&self) -> &Router {
        &self.router
    }
}
