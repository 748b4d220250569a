//! The shapes of the admin API's requests and answers, as the contract and the admin
//! plugin's README define them; the document's schemas are generated from these types.

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::ToSchema;

/// Every answer's envelope: `S10000` on success, else an `F` code naming the failure.
#[derive(ToSchema)]
pub struct Envelope {
    /// `S10000`, or `F40000` (invalid field), `F40001` (no credential), `F40003` (no
    /// permission), `F40400`, `F40500`, `F40900`, `F42900`, `F50000`, `F50300`.
    #[schema(example = "S10000")]
    pub code: String,
    /// What happened, for people.
    pub msg: String,
    /// The answer; for `F40000`, `{"field": ...}` names the field at fault.
    pub content: Value,
}

/// An HTTP method a route matches.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// `PATCH`.
    Patch,
    /// Any method.
    Any,
}

/// How a route's `required_permissions` combine.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum PermissionStrategy {
    /// One of them is enough.
    Any,
    /// All are needed.
    All,
}

/// How a service's instances share its traffic.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum LoadBalanceStrategy {
    /// In turn.
    RoundRobin,
    /// In proportion to `weight`.
    Weighted,
    /// To the instance with the fewest requests in flight.
    LeastConnections,
}

/// A route to create (`POST /admin/routes`).
#[derive(ToSchema)]
pub struct CreateRoute {
    /// The upstream service.
    #[schema(min_length = 1, max_length = 100, example = "user-service")]
    pub service_name: String,
    /// The path matched (`*` at the end matches the rest).
    #[schema(min_length = 1, max_length = 500, example = "/api/v1/users/*")]
    pub path_pattern: String,
    /// The upstream path (`*` takes what the pattern's `*` matched).
    #[schema(min_length = 1, max_length = 500, example = "/users/*")]
    pub target_url: String,
    /// The method matched.
    pub method: Method,
    /// The API version (default `v1`).
    pub version: Option<String>,
    /// Whether the route matches requests (default true).
    pub is_active: Option<bool>,
    /// Whether a caller must authenticate (default true).
    pub requires_auth: Option<bool>,
    /// Permissions the caller needs.
    pub required_permissions: Option<Vec<String>>,
    /// How `required_permissions` combine (default `any`).
    pub permission_check_strategy: Option<PermissionStrategy>,
    /// Requests per minute per caller (default 1000).
    #[schema(minimum = 1)]
    pub rate_limit_rpm: Option<u32>,
    /// The upstream timeout (default 30).
    #[schema(minimum = 1, maximum = 300)]
    pub timeout_seconds: Option<u32>,
    /// Retries of idempotent requests (default 3).
    #[schema(maximum = 10)]
    pub retry_count: Option<u32>,
    /// Whether the circuit breaker guards the service (default true).
    pub circuit_breaker_enabled: Option<bool>,
    /// Whether answers are cached (default false).
    pub cache_enabled: Option<bool>,
    /// How long a cached answer lives (default 300).
    pub cache_ttl_seconds: Option<u32>,
    /// How instances share the traffic (default `round_robin`).
    pub load_balance_strategy: Option<LoadBalanceStrategy>,
    /// Higher matches first (default 0).
    pub priority: Option<i32>,
}

/// The fields of a route to change (`PUT /admin/routes/{route_id}`); the others stay.
#[derive(ToSchema)]
pub struct UpdateRoute {
    /// The upstream service.
    #[schema(min_length = 1, max_length = 100)]
    pub service_name: Option<String>,
    /// The path matched.
    #[schema(min_length = 1, max_length = 500)]
    pub path_pattern: Option<String>,
    /// The upstream path.
    #[schema(min_length = 1, max_length = 500)]
    pub target_url: Option<String>,
    /// The method matched.
    pub method: Option<Method>,
    /// Whether the route matches requests.
    pub is_active: Option<bool>,
    /// Whether a caller must authenticate.
    pub requires_auth: Option<bool>,
    /// Permissions the caller needs.
    pub required_permissions: Option<Vec<String>>,
    /// Requests per minute per caller.
    pub rate_limit_rpm: Option<u32>,
    /// The upstream timeout.
    pub timeout_seconds: Option<u32>,
    /// Higher matches first.
    pub priority: Option<i32>,
}

