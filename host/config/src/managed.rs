//! What the admin API manages beside the file config: services, registered instances,
//! routes and role grants, as last read from the store.

use std::collections::BTreeMap;

use crate::{InstanceConfig, RouteConfig, ServiceConfig};

/// Records managed through the admin API, merged into the file config by
/// [`crate::Config::with_managed`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Managed {
    /// Managed services.
    pub services: Vec<ServiceConfig>,
    /// Instances registered with a service, by the service's name.
    pub instances: Vec<(String, InstanceConfig)>,
    /// Managed routes (soft-deleted ones are not here).
    pub routes: Vec<RouteConfig>,
    /// Managed roles and the permissions each grants, added to the file's `[roles]` (a
    /// role in both grants the permissions of both).
    pub roles: BTreeMap<String, Vec<String>>,
}
