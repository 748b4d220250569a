//! The OpenAPI 3.1 document: one operation per endpoint from the tables below, its
//! bodies and answers referring to the schemas of [`crate::schemas`] (the admin API, each
//! answer in the admin contract's envelope) and [`crate::trading`] (the trading-control
//! API, in the trading contract's shapes and error format), and the two ways to
//! authenticate.

use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey as ApiKeyScheme, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement,
    SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
    Required, ResponseBuilder, Schema,
};
use utoipa::{PartialSchema, ToSchema};

use crate::schemas::*;
use crate::trading;

/// What an endpoint needs: a reader's or a writer's permission, or nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    Read,
    Write,
}

/// The API an endpoint belongs to, which decides its answers' shapes and its tag.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    /// The gateway's own endpoints, in the admin envelope.
    Gateway,
    /// The admin plugin's, in the admin envelope.
    Admin,
    /// The trading-control plugin's, in the trading contract's shapes.
    Trading,
}

/// One endpoint.
struct Endpoint {
    api: Api,
    method: HttpMethod,
    /// Under its API's prefix, or absolute for the gateway's own.
    path: &'static str,
    summary: &'static str,
    access: Access,
    /// The request body's schema name (`application/wasm` for `"component"`).
    body: Option<&'static str>,
    /// The success status and the schema of its `content`.
    answer: (&'static str, &'static str),
    /// Query parameters: name, whether required, what it does.
    query: &'static [(&'static str, bool, &'static str)],
}

const PAGE: [(&str, bool, &str); 2] = [
    ("page", false, "the page, from 1 (default 1)"),
    ("size", false, "items per page, 1-1000 (default 20)"),
];

macro_rules! endpoint {
    ($api:ident: $method:ident $path:literal, $summary:literal, $access:ident, $body:expr, $status:literal => $answer:literal $(, $query:expr)?) => {
        Endpoint {
            api: Api::$api,
            method: HttpMethod::$method,
            path: $path,
            summary: $summary,
            access: Access::$access,
            body: $body,
            answer: ($status, $answer),
            query: endpoint!(@query $($query)?),
        }
    };
    (@query) => { &[] };
    (@query $query:expr) => { $query };
}