/// What creating a route answers.
#[derive(ToSchema)]
pub struct RouteCreated {
    /// The id the gateway gave it.
    pub route_id: String,
    /// Its service.
    pub service_name: String,
    /// Its path pattern.
    pub path_pattern: String,
    /// When it was created (`YYYY-MM-DD HH:MM:SS`, UTC).
    #[schema(example = "2025-01-09 10:30:00")]
    pub created_at: String,
}

/// A route: its fields as created, where it comes from and its history.
#[derive(ToSchema)]
pub struct Route {
    /// Its id.
    pub id: String,
    /// Its service.
    pub service_name: String,
    /// The path matched.
    pub path_pattern: String,
    /// The upstream path.
    pub target_url: String,
    /// The method matched.
    pub method: Method,
    /// The API version.
    pub version: String,
    /// Whether it matches requests.
    pub is_active: bool,
    /// Whether a caller must authenticate.
    pub requires_auth: bool,
    /// Permissions the caller needs.
    pub required_permissions: Vec<String>,
    /// Requests per minute per caller.
    pub rate_limit_rpm: u32,
    /// The upstream timeout.
    pub timeout_seconds: u32,
    /// Higher matches first.
    pub priority: i32,
    /// `file` (read-only) or `admin`.
    pub source: String,
    /// When it was created.
    pub created_at: Option<String>,
    /// When it was last changed.
    pub updated_at: Option<String>,
    /// When it was deleted: it no longer matches.
    pub deleted_at: Option<String>,
}

/// What changing a route answers.
#[derive(ToSchema)]
pub struct RouteUpdated {
    /// The route's id.
    pub route_id: String,
    /// The fields the request sent.
    pub updated_fields: Vec<String>,
    /// When it changed.
    pub updated_at: String,
}

/// What deleting a route answers.
#[derive(ToSchema)]
pub struct RouteDeleted {
    /// The route's id.
    pub route_id: String,
    /// When it was deleted.
    pub deleted_at: String,
}

/// A page of routes.
#[derive(ToSchema)]
pub struct RoutePage {
    /// How many match the filters.
    pub total: u64,
    /// This page's routes.
    pub routes: Vec<Route>,
}

/// Routes to create, each on its own (`POST /admin/batch/routes`).
#[derive(ToSchema)]
pub struct BatchRoutes {
    /// 1-100 routes.
    #[schema(min_items = 1, max_items = 100)]
    pub routes: Vec<CreateRoute>,
}

/// One item's outcome in a batch.
#[derive(ToSchema)]
pub struct BatchItem {
    /// Its index in `routes`.
    pub index: u32,
    /// `success` or `failed`.
    pub status: String,
    /// The created route, on success.
    pub data: Option<RouteCreated>,
    /// Why it failed.
    pub error: Option<Value>,
}

/// A batch's outcome.
#[derive(ToSchema)]
pub struct BatchResult {
    /// How many routes were sent.
    pub total: u32,
    /// How many were created.
    pub successful: u32,
    /// How many failed.
    pub failed: u32,
    /// Each item's outcome, in order.
    pub results: Vec<BatchItem>,
    /// The failures alone.
    pub errors: Vec<Value>,
}

