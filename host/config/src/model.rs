//! The config schema. Route fields use the admin API contract's names and defaults, so
//! the same JSON/TOML describes a route everywhere.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::resilience::{BreakerConfig, HealthConfig, RetryBudgetConfig};

/// The whole gateway config.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The health endpoint.
    #[serde(default)]
    pub health: HealthEndpointConfig,
    /// The admin API's OpenAPI document and Swagger UI.
    #[serde(default)]
    pub admin_docs: AdminDocsConfig,
    /// OpenTelemetry trace export.
    #[serde(default)]
    pub tracing: TracingConfig,
    /// Where gateway state and plugin data live.
    #[serde(default)]
    pub store: StoreSettings,
    /// Plugins that routes may use.
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
    /// Named upstream services.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// Routes, matched by method, path pattern and priority.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// The error envelope for requests that match no route, by longest matching path
    /// prefix (`"/api/" = "trading"`); see [`Config::unmatched_error_format`].
    #[serde(default)]
    pub error_formats: BTreeMap<String, ErrorFormat>,
    /// The headers that tell upstreams who the caller is.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// The permissions each role grants: a principal's roles add theirs to its own
    /// before routes' `required_permissions` are checked.
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
    /// Key sets for the `jwt` import.
    #[serde(default)]
    pub jwt: crate::JwtConfig,
    /// CORS rules for routes that set none of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<crate::CorsConfig>,
    /// Response compression for routes that do not choose for themselves.
    #[serde(default)]
    pub compression: crate::CompressionConfig,
    /// What routes use when they name nothing of their own.
    #[serde(default)]
    pub defaults: RouteDefaults,
    /// How requests find their tenant, and every tenant's default budgets.
    #[serde(default)]
    pub tenancy: crate::TenancyConfig,
    /// Tenants with budgets or policy plugins of their own.
    #[serde(default)]
    pub tenants: Vec<crate::TenantConfig>,
}

/// Gateway-wide plugin lists for routes that name none, so routes created through the
/// admin API (which name no plugins) authenticate like the file's.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RouteDefaults {
    /// The authenticate plugins of a route with `requires_auth` that lists none.
    pub authenticate: Vec<String>,
}

/// The headers in which the gateway forwards the authenticated principal to upstreams.
/// Client-supplied copies are always removed first, so a client cannot claim an identity.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// The principal's subject.
    pub subject_header: String,
    /// The principal's tenant, when it has one.
    pub tenant_header: String,
    /// The principal's roles, comma-separated.
    pub roles_header: String,
    /// Headers that carry credentials besides `authorization` and `x-api-key` (a custom
    /// API-key header): a request may have at most one of each credential header, and on
    /// routes with authenticate plugins they are not forwarded unless the route sets
    /// `forward_credentials`.
    pub extra_credential_headers: Vec<String>,
}

impl Config {
    /// The authenticate plugins `route` runs: its own list, or the gateway's default
    /// when it requires authentication and lists none.
    pub fn authenticators<'a>(&'a self, route: &'a RouteConfig) -> &'a [String] {
        match route.authenticate.is_empty() && route.requires_auth {
            true => &self.defaults.authenticate,
            false => &route.authenticate,
        }
    }
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            subject_header: "x-auth-subject".to_owned(),
            tenant_header: "x-auth-tenant".to_owned(),
            roles_header: "x-auth-roles".to_owned(),
            extra_credential_headers: Vec::new(),
        }
    }
}

impl IdentityConfig {
    /// Every credential header: `authorization`, `x-api-key` and the extra ones.
    pub fn credential_headers(&self) -> impl Iterator<Item = &str> {
        ["authorization", "x-api-key"]
            .into_iter()
            .chain(self.extra_credential_headers.iter().map(String::as_str))
    }

    /// The three header names.
    pub fn headers(&self) -> [&str; 3] {
        [
            &self.subject_header,
            &self.tenant_header,
            &self.roles_header,
        ]
    }
}

