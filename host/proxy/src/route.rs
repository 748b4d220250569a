//! A route compiled for serving: its config, its plugins resolved and role-checked, its
//! upstream, and how its path maps onto the upstream's.

use std::sync::Arc;
use std::time::Duration;

use archway_config::{Capability, Config, IdentityConfig, RouteConfig};
use archway_runtime::{LoadError, Plugin, Role, RouteInfo};
use http::HeaderName;

use crate::body::ProxyBody;
use crate::cors::Cors;
use crate::error::GatewayError;
use crate::limit;
use crate::metrics::RouteMetrics;
use crate::service::{Service, Services};
use crate::snapshot::Plugins;

/// Where a route's requests go.
#[derive(Debug)]
pub enum Dispatch {
    /// To an upstream service.
    Upstream(Arc<Service>),
    /// To a handler plugin.
    Handler(Arc<Plugin>),
}

/// A route ready to serve.
#[derive(Debug)]
pub struct Route {
    /// The route's id.
    pub id: Arc<str>,
    /// The route as configured.
    pub config: RouteConfig,
    /// The settings plugins may read.
    pub info: Arc<RouteInfo>,
    /// Authenticators, in order.
    pub authenticate: Vec<Arc<Plugin>>,
    /// Authorizers, in order.
    pub authorize: Vec<Arc<Plugin>>,
    /// Transforms, in order.
    pub transform: Vec<Arc<Plugin>>,
    /// Upstream or handler.
    pub dispatch: Dispatch,
    /// Whether its handler is granted `admin`: with `[server] admin_listen`, it is served
    /// on that listener only.
    pub admin: bool,
    /// The upstream path template.
    pub target: Target,
    /// The route's timeout: everything after routing, up to the response head.
    pub timeout: Duration,
    /// The request body limit.
    pub max_body_bytes: u64,
    /// Whether some plugin on the route reads the body, so it must be buffered.
    pub buffers_body: bool,
    /// The response body limit when a transform reads it: buffered up to this many bytes,
    /// `None` when no transform on the route reads it (it streams).
    pub buffers_response_body: Option<u64>,
    /// The route's series on the metrics endpoint.
    pub(crate) metrics: RouteMetrics,
    /// The headers that carry the principal upstream.
    pub(crate) identity: IdentityHeaders,
    /// Its CORS rules (its own, else the gateway's), if any.
    pub(crate) cors: Option<Cors>,
    /// How long its responses are cached, at most; `None` when they are not.
    pub(crate) cache_ttl: Option<Duration>,
    /// The smallest declared response length it compresses; `None` when it does not.
    pub(crate) compress_min_bytes: Option<u64>,
    /// Its id as it appears in its rate-limit keys (escaped once, not per request).
    pub(crate) limit_segment: String,
}

/// The identity and credential headers from `[identity]`, parsed once per snapshot.
#[derive(Debug)]
pub(crate) struct IdentityHeaders {
    pub(crate) subject: HeaderName,
    pub(crate) tenant: HeaderName,
    pub(crate) roles: HeaderName,
    /// The headers that carry credentials (`authorization`, `x-api-key` and the extra ones).
    pub(crate) credentials: Vec<HeaderName>,
}

impl IdentityHeaders {
    fn new(config: &IdentityConfig) -> Self {
        // Config validation admits only lower-case tokens, which are header names.
        let name =
            |text: &str| HeaderName::from_bytes(text.as_bytes()).expect("a validated header name");
        Self {
            subject: name(&config.subject_header),
            tenant: name(&config.tenant_header),
            roles: name(&config.roles_header),
            credentials: config.credential_headers().map(name).collect(),
        }
    }

    /// All three.
    pub(crate) fn all(&self) -> [&HeaderName; 3] {
        [&self.subject, &self.tenant, &self.roles]
    }
}

/// Why a route could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A plugin named by the route is not loaded.
    #[error("route {route}: plugin {plugin} is not loaded")]
    MissingPlugin {
        /// The route id.
        route: String,
        /// The plugin name.
        plugin: String,
    },
    /// A plugin is used in a role it does not export.
    #[error("route {route}: {source}")]
    Role {
        /// The route id.
        route: String,
        /// The runtime's error.
        source: LoadError,
    },
    /// The route's service is not configured.
    #[error("route {route}: service {service} is not configured")]
    BadService {
        /// The route id.
        route: String,
        /// The service.
        service: String,
    },
    /// Two routes' patterns cannot coexist in the router.
    #[error("route {route}: path_pattern {pattern} conflicts with another route: {reason}")]
    Conflict {
        /// The route id.
        route: String,
        /// The pattern.
        pattern: String,
        /// The router's reason.
        reason: String,
    },
}