/// Every endpoint of the admin plugin, and the gateway's own health and metrics.
const ENDPOINTS: &[Endpoint] = &[
    endpoint!(Admin: Post "/routes", "Create a route", Write, Some("CreateRoute"), "201" => "RouteCreated"),
    endpoint!(Admin: Get "/routes", "List routes", Read, None, "200" => "RoutePage", &[
        ("service_name", false, "only this service's routes"),
        ("is_active", false, "only active (true) or inactive (false) routes"),
        ("include_deleted", false, "also soft-deleted routes"),
        PAGE[0], PAGE[1],
    ]),
    endpoint!(Admin: Get "/routes/{route_id}", "One route", Read, None, "200" => "Route"),
    endpoint!(Admin: Put "/routes/{route_id}", "Change a route's fields", Write, Some("UpdateRoute"), "200" => "RouteUpdated"),
    endpoint!(Admin: Delete "/routes/{route_id}", "Soft-delete a route", Write, None, "200" => "RouteDeleted"),
    endpoint!(Admin: Post "/batch/routes", "Create up to 100 routes, each on its own", Write, Some("BatchRoutes"), "200" => "BatchResult"),
    endpoint!(Admin: Post "/services", "Register a service instance", Write, Some("RegisterInstance"), "201" => "InstanceRegistered"),
    endpoint!(Admin: Get "/services", "A service's instances", Read, None, "200" => "InstancePage", &[
        ("service_name", true, "the service"),
        ("status", false, "healthy, unhealthy or draining"),
        PAGE[0], PAGE[1],
    ]),
    endpoint!(Admin: Get "/services/{instance_id}", "One instance", Read, None, "200" => "Instance"),
    endpoint!(Admin: Put "/services/{instance_id}", "Change an instance's fields", Write, Some("UpdateInstance"), "200" => "InstanceUpdated"),
    endpoint!(Admin: Delete "/services/{instance_id}", "Deregister an instance", Write, None, "200" => "InstanceDeregistered"),
    endpoint!(Admin: Get "/permissions", "The permission catalogue", Read, None, "200" => "PermissionPage", &PAGE),
    endpoint!(Admin: Get "/permissions/{id}", "One permission, by id or code", Read, None, "200" => "Permission"),
    endpoint!(Admin: Post "/permissions", "Add a permission", Write, Some("CreatePermission"), "201" => "Permission"),
    endpoint!(Admin: Delete "/permissions/{id}", "Remove a permission that is not a system one", Write, None, "200" => "Permission"),
    endpoint!(Admin: Get "/roles", "Roles and what they grant", Read, None, "200" => "RolePage", &PAGE),
    endpoint!(Admin: Get "/roles/{name}", "One role", Read, None, "200" => "Role"),
    endpoint!(Admin: Post "/roles", "Create a managed role", Write, Some("RoleBody"), "201" => "Role"),
    endpoint!(Admin: Put "/roles/{name}", "Replace a managed role's permissions", Write, Some("RoleBody"), "200" => "Role"),
    endpoint!(Admin: Delete "/roles/{name}", "Delete a managed role", Write, None, "200" => "Role"),
    endpoint!(Admin: Get "/tenants", "The tenant catalogue", Read, None, "200" => "TenantPage", &PAGE),
    endpoint!(Admin: Get "/tenants/{tenant_id}", "One tenant", Read, None, "200" => "Tenant"),
    endpoint!(Admin: Post "/tenants", "Create a tenant", Write, Some("Tenant"), "201" => "Tenant"),
    endpoint!(Admin: Put "/tenants/{tenant_id}", "Change a tenant's name or description", Write, Some("Tenant"), "200" => "Tenant"),
    endpoint!(Admin: Delete "/tenants/{tenant_id}", "Delete a tenant no live API key names and with no uploaded plugins", Write, None, "200" => "Tenant"),
    endpoint!(Admin: Get "/tenants/{tenant_id}/plugins", "A tenant's policy plugins, in the order they run", Read, None, "200" => "TenantPluginPage", &PAGE),
    endpoint!(Admin: Get "/tenants/{tenant_id}/plugins/{name}", "One of a tenant's policy plugins", Read, None, "200" => "TenantPlugin"),
    endpoint!(Admin: Put "/tenants/{tenant_id}/plugins/{name}", "Upload a tenant's policy plugin (query: read_body, config)", Write, Some("component"), "200" => "TenantPlugin"),
    endpoint!(Admin: Delete "/tenants/{tenant_id}/plugins/{name}", "Stop serving a tenant's uploaded plugin", Write, None, "200" => "TenantPlugin"),
    endpoint!(Admin: Get "/api-keys", "API key records (never the keys)", Read, None, "200" => "ApiKeyPage", &[
        ("subject", false, "only this subject's keys"),
        ("include_revoked", false, "also revoked keys"),
        ("plugin", false, "which api-key-auth plugin's keys"),
        PAGE[0], PAGE[1],
    ]),
    endpoint!(Admin: Get "/api-keys/{id}", "One API key's record", Read, None, "200" => "ApiKey"),
    endpoint!(Admin: Post "/api-keys", "Make an API key (shown once)", Write, Some("NewApiKey"), "201" => "ApiKey"),
    endpoint!(Admin: Delete "/api-keys/{id}", "Revoke an API key", Write, None, "200" => "ApiKey"),
    endpoint!(Admin: Post "/tokens/revoke", "Revoke a JWT", Write, Some("TokenRevocation"), "200" => "TokenRevocation"),
    endpoint!(Admin: Get "/plugins", "Plugins serving now", Read, None, "200" => "PluginPage", &PAGE),
    endpoint!(Admin: Get "/plugins/{name}", "One plugin", Read, None, "200" => "Plugin"),
    endpoint!(Admin: Put "/plugins/{name}", "Upload a new version of a plugin", Write, Some("component"), "200" => "Plugin"),
    endpoint!(Admin: Delete "/plugins/{name}", "Serve a plugin's configured source again", Write, None, "200" => "Plugin"),
    endpoint!(Admin: Post "/plugins/reload", "Apply what changed on disk", Write, None, "200" => "Reload"),
    endpoint!(Admin: Post "/plugins/{name}/canary/promote", "Make a plugin's canary its serving version on every node", Write, None, "200" => "Plugin"),
    endpoint!(Admin: Post "/plugins/{name}/canary/rollback", "Stop a plugin's canary on every node", Write, None, "200" => "Plugin"),
    endpoint!(Admin: Get "/audit", "The audit log, oldest first", Read, None, "200" => "AuditPage", &[
        ("after", false, "the entry id to read after"),
        ("size", false, "entries, 1-1000 (default 100)"),
    ]),
];