/// Where the gateway listens and its global limits.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The listening address.
    pub listen: SocketAddr,
    /// The admin API's own listener: when set, routes whose handler is granted `admin`
    /// (and the admin docs) are served there only, and the main listener answers them
    /// 404.
    pub admin_listen: Option<SocketAddr>,
    /// The largest request body accepted, unless a route sets its own.
    pub max_body_bytes: u64,
    /// The largest upstream response body buffered for a transform that reads it,
    /// unless a route sets its own.
    pub max_response_body_bytes: u64,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_seconds: u64,
    /// Worker threads serving requests; 0 means one per CPU.
    pub workers: usize,
    /// Where compiled plugins are cached across restarts (relative to the config file).
    pub cache_dir: PathBuf,
    /// Peers whose `X-Forwarded-For` says who the client is: the client is the rightmost
    /// address in it that is not one of these. Any other peer is the client itself.
    pub trusted_proxies: Vec<crate::Network>,
    /// How long a client may take to send a request head, and how long an HTTP/1
    /// connection waits for the next one; then it is closed (the slowloris guard).
    pub header_read_timeout_seconds: u64,
    /// A connection with no request in flight and no bytes moving for this long is closed.
    pub idle_timeout_seconds: u64,
    /// A connection whose client takes no response bytes for this long is closed.
    pub write_timeout_seconds: u64,
    /// The largest request head: the sum of its header names and values, in bytes (431).
    pub max_header_bytes: usize,
    /// The most header lines a request may carry (431).
    pub max_headers: usize,
    /// The longest request target (path and query), in bytes (414).
    pub max_uri_bytes: usize,
    /// Connections open at once; the gateway closes ones accepted beyond it.
    pub max_connections: usize,
    /// Requests in flight at once on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// The most memory this node's response cache holds, in bytes (each entry weighs its
    /// body and headers); the least recently used entries go first.
    pub response_cache_max_bytes: u64,
    /// The largest response body the response cache keeps, in bytes.
    pub response_cache_max_entry_bytes: u64,
    /// TLS termination: when set, the listener speaks HTTPS only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::TlsConfig>,
    /// The most upgraded connections (WebSocket tunnels) open at once; a handshake
    /// beyond them is refused with 503.
    pub max_tunnels: usize,
    /// A tunnel with no bytes either way for this long is closed.
    pub tunnel_idle_timeout_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            max_body_bytes: 10 * 1024 * 1024,
            max_response_body_bytes: 10 * 1024 * 1024,
            shutdown_grace_seconds: 10,
            workers: 0,
            cache_dir: PathBuf::from(".archway/cache"),
            trusted_proxies: Vec::new(),
            // Envoy's edge settings: request_headers_timeout, idle_timeout and
            // stream_idle_timeout; max_request_headers_kb and max_headers_count; the
            // overload manager's connection cap; max_concurrent_streams.
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 3600,
            write_timeout_seconds: 300,
            max_header_bytes: 60 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_connections: 50_000,
            http2_max_concurrent_streams: 100,
            response_cache_max_bytes: 64 * 1024 * 1024,
            response_cache_max_entry_bytes: 512 * 1024,
            tls: None,
            max_tunnels: 1000,
            tunnel_idle_timeout_seconds: 300,
        }
    }
}

/// The state store: an embedded file on this node, or Redis shared by every node.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// The embedded store's file (relative to the config file); unused with `redis_url`.
    pub path: PathBuf,
    /// A `redis://host:port/db` URL; when set, state is shared through Redis.
    pub redis_url: Option<String>,
    /// The longest one Redis operation may take before it fails, in milliseconds.
    pub op_timeout_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from(".archway/store.redb"),
            redis_url: None,
            op_timeout_ms: 250,
        }
    }
}

/// Log output.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Text (default) or JSON lines.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `archway=debug`.
    pub level: String,
    /// Whether to write one access-log line per request.
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
            access_log: true,
        }
    }
}

/// The metrics endpoint, answered on the gateway's listener before routing.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Whether `GET <path>` answers the metrics in Prometheus text format.
    pub enabled: bool,
    /// The endpoint's path.
    pub path: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: "/metrics".to_owned(),
        }
    }
}