impl Route {
    /// Resolves a route's plugins and service; `config` holds the limits.
    pub fn build(
        config: &Config,
        route: &RouteConfig,
        services: &Services,
        plugins: &Plugins,
    ) -> Result<Self, RouteError> {
        let resolve = |names: &[String], role: Role| -> Result<Vec<Arc<Plugin>>, RouteError> {
            names
                .iter()
                .map(|name| {
                    let plugin = plugins.get(name).ok_or_else(|| RouteError::MissingPlugin {
                        route: route.id.clone(),
                        plugin: name.clone(),
                    })?;
                    plugin
                        .require_role(role)
                        .map_err(|source| RouteError::Role {
                            route: route.id.clone(),
                            source,
                        })?;
                    Ok(plugin.clone())
                })
                .collect()
        };
        let authenticate = resolve(config.authenticators(route), Role::Authenticate)?;
        let authorize = resolve(&route.authorize, Role::Authorize)?;
        let transform = resolve(&route.transform, Role::Transform)?;
        let dispatch =
            match &route.handler {
                Some(handler) => Dispatch::Handler(
                    resolve(std::slice::from_ref(handler), Role::Handle)?.remove(0),
                ),
                None => Dispatch::Upstream(services.get(&route.service_name).cloned().ok_or_else(
                    || RouteError::BadService {
                        route: route.id.clone(),
                        service: route.service_name.clone(),
                    },
                )?),
            };
        let admin = matches!(&dispatch, Dispatch::Handler(plugin)
            if plugin.settings().capabilities.contains(&Capability::Admin));
        let buffers_body = matches!(dispatch, Dispatch::Handler(_))
            || authenticate
                .iter()
                .chain(&authorize)
                .chain(&transform)
                .any(|plugin| plugin.settings().read_body);
        let info = Arc::new(RouteInfo {
            id: route.id.clone(),
            service_name: route.handler.is_none().then(|| route.service_name.clone()),
            version: route.version.clone(),
            required_permissions: route.required_permissions.clone(),
        });
        Ok(Self {
            info,
            id: Arc::from(route.id.as_str()),
            target: Target::parse(&route.target_url),
            timeout: Duration::from_secs(route.timeout_seconds),
            max_body_bytes: route.max_body_bytes.unwrap_or(config.server.max_body_bytes),
            buffers_body,
            buffers_response_body: transform
                .iter()
                .any(|plugin| plugin.settings().read_response_body)
                .then(|| {
                    route
                        .max_response_body_bytes
                        .unwrap_or(config.server.max_response_body_bytes)
                }),
            metrics: RouteMetrics::new(&route.id),
            limit_segment: limit::segment(&route.id),
            identity: IdentityHeaders::new(&config.identity),
            cors: route.cors.as_ref().or(config.cors.as_ref()).map(Cors::new),
            cache_ttl: route
                .cache_enabled
                .then(|| Duration::from_secs(route.cache_ttl_seconds)),
            compress_min_bytes: route
                .compression
                .unwrap_or(config.compression.enabled)
                .then_some(config.compression.min_bytes),
            authenticate,
            authorize,
            transform,
            dispatch,
            admin,
            config: route.clone(),
        })
    }

    /// The gateway's own error response on this route, in its error format.
    pub fn error(&self, error: GatewayError, message: &str) -> http::Response<ProxyBody> {
        error.response(self.config.error_format, message)
    }
}

/// How the upstream path is made from the request path.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// Forward the request path unchanged.
    Same,
    /// A template: `{name}` takes a path parameter, a trailing `*` what the pattern's `*` matched.
    Template(String),
}

/// The path parameter name that the pattern's trailing `*` binds.
pub const REST_PARAM: &str = "rest";

impl Target {
    fn parse(target_url: &str) -> Self {
        if target_url.is_empty() {
            Self::Same
        } else {
            Self::Template(target_url.to_owned())
        }
    }

    /// The upstream path for a request path and its parameters.
    ///
    /// `/users/*` with rest `7/orders` gives `/users/7/orders`.
    pub fn path(&self, request_path: &str, params: &[(String, String)]) -> String {
        let Self::Template(template) = self else {
            return request_path.to_owned();
        };
        let mut path = template.clone();
        for (name, value) in params {
            if name == REST_PARAM {
                continue;
            }
            path = path.replace(&format!("{{{name}}}"), value);
        }
        if let Some(prefix) = path.strip_suffix('*') {
            let rest = params
                .iter()
                .find(|(n, _)| n == REST_PARAM)
                .map_or("", |(_, v)| v.as_str());
            path = format!("{prefix}{rest}");
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn wildcard_target_takes_the_matched_rest() {
        let target = Target::parse("/users/*");
        assert_eq!(
            target.path("/api/v1/users/7/orders", &params(&[("rest", "7/orders")])),
            "/users/7/orders"
        );
        assert_eq!(
            target.path("/api/v1/users/", &params(&[("rest", "")])),
            "/users/"
        );
    }

    #[test]
    fn named_parameters_are_substituted() {
        let target = Target::parse("/accounts/{id}/profile");
        assert_eq!(
            target.path("/u/42", &params(&[("id", "42")])),
            "/accounts/42/profile"
        );
    }

    #[test]
    fn empty_target_forwards_the_path() {
        assert_eq!(Target::parse("").path("/same/path", &[]), "/same/path");
    }
}