/// A service instance to register (`POST /admin/services`).
#[derive(ToSchema)]
pub struct RegisterInstance {
    /// The service it serves.
    #[schema(min_length = 1, max_length = 100, example = "user-service")]
    pub service_name: String,
    /// Its id; a UUID when none is sent.
    #[schema(min_length = 1, max_length = 100, example = "user-service-001")]
    pub instance_id: Option<String>,
    /// Its host.
    #[schema(min_length = 1, max_length = 255, example = "127.0.0.1")]
    pub host: String,
    /// Its port.
    #[schema(minimum = 1, maximum = 65535, example = 3001)]
    pub port: u16,
    /// `http` (default) or `https`.
    pub protocol: Option<String>,
    /// Its share of the traffic (1-1000, default 100).
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: Option<u32>,
    /// The path probed for health.
    pub health_check_url: Option<String>,
    /// How often it is probed (default 30).
    #[schema(minimum = 1, maximum = 3600)]
    pub health_check_interval_seconds: Option<u32>,
    /// Free-form labels.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// The fields of an instance to change; `metadata` keys merge.
#[derive(ToSchema)]
pub struct UpdateInstance {
    /// Its host.
    pub host: Option<String>,
    /// Its port.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// Its share of the traffic.
    #[schema(minimum = 1, maximum = 1000)]
    pub weight: Option<u32>,
    /// `healthy`, `unhealthy` or `draining`.
    pub status: Option<String>,
    /// Free-form labels, merged.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// What registering an instance answers.
#[derive(ToSchema)]
pub struct InstanceRegistered {
    /// Its id, as sent or a UUID.
    pub instance_id: String,
    /// The record's UUID.
    pub id: String,
    /// The service it serves.
    pub service_name: String,
    /// `protocol://host:port`.
    pub endpoint: String,
    /// When it was registered.
    pub registered_at: String,
}

/// A registered service instance (`service_name` when asked for by id).
#[derive(ToSchema)]
pub struct Instance {
    /// The record's UUID.
    pub id: String,
    /// Its id.
    pub instance_id: String,
    /// The service it serves.
    pub service_name: Option<String>,
    /// `protocol://host:port`.
    pub endpoint: String,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `http` or `https`.
    pub protocol: String,
    /// Its share of the traffic.
    pub weight: u32,
    /// `healthy`, `unhealthy` (registered so, or failing its probes now) or `draining`.
    pub status: String,
    /// When it was last probed.
    pub last_health_check: Option<String>,
    /// The path probed for health.
    pub health_check_url: Option<String>,
    /// How often it is probed.
    pub health_check_interval_seconds: u32,
    /// Free-form labels.
    pub metadata: Option<BTreeMap<String, String>>,
    /// When it was registered.
    pub registered_at: String,
    /// When it was last changed.
    pub updated_at: Option<String>,
}

/// What changing an instance answers.
#[derive(ToSchema)]
pub struct InstanceUpdated {
    /// Its id.
    pub instance_id: String,
    /// The service it serves.
    pub service_name: String,
    /// `protocol://host:port`.
    pub endpoint: String,
    /// Its share of the traffic.
    pub weight: u32,
    /// Its status.
    pub status: String,
    /// When it changed.
    pub updated_at: String,
    /// The fields the request sent.
    pub updated_fields: Vec<String>,
}

/// What deregistering an instance answers.
#[derive(ToSchema)]
pub struct InstanceDeregistered {
    /// Its id.
    pub instance_id: String,
    /// The service it served.
    pub service_name: String,
    /// When it was deregistered.
    pub deregistered_at: String,
}

/// A service's instances.
#[derive(ToSchema)]
pub struct InstancePage {
    /// The service.
    pub service_name: String,
    /// How many instances match.
    pub total_instances: u64,
    /// How many take requests now.
    pub healthy_instances: u64,
    /// This page's instances.
    pub instances: Vec<Instance>,
}

/// A permission to add to the catalogue.
#[derive(ToSchema)]
pub struct CreatePermission {
    /// The code routes require and roles grant.
    #[schema(min_length = 1, max_length = 100, example = "user.read")]
    pub permission_code: String,
    /// A display name.
    #[schema(min_length = 1, max_length = 100)]
    pub permission_name: String,
    /// What it allows.
    pub description: Option<String>,
    /// The kind of resource it is about.
    pub resource_type: Option<String>,
    /// The actions it allows.
    pub actions: Option<Vec<String>>,
}

/// An entry of the permission catalogue.
#[derive(ToSchema)]
pub struct Permission {
    /// Its id.
    pub id: String,
    /// Its code.
    pub permission_code: String,
    /// Its display name.
    pub permission_name: String,
    /// What it allows.
    pub description: Option<String>,
    /// The kind of resource it is about.
    pub resource_type: Option<String>,
    /// The actions it allows.
    pub actions: Vec<String>,
    /// System permissions cannot be deleted.
    pub is_system: bool,
    /// When it was created.
    pub created_at: String,
}

/// A page of permissions.
#[derive(ToSchema)]
pub struct PermissionPage {
    /// How many there are.
    pub total: u64,
    /// This page's permissions.
    pub permissions: Vec<Permission>,
}

/// A managed role's grants (`name` only when creating).
#[derive(ToSchema)]
pub struct RoleBody {
    /// The role's name, as principals carry it.
    pub name: Option<String>,
    /// The permissions it grants.
    pub permissions: Vec<String>,
}

/// A role: the file's grants, the managed ones, and their sum.
#[derive(ToSchema)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// What the config file grants.
    pub file_permissions: Option<Vec<String>>,
    /// What the admin API grants.
    pub managed_permissions: Option<Vec<String>>,
    /// Everything it grants.
    pub permissions: Vec<String>,
    /// In an update's answer: the fields the request sent.
    pub updated_fields: Option<Vec<String>>,
}

/// A page of roles.
#[derive(ToSchema)]
pub struct RolePage {
    /// How many there are.
    pub total: u64,
    /// This page's roles.
    pub roles: Vec<Role>,
}

/// A tenant (`tenant_id` only when creating; `created_at` and `updated_at` in answers).
#[derive(ToSchema)]
pub struct Tenant {
    /// Its id: letters, digits, `-`, `_`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub tenant_id: Option<String>,
    /// Its name.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// What it is.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Option<String>,
    /// When it was last changed.
    pub updated_at: Option<String>,
}

/// A page of tenants.
#[derive(ToSchema)]
pub struct TenantPage {
    /// How many there are.
    pub total: u64,
    /// This page's tenants.
    pub tenants: Vec<Tenant>,
}

/// An API key to make.
#[derive(ToSchema)]
pub struct NewApiKey {
    /// Whose key it is.
    pub subject: String,
    /// The tenant it acts for (one of `/admin/tenants`).
    pub tenant: Option<String>,
    /// The roles it carries.
    pub roles: Option<Vec<String>>,
    /// The permissions it carries.
    pub permissions: Option<Vec<String>>,
    /// How long it works.
    pub expires_in_seconds: Option<u64>,
    /// Requests per minute.
    pub per_minute: Option<u32>,
    /// Requests per day.
    pub per_day: Option<u32>,
    /// Which `api-key-auth` plugin's keys, when the config has several.
    pub plugin: Option<String>,
}

/// An API key's record; `key` only in the answer that makes it.
#[derive(ToSchema)]
pub struct ApiKey {
    /// Its id.
    pub id: String,
    /// The key itself: shown once.
    pub key: Option<String>,
    /// Whose key it is.
    pub subject: String,
    /// The tenant it acts for.
    pub tenant: Option<String>,
    /// The roles it carries.
    pub roles: Vec<String>,
    /// The permissions it carries.
    pub permissions: Vec<String>,
    /// When it was made.
    pub created_at: String,
    /// When it stops working.
    pub expires_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// A page of API keys.
#[derive(ToSchema)]
pub struct ApiKeyPage {
    /// How many match.
    pub total: u64,
    /// This page's keys.
    pub api_keys: Vec<ApiKey>,
}

/// A JWT to revoke: the token, or its `jti` and expiry.
#[derive(ToSchema)]
pub struct TokenRevocation {
    /// The token.
    pub token: Option<String>,
    /// Its `jti`.
    pub jti: Option<String>,
    /// Its `exp` (Unix seconds), with `jti`.
    pub expires_at: Option<u64>,
}

/// An uploaded plugin version.
#[derive(ToSchema)]
pub struct Upload {
    /// The component's SHA-256, in hex.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was uploaded.
    pub uploaded_at: String,
    /// Who uploaded it.
    pub uploaded_by: Option<String>,
}

/// A plugin serving now.
#[derive(ToSchema)]
pub struct Plugin {
    /// Its name.
    pub name: String,
    /// `{"builtin": name}`, `{"path": file}`, or `{"store": name}` for a tenant's uploaded
    /// plugin.
    pub source: Value,
    /// The roles its component exports.
    pub roles: Vec<String>,
    /// The host imports it is granted.
    pub capabilities: Vec<String>,
    /// `sha256:<hex>` of the component serving.
    pub digest: String,
    /// When that version loaded.
    pub loaded_at: Option<String>,
    /// Why the last new version was refused.
    pub last_error: Option<String>,
    /// Versions applied.
    pub reloads: u64,
    /// Versions refused.
    pub failed_reloads: u64,
    /// Whether it takes uploads.
    pub uploads: bool,
    /// The uploaded version serving, if any.
    pub upload: Option<Upload>,
    /// Its canary, when the config gives it one.
    pub canary: Option<Canary>,
}

/// A plugin's canary: a new version taking part of the traffic.
#[derive(ToSchema)]
pub struct Canary {
    /// The new version's component file.
    pub path: String,
    /// The share of requests it runs, in percent.
    pub percent: f64,
    /// Tenants whose every request runs it.
    pub tenants: Vec<String>,
    /// The failure rate over a window that rolls it back.
    pub max_error_rate: f64,
    /// The window, in seconds.
    pub window_seconds: u64,
    /// The calls a window needs before its rate counts.
    pub min_calls: u64,
    /// `active`, `rolled_back`, `promoted` (or `not_loaded`).
    pub state: String,
    /// `sha256:<hex>` of the canary running on this node.
    pub digest: Option<String>,
    /// Its calls in the current window, on this node.
    pub calls: u64,
    /// Its failed calls in the current window, on this node.
    pub failures: u64,
    /// Why it stopped: `digest`, `outcome`, `reason`, `at`, `by` (`automatic` or `admin`).
    pub verdict: Option<Value>,
}

/// A page of plugins.
#[derive(ToSchema)]
pub struct PluginPage {
    /// How many there are.
    pub total: u64,
    /// This page's plugins.
    pub plugins: Vec<Plugin>,
}

/// A tenant's policy plugin serving now (id `<tenant>/<name>`).
#[derive(ToSchema)]
pub struct TenantPlugin {
    /// `<tenant>/<name>`.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// Its name within the tenant.
    pub name: String,
    /// `{"path": file}` from the config file, or `{"store": id}` when uploaded.
    pub source: Value,
    /// The roles its component exports (`authorize`).
    pub roles: Vec<String>,
    /// The host imports it is granted: `log`, `kv`, `metrics`.
    pub capabilities: Vec<String>,
    /// Whether it reads the request body.
    pub read_body: bool,
    /// `sha256:<hex>` of the component serving.
    pub digest: String,
    /// When that version loaded.
    pub loaded_at: Option<String>,
    /// Why the last new version was refused.
    pub last_error: Option<String>,
    /// The uploaded version serving; none for the config file's plugins.
    pub upload: Option<Upload>,
}

/// A page of a tenant's plugins, in the order they run.
#[derive(ToSchema)]
pub struct TenantPluginPage {
    /// How many there are.
    pub total: u64,
    /// This page's plugins.
    pub plugins: Vec<TenantPlugin>,
}

/// What a reload applied.
#[derive(ToSchema)]
pub struct Reload {
    /// When it ran.
    pub reloaded_at: String,
    /// Why the config file was refused, if it was.
    pub config_error: Option<String>,
    /// Every plugin after it.
    pub plugins: Vec<Plugin>,
}

/// One change in the audit log.
#[derive(ToSchema)]
pub struct AuditEntry {
    /// The stream id.
    pub id: String,
    /// When.
    pub at: String,
    /// Who: the principal's subject.
    pub subject: Option<String>,
    /// Through which plugin.
    pub plugin: String,
    /// `create`, `update`, `delete` or `upload`.
    pub action: String,
    /// The collection changed.
    pub collection: String,
    /// The item's id.
    pub item_id: String,
    /// The item before.
    pub before: Option<Value>,
    /// The item after (secrets left out).
    pub after: Value,
}

/// A page of the audit log.
#[derive(ToSchema)]
pub struct AuditPage {
    /// How many on this page.
    pub total: u64,
    /// Oldest first.
    pub entries: Vec<AuditEntry>,
    /// The `after` of the next page.
    pub next: Option<String>,
}

/// The health report.
#[derive(ToSchema)]
pub struct Health {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// The service's name.
    pub service: String,
    /// When it was taken.
    pub timestamp: String,
    /// The gateway's version.
    pub version: String,
    /// `connected` or `disconnected`: the store.
    pub database: String,
    /// `connected` or `disconnected`: the cache.
    pub cache: String,
    /// Routes serving.
    pub active_routes: u64,
    /// What is wrong, when unhealthy.
    pub issues: Option<Vec<String>>,
}

/// The metrics, as the envelope carries them for clients that are not scrapers.
#[derive(ToSchema)]
pub struct Metrics {
    /// Prometheus text.
    pub metrics: String,
}