/// The health endpoint, answered on the gateway's listener before routing and without
/// credentials, in the admin contract's shape (a load balancer's probe).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthEndpointConfig {
    /// Whether `GET <path>` answers.
    pub enabled: bool,
    /// The endpoint's path.
    pub path: String,
}

impl Default for HealthEndpointConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: "/health".to_owned(),
        }
    }
}

/// The admin API's OpenAPI document and the Swagger UI that renders it, answered on the
/// gateway's listener before routing and without credentials (they describe, they do not
/// act), when a route serves the builtin `admin` plugin.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminDocsConfig {
    /// Whether they are answered.
    pub enabled: bool,
    /// The OpenAPI 3.1 document's path.
    pub openapi_path: String,
    /// Swagger UI's path (its assets are under `<path>/`).
    pub swagger_ui_path: String,
}

impl Default for AdminDocsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            openapi_path: "/admin/openapi.json".to_owned(),
            swagger_ui_path: "/swagger-ui".to_owned(),
        }
    }
}

/// OpenTelemetry traces: a span per request with a child span per plugin call, sent to a
/// collector over OTLP/HTTP (JSON) when an endpoint is set.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP address (`http://127.0.0.1:4318`); spans are posted to
    /// `<endpoint>/v1/traces`. None (the default): nothing is traced.
    pub otlp_endpoint: Option<String>,
    /// The spans' `service.name`.
    pub service_name: String,
    /// The share (0-1) of the traces that start here which are sampled; a client's
    /// `traceparent` decides for its own trace.
    pub sample_ratio: f64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "archway".to_owned(),
            sample_ratio: 1.0,
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// One plugin: a component, the capabilities it is granted, its limits and its config.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The name routes refer to.
    pub name: String,
    /// Where the component comes from.
    #[serde(flatten)]
    pub source: PluginSource,
    /// Whether a new version may be uploaded through the admin API: the last version
    /// uploaded (kept in the store) then serves on every node instead of `source`'s,
    /// until it is removed.
    #[serde(default)]
    pub uploads: bool,
    /// Host imports the plugin may use; any other import fails the load.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Shared namespaces the plugin joins: its `kv` keys and stream names
    /// `shared/<namespace>/...` reach data every plugin that joined `<namespace>` sees.
    #[serde(default)]
    pub share: Vec<String>,
    /// Pooled live instances (default) or a fresh instance per request.
    #[serde(default)]
    pub instances: InstanceMode,
    /// The most live instances kept for reuse.
    #[serde(default = "default_max_idle")]
    pub max_idle_instances: usize,
    /// The most calls into the plugin at once (each holds an instance); further calls
    /// wait for a free slot, within their route's timeout.
    #[serde(default = "default_max_concurrent_calls")]
    pub max_concurrent_calls: usize,
    /// The CPU deadline of one call, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The linear-memory cap of one instance, in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Whether the host buffers the request body for this plugin's `body()`.
    #[serde(default)]
    pub read_body: bool,
    /// Whether the host buffers the response body for this transform's
    /// `response-head.body()`.
    #[serde(default)]
    pub read_response_body: bool,
    /// The services the plugin may call through the `upstream` import, by name.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// The `[jwt.key_sets]` the plugin may verify tokens with through the `jwt` import.
    #[serde(default)]
    pub key_sets: Vec<String>,
    /// The largest upstream response body the plugin accepts, in bytes.
    #[serde(default = "default_max_upstream_response_bytes")]
    pub max_upstream_response_bytes: u64,
    /// The most metric series (name plus label values) the plugin may create.
    #[serde(default = "default_max_metric_series")]
    pub max_metric_series: usize,
    /// Runs the plugin's `tick` this often, in milliseconds (on one node at a time).
    #[serde(default)]
    pub tick_interval_ms: Option<u64>,
    /// Passed to the plugin's `init` as JSON.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// A new version rolled out to part of the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::CanaryConfig>,
    /// The tenant whose policy plugin this is (set by the gateway, never in the file):
    /// its `kv` space is the tenant's, and it runs on that tenant's requests only.
    #[serde(skip)]
    pub tenant: Option<String>,
}

