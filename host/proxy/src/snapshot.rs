//! One immutable routing snapshot: what a request sees from start to end, even if a
//! reload swaps in a new one meanwhile.

use std::collections::HashMap;
use std::sync::Arc;

use archway_config::Config;
use archway_runtime::Plugin;

use crate::route::{Route, RouteError};
use crate::router::Router;

/// Routes with their plugins, ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    /// The routing table.
    pub router: Router,
}

impl Snapshot {
    /// Builds the snapshot from a config and its loaded plugins.
    pub fn build(
        config: &Config,
        plugins: &HashMap<String, Arc<Plugin>>,
    ) -> Result<Self, RouteError> {
        let routes = config
            .routes
            .iter()
            .map(|route| Route::build(config, route, plugins, config.server.max_body_bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            router: Router::new(routes)?,
        })
    }
}
