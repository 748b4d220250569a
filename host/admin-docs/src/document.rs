//! The OpenAPI 3.1 document: one operation per admin endpoint from the table below, its
//! bodies and answers referring to the schemas of [`crate::schemas`], each answer in the
//! contract's envelope, and the two ways to authenticate.

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

/// What an endpoint needs: a reader's or an administrator's permission, or nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    Read,
    Write,
}

/// One admin endpoint.
struct Endpoint {
    method: HttpMethod,
    /// Under the admin prefix, or absolute when `Access::Public`.
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
    ($method:ident $path:literal, $summary:literal, $access:ident, $body:expr, $status:literal => $answer:literal $(, $query:expr)?) => {
        Endpoint {
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
    endpoint!(Post "/routes", "Create a route", Write, Some("CreateRoute"), "201" => "RouteCreated"),
    endpoint!(Get "/routes", "List routes", Read, None, "200" => "RoutePage", &[
        ("service_name", false, "only this service's routes"),
        ("is_active", false, "only active (true) or inactive (false) routes"),
        ("include_deleted", false, "also soft-deleted routes"),
        PAGE[0], PAGE[1],
    ]),
    endpoint!(Get "/routes/{route_id}", "One route", Read, None, "200" => "Route"),
    endpoint!(Put "/routes/{route_id}", "Change a route's fields", Write, Some("UpdateRoute"), "200" => "RouteUpdated"),
    endpoint!(Delete "/routes/{route_id}", "Soft-delete a route", Write, None, "200" => "RouteDeleted"),
    endpoint!(Post "/batch/routes", "Create up to 100 routes, each on its own", Write, Some("BatchRoutes"), "200" => "BatchResult"),
    endpoint!(Post "/services", "Register a service instance", Write, Some("RegisterInstance"), "201" => "InstanceRegistered"),
    endpoint!(Get "/services", "A service's instances", Read, None, "200" => "InstancePage", &[
        ("service_name", true, "the service"),
        ("status", false, "healthy, unhealthy or draining"),
        PAGE[0], PAGE[1],
    ]),
    endpoint!(Get "/services/{instance_id}", "One instance", Read, None, "200" => "Instance"),
    endpoint!(Put "/services/{instance_id}", "Change an instance's fields", Write, Some("UpdateInstance"), "200" => "InstanceUpdated"),
    endpoint!(Delete "/services/{instance_id}", "Deregister an instance", Write, None, "200" => "InstanceDeregistered"),
    endpoint!(Get "/permissions", "The permission catalogue", Read, None, "200" => "PermissionPage", &PAGE),
    endpoint!(Get "/permissions/{id}", "One permission, by id or code", Read, None, "200" => "Permission"),
    endpoint!(Post "/permissions", "Add a permission", Write, Some("CreatePermission"), "201" => "Permission"),
    endpoint!(Delete "/permissions/{id}", "Remove a permission that is not a system one", Write, None, "200" => "Permission"),
    endpoint!(Get "/roles", "Roles and what they grant", Read, None, "200" => "RolePage", &PAGE),
    endpoint!(Get "/roles/{name}", "One role", Read, None, "200" => "Role"),
    endpoint!(Post "/roles", "Create a managed role", Write, Some("RoleBody"), "201" => "Role"),
    endpoint!(Put "/roles/{name}", "Replace a managed role's permissions", Write, Some("RoleBody"), "200" => "Role"),
    endpoint!(Delete "/roles/{name}", "Delete a managed role", Write, None, "200" => "Role"),
    endpoint!(Get "/tenants", "The tenant catalogue", Read, None, "200" => "TenantPage", &PAGE),
    endpoint!(Get "/tenants/{tenant_id}", "One tenant", Read, None, "200" => "Tenant"),
    endpoint!(Post "/tenants", "Create a tenant", Write, Some("Tenant"), "201" => "Tenant"),
    endpoint!(Put "/tenants/{tenant_id}", "Change a tenant's name or description", Write, Some("Tenant"), "200" => "Tenant"),
    endpoint!(Delete "/tenants/{tenant_id}", "Delete a tenant no live API key names", Write, None, "200" => "Tenant"),
    endpoint!(Get "/api-keys", "API key records (never the keys)", Read, None, "200" => "ApiKeyPage", &[
        ("subject", false, "only this subject's keys"),
        ("include_revoked", false, "also revoked keys"),
        ("plugin", false, "which api-key-auth plugin's keys"),
        PAGE[0], PAGE[1],
    ]),
    endpoint!(Get "/api-keys/{id}", "One API key's record", Read, None, "200" => "ApiKey"),
    endpoint!(Post "/api-keys", "Make an API key (shown once)", Write, Some("NewApiKey"), "201" => "ApiKey"),
    endpoint!(Delete "/api-keys/{id}", "Revoke an API key", Write, None, "200" => "ApiKey"),
    endpoint!(Post "/tokens/revoke", "Revoke a JWT", Write, Some("TokenRevocation"), "200" => "TokenRevocation"),
    endpoint!(Get "/plugins", "Plugins serving now", Read, None, "200" => "PluginPage", &PAGE),
    endpoint!(Get "/plugins/{name}", "One plugin", Read, None, "200" => "Plugin"),
    endpoint!(Put "/plugins/{name}", "Upload a new version of a plugin", Write, Some("component"), "200" => "Plugin"),
    endpoint!(Delete "/plugins/{name}", "Serve a plugin's configured source again", Write, None, "200" => "Plugin"),
    endpoint!(Post "/plugins/reload", "Apply what changed on disk", Write, None, "200" => "Reload"),
    endpoint!(Get "/audit", "The audit log, oldest first", Read, None, "200" => "AuditPage", &[
        ("after", false, "the entry id to read after"),
        ("size", false, "entries, 1-1000 (default 100)"),
    ]),
];

/// The gateway's own health endpoint, which the contract lists beside the admin API.
const HEALTH: Endpoint = endpoint!(Get "", "The gateway's health", Public, None, "200" => "Health");

/// The gateway's own metrics endpoint, as a client that is not a scraper sees it.
const METRICS: Endpoint = endpoint!(Get "", "Traffic per service, hourly or daily", Public, None, "200" => "Metrics", &[
    ("hours", false, "the window, 1-168 (default 24)"),
    ("service_name", false, "only this service"),
    ("group_by", false, "hour or day"),
]);

/// The admin API served under `prefix`, with the gateway's `health` and `metrics` paths.
pub fn document(prefix: &str, health: &str, metrics: &str) -> OpenApi {
    let admin = ENDPOINTS
        .iter()
        .map(|endpoint| (format!("{prefix}{}", endpoint.path), endpoint));
    let gateway = [(health.to_owned(), &HEALTH), (metrics.to_owned(), &METRICS)];
    let mut paths = PathsBuilder::new();
    for (path, endpoint) in admin.chain(gateway) {
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
                     `gateway.admin`, writes `gateway.admin`.",
                )),
        )
        .paths(paths)
        .components(Some(components()))
        .build()
}

fn operation(endpoint: &Endpoint) -> utoipa::openapi::path::Operation {
    let tag = endpoint
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let mut operation = OperationBuilder::new().summary(Some(endpoint.summary)).tag(
        if endpoint.access == Access::Public {
            "gateway"
        } else {
            tag
        },
    );
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
    operation = operation.response(
        status,
        ResponseBuilder::new()
            .description("`S10000`; the answer in `content`")
            .content("application/json", enveloped(answer)),
    );
    for (status, why) in failures(endpoint) {
        operation = operation.response(
            status,
            ResponseBuilder::new().description(why).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Envelope")))
                    .build(),
            ),
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
        Reload,
        AuditEntry,
        AuditPage,
        Health,
        Metrics,
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