fn default_max_idle() -> usize {
    64
}
fn default_max_concurrent_calls() -> usize {
    100
}
fn default_max_metric_series() -> usize {
    1000
}
fn default_max_upstream_response_bytes() -> u64 {
    1 << 20
}
fn default_timeout_ms() -> u64 {
    100
}
fn default_memory_mb() -> u64 {
    64
}

/// Where a plugin's component comes from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum PluginSource {
    /// A first-party plugin embedded in the binary, by name.
    Builtin(String),
    /// A component file; relative paths start at the config file's directory.
    Path(PathBuf),
    /// A tenant's plugin uploaded through the admin API and kept in the store (never in
    /// the file).
    #[serde(skip_deserializing)]
    Uploaded,
}

/// A host import a plugin can be granted.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `archway:plugin/log`.
    Log,
    /// `archway:plugin/kv`.
    Kv,
    /// `archway:plugin/streams`.
    Streams,
    /// `archway:plugin/upstream`.
    Upstream,
    /// `archway:plugin/jwt`.
    Jwt,
    /// `archway:plugin/metrics`.
    Metrics,
    /// `archway:plugin/admin`.
    Admin,
}

impl Capability {
    /// Every capability, in WIT order.
    pub const ALL: [Capability; 7] = [
        Self::Log,
        Self::Kv,
        Self::Streams,
        Self::Upstream,
        Self::Jwt,
        Self::Metrics,
        Self::Admin,
    ];

    /// The WIT interface name (`kv`).
    pub fn interface(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Kv => "kv",
            Self::Streams => "streams",
            Self::Upstream => "upstream",
            Self::Jwt => "jwt",
            Self::Metrics => "metrics",
            Self::Admin => "admin",
        }
    }
}

/// How a plugin's instances are used across requests.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceMode {
    /// Live instances are reused; one that trapped or timed out is dropped.
    #[default]
    Pooled,
    /// Every call gets a fresh instance: no state survives between requests.
    PerRequest,
}

/// A named upstream service: one base URL, or instances that routes balance over.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The name routes use as `service_name`.
    pub name: String,
    /// The base URL of a single-instance service, `http://host:port` or
    /// `https://host:port`; exactly one of `url` and `instances` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The service's instances (the admin contract's registration fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceConfig>,
    /// A bulkhead: the most requests in flight to the service at once (forwarded and
    /// plugins' calls); more wait in `max_waiting_requests`, or get 503 at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_requests: Option<u32>,
    /// Requests that may wait for a slot when `max_concurrent_requests` are in flight
    /// (within their route's timeout); beyond them, 503 F50300 at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_waiting_requests: u32,
    /// When its instances are marked unhealthy and healthy again.
    #[serde(default, skip_serializing_if = "is_default")]
    pub health: HealthConfig,
    /// Its instances' circuit breakers.
    #[serde(default, skip_serializing_if = "is_default")]
    pub circuit_breaker: BreakerConfig,
    /// The share of its requests that may be retries.
    #[serde(default, skip_serializing_if = "is_default")]
    pub retry_budget: RetryBudgetConfig,
    /// For `https` services: a PEM file of the CA certificates that sign the service's
    /// certificate, trusted instead of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// For `https` services, with `client_key_file`: a PEM certificate chain the gateway
    /// presents to the service (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of `client_cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
}

/// One instance of a service, as the admin contract registers it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Unique within the service.
    pub instance_id: String,
    /// The host name or IP address.
    pub host: String,
    /// The port.
    pub port: u16,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub protocol: Protocol,
    /// Its share of `weighted` balancing, 1-1000.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// `healthy` (default) takes requests, `unhealthy` takes none until its probes pass,
    /// `draining` finishes what it has and takes nothing new.
    #[serde(default)]
    pub status: InstanceStatus,
    /// A path probed with `GET` every `health_check_interval_seconds`: a 2xx or 3xx
    /// answer passes; without one, only failed requests mark the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_url: Option<String>,
    /// Seconds between probes, 1-3600.
    #[serde(default = "default_health_check_interval")]
    pub health_check_interval_seconds: u64,
    /// Free-form labels (version, environment) the admin API lists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