/// The gateway's own health endpoint, which the contract lists beside the admin API.
const HEALTH: Endpoint =
    endpoint!(Gateway: Get "", "The gateway's health", Public, None, "200" => "Health");

/// The gateway's own metrics endpoint, as a client that is not a scraper sees it.
const METRICS: Endpoint = endpoint!(Gateway: Get "", "Traffic per service, hourly or daily", Public, None, "200" => "Metrics", &[
    ("hours", false, "the window, 1-168 (default 24)"),
    ("service_name", false, "only this service"),
    ("group_by", false, "hour or day"),
]);

const WINDOW: [(&str, bool, &str); 2] = [
    ("start_time", true, "Unix seconds or RFC 3339"),
    (
        "end_time",
        true,
        "Unix seconds or RFC 3339, not before start_time",
    ),
];
const LIMIT: (&str, bool, &str) = ("limit", false, "items, 1-1000 (default 100)");
const OFFSET: (&str, bool, &str) = ("offset", false, "items to skip (default 0)");

/// Every endpoint of the trading-control plugin.
const TRADING: &[Endpoint] = &[
    endpoint!(Trading: Post "/engine/live/start", "Start a live engine", Write, Some("TradingStartEngine"), "200" => "TradingEngineCommand"),
    endpoint!(Trading: Post "/engine/live/stop", "Stop a live engine", Write, Some("TradingStopEngine"), "200" => "TradingEngineCommand"),
    endpoint!(Trading: Get "/engine/live/{engine_id}/status", "An engine's status", Read, None, "200" => "TradingEngineStatus"),
    endpoint!(Trading: Post "/portfolio", "Create a portfolio", Write, Some("TradingCreatePortfolio"), "201" => "TradingPortfolioCommand"),
    endpoint!(Trading: Get "/portfolio", "List portfolios", Read, None, "200" => "TradingPortfolioPage", &[
        ("user_id", false, "only this user's"), ("status", false, "only in this status"), LIMIT, OFFSET,
    ]),
    endpoint!(Trading: Put "/portfolio/{portfolio_id}", "Change a portfolio and reload it", Write, Some("TradingUpdatePortfolio"), "200" => "TradingPortfolioCommand"),
    endpoint!(Trading: Delete "/portfolio/{portfolio_id}", "Delete and stop a portfolio", Write, None, "200" => "TradingPortfolioCommand"),
    endpoint!(Trading: Get "/portfolio/{portfolio_id}/status", "A portfolio's status", Read, None, "200" => "TradingPortfolioStatus"),
    endpoint!(Trading: Get "/portfolio/{portfolio_id}/positions", "A portfolio's positions", Read, None, "200" => "TradingPositions", &[
        ("code", false, "only this instrument"), LIMIT, OFFSET,
    ]),
    endpoint!(Trading: Get "/portfolio/{portfolio_id}/history", "A portfolio's history", Read, None, "200" => "TradingHistory", &[
        ("start_date", true, "YYYY-MM-DD"), ("end_date", true, "YYYY-MM-DD, included"),
        ("limit", false, "items, 1-1000 (default 1000)"), OFFSET,
    ]),
    endpoint!(Trading: Get "/schedule/plan", "Portfolios by node", Read, None, "200" => "TradingPlan"),
    endpoint!(Trading: Post "/schedule/migrate", "Move a portfolio to another node", Write, Some("TradingMigrate"), "200" => "TradingMigration"),
    endpoint!(Trading: Get "/nodes", "Execution nodes", Read, None, "200" => "TradingNodePage", &[LIMIT, OFFSET]),
    endpoint!(Trading: Get "/nodes/{node_id}", "One node and its portfolios", Read, None, "200" => "TradingNodeDetail"),
    endpoint!(Trading: Post "/nodes/{node_id}/disable", "Disable a node, migrating its portfolios", Write, Some("TradingDisableNode"), "200" => "TradingNodeDisabled"),
    endpoint!(Trading: Get "/health", "The trading system's health", Read, None, "200" => "TradingHealth"),
    endpoint!(Trading: Get "/metrics", "Metrics in a time window", Read, None, "200" => "TradingMetricPage", &[
        ("component", false, "only this component's"), WINDOW[0], WINDOW[1], LIMIT, OFFSET,
    ]),
    endpoint!(Trading: Get "/alerts", "Alerts in a time window", Read, None, "200" => "TradingAlertPage", &[
        ("severity", false, "critical, warning or info"), ("source", false, "only from this source"),
        WINDOW[0], WINDOW[1], LIMIT, OFFSET,
    ]),
];