fn default_health_check_interval() -> u64 {
    30
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_weight() -> u32 {
    100
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// How the gateway talks to an instance.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

impl Protocol {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Whether an instance takes new requests, as configured.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InstanceStatus {
    /// Takes requests.
    #[default]
    Healthy,
    /// Takes no requests until its health checks pass.
    Unhealthy,
    /// Finishes what it has, takes nothing new.
    Draining,
}

impl ServiceConfig {
    /// Resolves its TLS files against the config directory.
    pub(crate) fn resolve(&mut self, base: &Path) {
        for path in [
            &mut self.ca_file,
            &mut self.client_cert_file,
            &mut self.client_key_file,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The service's instances resolved to base URLs: its `url` as one healthy
    /// instance named after the service, or each of `instances`.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        match &self.url {
            Some(url) => vec![Endpoint {
                id: self.name.clone(),
                url: url.clone(),
                weight: default_weight(),
                status: InstanceStatus::Healthy,
                probe: None,
            }],
            None => self
                .instances
                .iter()
                .map(|instance| Endpoint {
                    id: instance.instance_id.clone(),
                    url: instance.url(),
                    weight: instance.weight,
                    status: instance.status,
                    probe: instance.health_check_url.clone().map(|path| Probe {
                        path,
                        interval_seconds: instance.health_check_interval_seconds,
                    }),
                })
                .collect(),
        }
    }
}

impl InstanceConfig {
    /// Its base URL: `<protocol>://<host>:<port>` (an IPv6 host in brackets).
    pub fn url(&self) -> String {
        format!(
            "{}://{}:{}",
            self.protocol.scheme(),
            bracketed(&self.host),
            self.port
        )
    }
}

/// An IPv6 address in brackets, as URLs write it.
fn bracketed(host: &str) -> String {
    match host.contains(':') {
        true => format!("[{host}]"),
        false => host.to_owned(),
    }
}

/// One instance of a service, resolved to a base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The instance id (the service name for a `url` service).
    pub id: String,
    /// `scheme://host:port`.
    pub url: String,
    /// Its weight.
    pub weight: u32,
    /// Its status as registered.
    pub status: InstanceStatus,
    /// Its health check, if it has one.
    pub probe: Option<Probe>,
}

/// An instance's active health check.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Probe {
    /// The path probed with `GET`.
    pub path: String,
    /// Seconds between probes.
    pub interval_seconds: u64,
}

/// What to do when a plugin on a route fails (trap, timeout, bad output).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Answer 500 with the F50000 envelope.
    #[default]
    Closed,
    /// Skip the failed plugin and go on.
    Skip,
}

/// What a rate-limited route does while the store holding its counters is unreachable.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitFailure {
    /// Let requests through unlimited.
    #[default]
    Open,
    /// Answer 503 with the F50300 envelope.
    Closed,
}

/// HTTP methods a route can match.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// PATCH.
    Patch,
    /// HEAD.
    Head,
    /// OPTIONS.
    Options,
    /// Any method.
    #[default]
    Any,
}

impl Method {
    /// Whether a request with this method matches.
    pub fn matches(self, method: &http::Method) -> bool {
        match self {
            Self::Any => true,
            Self::Get => method == http::Method::GET,
            Self::Post => method == http::Method::POST,
            Self::Put => method == http::Method::PUT,
            Self::Delete => method == http::Method::DELETE,
            Self::Patch => method == http::Method::PATCH,
            Self::Head => method == http::Method::HEAD,
            Self::Options => method == http::Method::OPTIONS,
        }
    }
}

/// Whether a principal needs any or all of a route's `required_permissions`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PermissionStrategy {
    /// At least one required permission is granted.
    #[default]
    Any,
    /// Every required permission is granted.
    All,
}

impl PermissionStrategy {
    /// Whether `granted` satisfies `required`; an empty `required` always allows.
    ///
    /// ```
    /// use archway_config::PermissionStrategy;
    ///
    /// let required = ["user.read".to_owned(), "user.write".to_owned()];
    /// let granted = ["user.read".to_owned()];
    /// assert!(PermissionStrategy::Any.allows(&required, &granted));
    /// assert!(!PermissionStrategy::All.allows(&required, &granted));
    /// assert!(PermissionStrategy::All.allows(&[], &[]));
    /// ```
    pub fn allows(self, required: &[String], granted: &[String]) -> bool {
        let is_granted = |permission: &String| granted.contains(permission);
        match self {
            Self::Any => required.is_empty() || required.iter().any(is_granted),
            Self::All => required.iter().all(is_granted),
        }
    }
}

/// How a route spreads requests over its service's instances.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalanceStrategy {
    /// Each instance in turn.
    #[default]
    RoundRobin,
    /// In proportion to each instance's weight.
    Weighted,
    /// The instance with the fewest requests in flight.
    LeastConnections,
}

impl LoadBalanceStrategy {
    /// The config spelling (`round_robin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::Weighted => "weighted",
            Self::LeastConnections => "least_connections",
        }
    }
}

/// The envelope of an error the gateway itself answers with (404, 401, 429, 502, ...).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ErrorFormat {
    /// The admin API's envelope.
    #[default]
    Admin,
    /// The trading API's envelope.
    Trading,
}

/// One route: the admin contract's fields plus the plugin lists.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// A stable id; defaults to `route-<index>`.
    #[serde(default)]
    pub id: String,
    /// The upstream service (unless a `handler` answers).
    #[serde(default)]
    pub service_name: String,
    /// `/api/v1/users/*`, `/api/v1/users/{id}`.
    pub path_pattern: String,
    /// The upstream path; a trailing `*` takes what the pattern's `*` matched.
    #[serde(default)]
    pub target_url: String,
    /// The method matched; `ANY` matches all.
    #[serde(default)]
    pub method: Method,
    /// The API version this route serves (`v1`, `v2`): requests pick it with
    /// `X-API-Version` or a `/v{N}/` path prefix.
    #[serde(default = "default_version")]
    pub version: String,
    /// Whether requests that name no version get this route among its versions (else the
    /// highest version does).
    #[serde(default)]
    pub is_default_version: bool,
    /// Inactive routes do not match.
    #[serde(default = "default_true")]
    pub is_active: bool,
    /// Whether a principal is required: with no authenticator yielding one, 401.
    #[serde(default = "default_true")]
    pub requires_auth: bool,
    /// Permissions checked against the principal.
    #[serde(default)]
    pub required_permissions: Vec<String>,
    /// Whether any or all of `required_permissions` must be granted.
    #[serde(default)]
    pub permission_check_strategy: PermissionStrategy,
    /// Requests per minute allowed per caller: per principal once the request
    /// authenticates, per client address when it ends without one (0: unlimited).
    #[serde(default = "default_rpm")]
    pub rate_limit_rpm: u32,
    /// Requests per minute per client address for requests that end without a
    /// principal, instead of `rate_limit_rpm` (the trading contract sets 100; 0: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_anonymous_rpm: Option<u32>,
    /// Requests per minute per tenant of the principal (0: unlimited).
    #[serde(default)]
    pub rate_limit_tenant_rpm: u32,
    /// Requests per minute across every caller of the route (0: unlimited).
    #[serde(default)]
    pub rate_limit_route_rpm: u32,
    /// Requests per minute per client address, counted before authentication: a flood
    /// guard, set above the per-caller limits (0: off).
    #[serde(default)]
    pub rate_limit_ip_rpm: u32,
    /// How the route's budgets are counted.
    #[serde(default)]
    pub rate_limit_algorithm: crate::RateLimitAlgorithm,
    /// The upstream timeout.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Retries on upstream failure, to another instance where there is one: idempotent
    /// methods after a failure or a 502/503/504 answer, any method when the connection
    /// failed before the request was sent.
    #[serde(default = "default_retry_count")]
    pub retry_count: u32,
    /// Whether `POST` and `PATCH` are retried too after they may have reached the
    /// upstream (for upstreams that deduplicate them).
    #[serde(default)]
    pub retry_non_idempotent: bool,
    /// Whether the circuit breaker guards this route.
    #[serde(default = "default_true")]
    pub circuit_breaker_enabled: bool,
    /// Whether successful `GET` and `HEAD` responses are cached (per principal on
    /// authenticated requests).
    #[serde(default)]
    pub cache_enabled: bool,
    /// How long a cached response is served, at most (an upstream's `max-age` may shorten it).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_seconds: u64,
    /// Whether responses are compressed for clients that accept it; unset, `[compression]
    /// enabled` decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<bool>,
    /// How requests spread over a service's instances.
    #[serde(default)]
    pub load_balance_strategy: LoadBalanceStrategy,
    /// Higher wins when patterns overlap.
    #[serde(default)]
    pub priority: i32,
    /// The largest request body accepted on this route.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// The largest response body buffered on this route for a transform that reads it.
    #[serde(default)]
    pub max_response_body_bytes: Option<u64>,
    /// What happens when a plugin fails.
    #[serde(default)]
    pub plugin_failure: FailurePolicy,
    /// What happens when the rate-limit counters cannot be reached.
    #[serde(default)]
    pub rate_limit_failure: RateLimitFailure,
    /// The envelope of errors the gateway itself produces on this route.
    #[serde(default)]
    pub error_format: ErrorFormat,
    /// Authenticator plugins, in order.
    #[serde(default)]
    pub authenticate: Vec<String>,
    /// Authorizer plugins, in order.
    #[serde(default)]
    pub authorize: Vec<String>,
    /// Transform plugins, in order (responses pass through them in reverse).
    #[serde(default)]
    pub transform: Vec<String>,
    /// A handler plugin that answers instead of an upstream.
    #[serde(default)]
    pub handler: Option<String>,
    /// Whether the credential headers (`authorization`, `x-api-key`) go on to the
    /// upstream on a route with authenticate plugins; by default the gateway consumes them.
    #[serde(default)]
    pub forward_credentials: bool,
    /// This route's CORS rules, instead of the gateway's `[cors]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<crate::CorsConfig>,
    /// Whether an `Upgrade: websocket` handshake that passes the route's chain is
    /// forwarded and, once the upstream switches protocols, tunnelled both ways.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub websocket: bool,
}