/// Where the APIs are mounted.
pub struct Mounts<'a> {
    /// The admin plugin's prefix (`/admin`).
    pub admin: &'a str,
    /// The trading-control plugin's prefix (`/api`), when a route serves it.
    pub trading: Option<&'a str>,
    /// The gateway's health path.
    pub health: &'a str,
    /// The gateway's metrics path.
    pub metrics: &'a str,
}

/// The APIs served at `mounts`.
pub fn document(mounts: &Mounts) -> OpenApi {
    let admin = ENDPOINTS
        .iter()
        .map(|endpoint| (format!("{}{}", mounts.admin, endpoint.path), endpoint));
    let trading = mounts.trading.into_iter().flat_map(|prefix| {
        TRADING
            .iter()
            .map(move |endpoint| (format!("{prefix}{}", endpoint.path), endpoint))
    });
    let gateway = [
        (mounts.health.to_owned(), &HEALTH),
        (mounts.metrics.to_owned(), &METRICS),
    ];
    let mut paths = PathsBuilder::new();
    for (path, endpoint) in admin.chain(trading).chain(gateway) {
        paths = paths.path(
            path,
            PathItem::new(endpoint.method.clone(), operation(endpoint)),
        );
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Archway admin API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Routes, services, permissions, roles, tenants, API keys, plugins and the \
                     audit log of an Archway gateway. Reads need `gateway.read` or \
                     `gateway.admin`, writes `gateway.admin`. When the gateway serves the \
                     trading-control API, its endpoints are here too (tag `trading`): reads \
                     need `trading.read`, engine and portfolio changes `trading.write`, \
                     scheduling and nodes `trading.admin`; its errors have the trading \
                     contract's format.",
                )),
        )
        .paths(paths)
        .components(Some(components()))
        .build()
}

fn operation(endpoint: &Endpoint) -> utoipa::openapi::path::Operation {
    let tag = match endpoint.api {
        Api::Gateway => "gateway",
        Api::Trading => "trading",
        Api::Admin => endpoint
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or(""),
    };
    let mut operation = OperationBuilder::new()
        .summary(Some(endpoint.summary))
        .tag(tag);
    for name in path_parameters(endpoint.path) {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    for &(name, required, description) in endpoint.query {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(if required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    if let Some(body) = endpoint.body {
        let content = match body {
            "component" => (
                "application/wasm",
                ContentBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .content_media_type("application/wasm"),
                    ))
                    .build(),
            ),
            schema => (
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(schema)))
                    .build(),
            ),
        };
        operation = operation.request_body(Some(
            RequestBodyBuilder::new()
                .content(content.0, content.1)
                .required(Some(Required::True))
                .build(),
        ));
    }
    let (status, answer) = endpoint.answer;
    let (success, failure) = match endpoint.api {
        Api::Trading => (
            ResponseBuilder::new()
                .description("Success")
                .content("application/json", schema(answer)),
            "TradingError",
        ),
        Api::Admin | Api::Gateway => (
            ResponseBuilder::new()
                .description("`S10000`; the answer in `content`")
                .content("application/json", enveloped(answer)),
            "Envelope",
        ),
    };
    operation = operation.response(status, success);
    let failures = match endpoint.api {
        Api::Trading => trading_failures(endpoint),
        Api::Admin | Api::Gateway => failures(endpoint),
    };
    for (status, why) in failures {
        operation = operation.response(
            status,
            ResponseBuilder::new()
                .description(why)
                .content("application/json", schema(failure)),
        );
    }
    if endpoint.access != Access::Public {
        operation = operation
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .security(SecurityRequirement::new("api_key", Vec::<String>::new()));
    }
    operation.build()
}