fn default_true() -> bool {
    true
}
fn default_version() -> String {
    "v1".to_owned()
}
fn default_rpm() -> u32 {
    1000
}
fn default_timeout_seconds() -> u64 {
    30
}
fn default_retry_count() -> u32 {
    3
}
fn default_cache_ttl() -> u64 {
    300
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn permission_strategies_need_any_or_all_of_the_required() {
        let required = strings(&["a", "b"]);
        for (granted, any, all) in [
            (strings(&[]), false, false),
            (strings(&["a"]), true, false),
            (strings(&["c", "b"]), true, false),
            (strings(&["b", "a", "c"]), true, true),
        ] {
            assert_eq!(
                PermissionStrategy::Any.allows(&required, &granted),
                any,
                "any of {required:?} in {granted:?}"
            );
            assert_eq!(
                PermissionStrategy::All.allows(&required, &granted),
                all,
                "all of {required:?} in {granted:?}"
            );
        }
    }

    #[test]
    fn no_required_permissions_always_allow() {
        for strategy in [PermissionStrategy::Any, PermissionStrategy::All] {
            assert!(strategy.allows(&[], &[]), "{strategy:?}");
            assert!(strategy.allows(&[], &strings(&["a"])), "{strategy:?}");
        }
    }

    #[test]
    fn load_balance_spellings_round_trip() {
        for strategy in [
            LoadBalanceStrategy::RoundRobin,
            LoadBalanceStrategy::Weighted,
            LoadBalanceStrategy::LeastConnections,
        ] {
            let parsed: LoadBalanceStrategy =
                serde_json::from_value(serde_json::Value::from(strategy.as_str()))
                    .expect("the config spelling parses");
            assert_eq!(parsed, strategy);
        }
    }
}