/// The failures an endpoint can answer, by status.
fn failures(endpoint: &Endpoint) -> Vec<(&'static str, &'static str)> {
    if endpoint.access == Access::Public {
        return vec![(
            "503",
            "`F50000`: unhealthy, with `issues`; or the store is down",
        )];
    }
    let mut failures = vec![
        (
            "400",
            "`F40000`: a field is not valid; `content.field` names it",
        ),
        ("401", "`F40001`: no credential"),
        ("403", "`F40003`: the credential lacks the permission"),
    ];
    if endpoint.path.contains('{') {
        failures.push(("404", "`F40400`: no item with that id"));
    }
    if endpoint.access == Access::Write {
        failures.push(("409", "`F40900`: a duplicate, or a read-only item"));
    }
    failures.push(("503", "`F50300`: the store cannot be reached"));
    failures
}

/// The trading-control failures an endpoint can answer, by status.
fn trading_failures(endpoint: &Endpoint) -> Vec<(&'static str, &'static str)> {
    let mut failures = vec![
        (
            "400",
            "`INVALID_PARAMETER`: `details.field` names the field, `details.value` what was sent",
        ),
        ("401", "`UNAUTHORIZED`: no credential, or a bad one"),
        (
            "403",
            "`FORBIDDEN`: the permission `details.required_permission` is missing",
        ),
    ];
    if endpoint.path.contains('{') {
        failures.push(("404", "`NOT_FOUND`: no such engine, portfolio or node"));
    }
    if endpoint.access == Access::Write {
        failures.push(("409", "`CONFLICT`: the portfolio is between two states"));
    }
    failures.push(("429", "`RATE_LIMITED`: over a rate limit"));
    failures.push((
        "500",
        "`REDIS_ERROR`: the store cannot be reached; `INTERNAL_ERROR`",
    ));
    if endpoint.path == "/health" {
        failures.push((
            "503",
            "Unhealthy: the report, with the unhealthy components",
        ));
    }
    failures
}

/// A reference to schema `name`.
fn schema(name: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(name)))
        .build()
}

/// The `{name}` segments of a path.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// The envelope with `content` of schema `name`.
fn enveloped(name: &str) -> utoipa::openapi::Content {
    let content = ObjectBuilder::new().property("content", Ref::from_schema_name(name));
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name("Envelope"))
        .item(content)
        .build();
    ContentBuilder::new()
        .schema(Some(Schema::AllOf(schema)))
        .build()
}

/// Every schema, and the two security schemes.
fn components() -> utoipa::openapi::Components {
    let mut schemas = Vec::new();
    macro_rules! collect {
        ($($ty:ty),* $(,)?) => {
            $(
                schemas.push((<$ty as ToSchema>::name().into_owned(), <$ty as PartialSchema>::schema()));
                <$ty as ToSchema>::schemas(&mut schemas);
            )*
        };
    }
    collect!(
        Envelope,
        CreateRoute,
        UpdateRoute,
        RouteCreated,
        Route,
        RoutePage,
        RouteUpdated,
        RouteDeleted,
        BatchRoutes,
        BatchResult,
        RegisterInstance,
        UpdateInstance,
        InstanceRegistered,
        Instance,
        InstanceUpdated,
        InstanceDeregistered,
        InstancePage,
        CreatePermission,
        Permission,
        PermissionPage,
        RoleBody,
        Role,
        RolePage,
        Tenant,
        TenantPage,
        NewApiKey,
        ApiKey,
        ApiKeyPage,
        TokenRevocation,
        Plugin,
        PluginPage,
        TenantPlugin,
        TenantPluginPage,
        Canary,
        Reload,
        AuditEntry,
        AuditPage,
        Health,
        Metrics,
        trading::Error,
        trading::StartEngine,
        trading::StopEngine,
        trading::EngineCommand,
        trading::EngineStatus,
        trading::CreatePortfolio,
        trading::UpdatePortfolio,
        trading::PortfolioCommand,
        trading::PortfolioStatus,
        trading::PortfolioPage,
        trading::Positions,
        trading::History,
        trading::Plan,
        trading::Migrate,
        trading::Migration,
        trading::NodePage,
        trading::NodeDetail,
        trading::DisableNode,
        trading::NodeDisabled,
        trading::Health,
        trading::MetricPage,
        trading::AlertPage,
    );
    ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKeyScheme::Header(ApiKeyValue::new("X-API-Key"))),
        )
        .build()
}
