//! Whole-config checks that the schema alone cannot express; every problem is collected
//! so one run of `archway check` lists them all.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use crate::{
    Capability, Config, ConfigError, Method, PluginConfig, RouteConfig, ServerConfig, ServiceConfig,
};

/// The longest `cache_ttl_seconds`: a year.
const MAX_CACHE_TTL_SECONDS: u64 = 365 * 24 * 3600;
/// The largest `response_cache_max_entry_bytes`: the store's value limit, so an entry
/// fits a shared (Redis) cache too.
const MAX_CACHE_ENTRY_BYTES: u64 = 1024 * 1024;

pub(crate) fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    unique(
        config.plugins.iter().map(|p| p.name.as_str()),
        "plugin",
        &mut problems,
    );
    unique(
        config.services.iter().map(|s| s.name.as_str()),
        "service",
        &mut problems,
    );
    unique(
        config.routes.iter().map(|r| r.id.as_str()),
        "route id",
        &mut problems,
    );
    for plugin in &config.plugins {
        if plugin.name.contains('/') {
            problems.push(format!(
                "plugin {}: a plugin name has no / (tenants' plugins are named <tenant>/<name>)",
                plugin.name
            ));
        }
        check_plugin(plugin, &mut problems);
        check_key_set_grant(config, plugin, &mut problems);
    }
    for (name, key_set) in &config.jwt.key_sets {
        problems.extend(key_set.problems(name));
    }
    for service in &config.services {
        check_service(service, &mut problems);
    }
    problems.extend(crate::tenancy::problems(config));
    for plugin in config.tenant_plugins() {
        check_plugin(&plugin, &mut problems);
    }
    if let Some(tls) = &config.server.tls {
        let at = "server.tls";
        problems.extend(tls.problems().into_iter().map(|p| format!("{at}: {p}")));
    }
    if !(1..=1_000_000).contains(&config.server.max_tunnels) {
        problems.push("server: max_tunnels must be 1..=1000000".to_owned());
    }
    if !(1..=86_400).contains(&config.server.tunnel_idle_timeout_seconds) {
        problems.push("server: tunnel_idle_timeout_seconds must be 1..=86400".to_owned());
    }
    if let Some(cors) = &config.cors {
        problems.extend(cors.problems().into_iter().map(|p| format!("cors: {p}")));
    }
    for route in &config.routes {
        check_route(config, route, &mut problems);
        if let Some(cors) = &route.cors {
            let at = format!("route {}: cors", route.id);
            problems.extend(cors.problems().into_iter().map(|p| format!("{at}: {p}")));
        }
    }
    for (role, permissions) in &config.roles {
        if role.is_empty() || permissions.iter().any(String::is_empty) {
            problems.push(format!(
                "roles: a role name or one of its permissions is empty (role {role:?})"
            ));
        }
    }
    let identity = config.identity.headers();
    let lower_token = is_lower_token;
    for name in &config.identity.extra_credential_headers {
        if !lower_token(name) {
            problems.push(format!(
                "identity: credential header {name:?} must be lower-case letters, digits and -"
            ));
        } else if identity.contains(&name.as_str()) {
            problems.push(format!(
                "identity: {name} cannot be both an identity and a credential header"
            ));
        }
    }
    for (index, name) in identity.iter().enumerate() {
        let valid = lower_token(name);
        if !valid {
            problems.push(format!(
                "identity: header {name:?} must be lower-case letters, digits and -"
            ));
        } else if identity[..index].contains(name) {
            problems.push(format!("identity: header {name} is named twice"));
        }
    }
    let docs = &config.admin_docs;
    let endpoints = [
        ("metrics", config.metrics.enabled, &config.metrics.path),
        ("health", config.health.enabled, &config.health.path),
        ("admin_docs", docs.enabled, &docs.openapi_path),
        ("admin_docs", docs.enabled, &docs.swagger_ui_path),
    ];
    for (index, &(name, enabled, path)) in endpoints.iter().enumerate() {
        if !path.starts_with('/') || path.contains(['{', '}', '*', '?']) {
            problems.push(format!(
                "{name}: path {path:?} must be a plain path starting with /"
            ));
        }
        if !enabled {
            continue;
        }
        for route in config.routes.iter().filter(|r| &r.path_pattern == path) {
            problems.push(format!(
                "route {}: path_pattern {} is the {name} endpoint's path, which is answered \
                 before routing (set [{name}] path or enabled = false)",
                route.id, route.path_pattern
            ));
        }
        let earlier = endpoints[..index]
            .iter()
            .find(|(_, on, other)| *on && *other == path);
        if let Some((other, _, _)) = earlier {
            problems.push(format!("{name}: path {path} is the {other} endpoint's too"));
        }
    }
    if config
        .server
        .admin_listen
        .is_some_and(|admin| admin == config.server.listen && admin.port() != 0)
    {
        problems.push("server: admin_listen must differ from listen".to_owned());
    }
    let tracing = &config.tracing;
    if let Some(endpoint) = &tracing.otlp_endpoint
        && (!endpoint.starts_with("http://") || endpoint.parse::<http::Uri>().is_err())
    {
        problems.push(format!(
            "tracing: otlp_endpoint must be an http:// URL such as http://127.0.0.1:4318 \
             (got {endpoint:?}; https is not supported yet)"
        ));
    }
    if !(0.0..=1.0).contains(&tracing.sample_ratio) {
        problems.push("tracing: sample_ratio must be 0-1".to_owned());
    }
    if tracing.service_name.is_empty() {
        problems.push("tracing: service_name must not be empty".to_owned());
    }
    for prefix in config.error_formats.keys() {
        if !prefix.starts_with('/') {
            problems.push(format!(
                "error_formats: path prefix {prefix:?} must start with /"
            ));
        }
    }
    if let Some(url) = &config.store.redis_url
        && !url.starts_with("redis://")
    {
        problems.push(format!(
            "store: redis_url must start with redis:// (got {:?})",
            url.split('@').next_back().unwrap_or_default()
        ));
    }
    check_server(&config.server, &mut problems);
    if config.store.op_timeout_ms == 0 || config.store.op_timeout_ms > 60_000 {
        problems.push("store: op_timeout_ms must be 1..=60000".to_owned());
    }
    let server = &config.server;
    if !(1..=MAX_CACHE_ENTRY_BYTES).contains(&server.response_cache_max_entry_bytes) {
        problems.push(format!(
            "server: response_cache_max_entry_bytes must be 1..={MAX_CACHE_ENTRY_BYTES} (got {})",
            server.response_cache_max_entry_bytes
        ));
    }
    if server.response_cache_max_bytes < server.response_cache_max_entry_bytes {
        problems.push(format!(
            "server: response_cache_max_bytes ({}) must be at least response_cache_max_entry_bytes ({})",
            server.response_cache_max_bytes, server.response_cache_max_entry_bytes
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            file: None,
            problems,
        })
    }
}

/// The `[server]` limits, each within the range hyper can enforce above it.
fn check_server(server: &ServerConfig, problems: &mut Vec<String>) {
    let mut within = |field: &str, value: u64, range: RangeInclusive<u64>| {
        if !range.contains(&value) {
            let (least, most) = range.into_inner();
            problems.push(format!(
                "server: {field} must be {least}..={most} (got {value})"
            ));
        }
    };
    let timeout = 1..=86_400;
    within(
        "header_read_timeout_seconds",
        server.header_read_timeout_seconds,
        1..=3600,
    );
    within(
        "idle_timeout_seconds",
        server.idle_timeout_seconds,
        timeout.clone(),
    );
    within(
        "write_timeout_seconds",
        server.write_timeout_seconds,
        timeout,
    );
    within(
        "max_header_bytes",
        server.max_header_bytes as u64,
        1024..=1024 * 1024,
    );
    within("max_headers", server.max_headers as u64, 8..=1000);
    within(
        "max_uri_bytes",
        server.max_uri_bytes as u64,
        256..=32 * 1024,
    );
    within(
        "max_connections",
        server.max_connections as u64,
        1..=10_000_000,
    );
    let streams = u64::from(server.http2_max_concurrent_streams);
    within("http2_max_concurrent_streams", streams, 1..=10_000);
}

/// Whether `name` is a header name as the config writes them: lower-case letters,
/// digits and `-`.
pub(crate) fn is_lower_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn unique<'a>(names: impl Iterator<Item = &'a str>, what: &str, problems: &mut Vec<String>) {
    let mut seen = HashSet::new();
    for name in names {
        if name.is_empty() {
            problems.push(format!("a {what} has an empty name"));
        } else if !seen.insert(name) {
            problems.push(format!("{what} {name} is defined twice"));
        }
    }
}

/// The most a plugin may take in from one upstream response (64 MiB).
const MAX_UPSTREAM_RESPONSE_BYTES: u64 = 64 << 20;

pub(crate) fn check_plugin(plugin: &PluginConfig, problems: &mut Vec<String>) {
    let name = &plugin.name;
    if plugin.timeout_ms == 0 || plugin.timeout_ms > 60_000 {
        problems.push(format!("plugin {name}: timeout_ms must be 1..=60000"));
    }
    if plugin.memory_mb == 0 || plugin.memory_mb > 4096 {
        problems.push(format!("plugin {name}: memory_mb must be 1..=4096"));
    }
    if !(1..=1000).contains(&plugin.max_concurrent_calls) {
        problems.push(format!(
            "plugin {name}: max_concurrent_calls must be 1..=1000"
        ));
    }
    let grants_upstream = plugin.capabilities.contains(&Capability::Upstream);
    match (grants_upstream, plugin.upstreams.is_empty()) {
        (true, true) => problems.push(format!(
            "plugin {name}: capability upstream is granted but upstreams lists no service"
        )),
        (false, false) => problems.push(format!(
            "plugin {name}: upstreams lists services but capability upstream is not granted"
        )),
        _ => {}
    }
    if plugin.upstreams.iter().any(String::is_empty) {
        problems.push(format!(
            "plugin {name}: upstreams has an empty service name"
        ));
    }
    if !(1..=100_000).contains(&plugin.max_metric_series) {
        problems.push(format!(
            "plugin {name}: max_metric_series must be 1..=100000"
        ));
    }
    if !(1..=MAX_UPSTREAM_RESPONSE_BYTES).contains(&plugin.max_upstream_response_bytes) {
        problems.push(format!(
            "plugin {name}: max_upstream_response_bytes must be 1..={MAX_UPSTREAM_RESPONSE_BYTES}"
        ));
    }
    check_share(plugin, problems);
    if let Some(canary) = &plugin.canary {
        problems.extend(canary.problems(name));
        if plugin.tick_interval_ms.is_some() {
            problems.push(format!(
                "plugin {name}: a plugin that ticks cannot have a canary (one version ticks)"
            ));
        }
    }
    if plugin
        .tick_interval_ms
        .is_some_and(|ms| !(10..=86_400_000).contains(&ms))
    {
        problems.push(format!(
            "plugin {name}: tick_interval_ms must be 10..=86400000 (10 ms to a day)"
        ));
    }
}

/// `key_sets` and capability `jwt` come together, and name configured key sets.
fn check_key_set_grant(config: &Config, plugin: &PluginConfig, problems: &mut Vec<String>) {
    let name = &plugin.name;
    let grants_jwt = plugin.capabilities.contains(&Capability::Jwt);
    match (grants_jwt, plugin.key_sets.is_empty()) {
        (true, true) => problems.push(format!(
            "plugin {name}: capability jwt is granted but key_sets lists no key set"
        )),
        (false, false) => problems.push(format!(
            "plugin {name}: key_sets lists key sets but capability jwt is not granted"
        )),
        _ => {}
    }
    for key_set in &plugin.key_sets {
        if !config.jwt.key_sets.contains_key(key_set) {
            problems.push(format!(
                "plugin {name}: key set {key_set} is not defined in [jwt.key_sets]"
            ));
        }
    }
}

/// The longest shared namespace name, in bytes.
const MAX_NAMESPACE_BYTES: usize = 64;

/// A shared namespace name becomes one segment of store and Redis keys
/// (`shared/<namespace>/`), so it is short, non-empty and never needs escaping; joining
/// one only means something with `kv` or `streams` granted.
fn check_share(plugin: &PluginConfig, problems: &mut Vec<String>) {
    let name = &plugin.name;
    for namespace in &plugin.share {
        let fits = (1..=MAX_NAMESPACE_BYTES).contains(&namespace.len())
            && namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !fits {
            problems.push(format!(
                "plugin {name}: share namespace {namespace:?} must be 1 to \
                 {MAX_NAMESPACE_BYTES} ASCII letters, digits, `-`, `_` or `.`"
            ));
        }
    }
    let uses_store = plugin
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::Kv | Capability::Streams));
    if !plugin.share.is_empty() && !uses_store {
        problems.push(format!(
            "plugin {name}: share names namespaces but neither capability kv nor streams is granted"
        ));
    }
}

/// A service: its URL or instances, bulkhead, health, breaker, retry budget and TLS files.
fn check_service(service: &ServiceConfig, problems: &mut Vec<String>) {
    let name = &service.name;
    if service.url.is_some() && !service.instances.is_empty() {
        problems.push(format!(
            "service {name}: set url or instances, not both (with neither, its instances \
             are registered through the admin API)"
        ));
        return;
    }
    let endpoints = service.endpoints();
    for endpoint in &endpoints {
        if let Err(why) = check_service_url(&endpoint.url) {
            problems.push(format!(
                "service {name}: instance {} url {:?} {why}",
                endpoint.id, endpoint.url
            ));
        }
    }
    for instance in &service.instances {
        if instance.instance_id.is_empty() || instance.instance_id.len() > 100 {
            problems.push(format!(
                "service {name}: instance_id must be 1-100 characters"
            ));
        }
        if !(1..=1000).contains(&instance.weight) {
            problems.push(format!(
                "service {name}: instance {} weight must be 1-1000",
                instance.instance_id
            ));
        }
    }
    unique(
        service.instances.iter().map(|i| i.instance_id.as_str()),
        &format!("service {name} instance_id"),
        problems,
    );
    match service.max_concurrent_requests {
        Some(cap) if !(1..=100_000).contains(&cap) => problems.push(format!(
            "service {name}: max_concurrent_requests must be 1-100000"
        )),
        None if service.max_waiting_requests > 0 => problems.push(format!(
            "service {name}: max_waiting_requests needs max_concurrent_requests"
        )),
        _ => {}
    }
    if service.max_waiting_requests > 100_000 {
        problems.push(format!(
            "service {name}: max_waiting_requests must be at most 100000"
        ));
    }
    for instance in &service.instances {
        let at = format!("service {name}: instance {}", instance.instance_id);
        if let Some(path) = &instance.health_check_url
            && (!path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err())
        {
            problems.push(format!(
                "{at}: health_check_url must be a path starting with / (got {path:?})"
            ));
        }
        if !(1..=3600).contains(&instance.health_check_interval_seconds) {
            problems.push(format!(
                "{at}: health_check_interval_seconds must be 1-3600"
            ));
        }
    }
    check_resilience(service, problems);
    if service.client_cert_file.is_some() != service.client_key_file.is_some() {
        problems.push(format!(
            "service {name}: set both client_cert_file and client_key_file, or neither"
        ));
    }
    let https = endpoints.iter().any(|e| e.url.starts_with("https://"));
    let tls_files = [
        ("ca_file", &service.ca_file),
        ("client_cert_file", &service.client_cert_file),
        ("client_key_file", &service.client_key_file),
    ];
    for (field, file) in tls_files {
        if file.is_some() && !https {
            problems.push(format!(
                "service {name}: {field} is set but no instance is https"
            ));
        }
    }
}

/// The service's health, breaker and retry-budget tables.
fn check_resilience(service: &ServiceConfig, problems: &mut Vec<String>) {
    let name = &service.name;
    let health = &service.health;
    let breaker = &service.circuit_breaker;
    let budget = &service.retry_budget;
    let ranges = [
        (
            "health.unhealthy_threshold",
            u64::from(health.unhealthy_threshold),
            1,
            100,
        ),
        (
            "health.healthy_threshold",
            u64::from(health.healthy_threshold),
            1,
            100,
        ),
        ("health.timeout_ms", health.timeout_ms, 1, 60_000),
        (
            "health.passive_failures",
            u64::from(health.passive_failures),
            0,
            1000,
        ),
        ("health.eject_seconds", health.eject_seconds, 1, 3600),
        (
            "circuit_breaker.failure_threshold",
            u64::from(breaker.failure_threshold),
            1,
            10_000,
        ),
        (
            "circuit_breaker.failure_rate_percent",
            u64::from(breaker.failure_rate_percent),
            1,
            100,
        ),
        (
            "circuit_breaker.window_seconds",
            breaker.window_seconds,
            1,
            3600,
        ),
        (
            "circuit_breaker.open_seconds",
            breaker.open_seconds,
            1,
            3600,
        ),
        ("retry_budget.percent", u64::from(budget.percent), 0, 100),
        ("retry_budget.reserve", u64::from(budget.reserve), 0, 10_000),
    ];
    for (field, value, low, high) in ranges {
        if !(low..=high).contains(&value) {
            problems.push(format!("service {name}: {field} must be {low}-{high}"));
        }
    }
}

fn check_service_url(url: &str) -> Result<(), &'static str> {
    let uri: http::Uri = url.parse().map_err(|_| "is not a URL")?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("must start with http:// or https://");
    }
    if uri.authority().is_none() {
        return Err("has no host");
    }
    if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
        return Err("must not have a path or query");
    }
    Ok(())
}

fn check_route(config: &Config, route: &RouteConfig, problems: &mut Vec<String>) {
    let at = format!("route {} ({})", route.id, route.path_pattern);
    let pattern = &route.path_pattern;
    if !pattern.starts_with('/') {
        problems.push(format!("{at}: path_pattern must start with /"));
    }
    // The router matches segment by segment: a segment is static text, one whole
    // `{name}`, or the final `*` (checked below).
    for segment in pattern.split('/').filter(|s| s.contains(['{', '}'])) {
        let name = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        if !name.is_some_and(|name| !name.is_empty() && !name.contains(['{', '}', '*'])) {
            problems.push(format!(
                "{at}: segment {segment:?} must be static text or one whole `{{name}}` parameter"
            ));
        }
    }
    let star = pattern.find('*');
    if star.is_some_and(|i| i != pattern.len() - 1 || !pattern.ends_with("/*")) {
        problems.push(format!(
            "{at}: `*` may only stand as the last segment (`/prefix/*`)"
        ));
    }
    if !route.target_url.is_empty() && !route.target_url.starts_with('/') {
        problems.push(format!("{at}: target_url must start with /"));
    }
    if route.target_url.contains('*') && star.is_none() {
        problems.push(format!(
            "{at}: target_url has `*` but path_pattern has none"
        ));
    }
    match (&route.handler, route.service_name.as_str()) {
        (Some(handler), _) => {
            check_plugin_ref(config, &at, "handler", handler, problems);
            let privileged = config
                .plugin(handler)
                .is_some_and(|p| p.capabilities.contains(&Capability::Admin));
            if privileged && !route.requires_auth {
                problems.push(format!(
                    "{at}: handler {handler} is granted `admin`, so the route must authenticate \
                     its callers: remove requires_auth = false and list an authenticate plugin \
                     (or set [defaults] authenticate); the admin API has no default credentials"
                ));
            }
            if route.websocket {
                problems.push(format!(
                    "{at}: websocket = true needs an upstream service_name: a handler plugin \
                     answers whole and cannot take over the connection"
                ));
            }
        }
        (None, "") => problems.push(format!("{at}: needs a service_name or a handler")),
        (None, service) if config.service(service).is_none() => {
            problems.push(format!(
                "{at}: service_name {service} is not a configured service"
            ));
        }
        (None, _) => {}
    }
    for (role, names) in [
        ("authenticate", config.authenticators(route)),
        ("authorize", &route.authorize),
        ("transform", &route.transform),
    ] {
        for name in names {
            check_plugin_ref(config, &at, role, name, problems);
        }
    }
    if route.requires_auth && config.authenticators(route).is_empty() {
        problems.push(format!(
            "{at}: requires_auth is true (the default) but no authenticate plugin is listed \
             and [defaults] authenticate is empty; list one or set requires_auth = false"
        ));
    }
    if !(1..=3600).contains(&route.timeout_seconds) {
        problems.push(format!(
            "{at}: timeout_seconds must be 1..=3600 (got {})",
            route.timeout_seconds
        ));
    }
    if route.cache_enabled {
        if !(1..=MAX_CACHE_TTL_SECONDS).contains(&route.cache_ttl_seconds) {
            problems.push(format!(
                "{at}: cache_ttl_seconds must be 1..={MAX_CACHE_TTL_SECONDS} when cache_enabled (got {})",
                route.cache_ttl_seconds
            ));
        }
        if !matches!(route.method, Method::Get | Method::Head | Method::Any) {
            problems.push(format!(
                "{at}: cache_enabled caches GET and HEAD responses only, but the route's method is {}",
                format!("{:?}", route.method).to_uppercase()
            ));
        }
    }
    if !is_version_label(&route.version) {
        problems.push(format!(
            "{at}: version must look like v1, v2 or v1.1 (got {:?})",
            route.version
        ));
    }
}

/// `v` then digits, then any number of `.digits` groups: `v1`, `v2`, `v1.1`.
fn is_version_label(version: &str) -> bool {
    version.strip_prefix('v').is_some_and(|numbers| {
        numbers
            .split('.')
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Route fields the config accepts but the gateway does not act on yet: one line per
/// route and field set away from its default.
pub(crate) fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, key_set) in &config.jwt.key_sets {
        if !key_set.is_secret() && key_set.audience.is_empty() {
            warnings.push(format!(
                "jwt key set {name}: no audience is required, so any token its issuer signs \
                 (for another API, or an ID token) is accepted; set audience"
            ));
        }
    }
    for plugin in &config.plugins {
        for service in &plugin.upstreams {
            if config.service(service).is_none() {
                warnings.push(format!(
                    "plugin {}: upstreams names service {service}, which this file does not \
                     define (its calls fail with unknown-service unless the admin API adds it)",
                    plugin.name
                ));
            }
        }
    }
    warnings
}

fn check_plugin_ref(config: &Config, at: &str, role: &str, name: &str, problems: &mut Vec<String>) {
    if config.plugin(name).is_none() {
        problems.push(format!(
            "{at}: {role} plugin {name} is not defined in [[plugins]]"
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{
        Config, ConfigError, ErrorFormat, LoadBalanceStrategy, Managed, PermissionStrategy,
        PluginSource,
    };

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("/etc/archway"))
    }

    const SERVICE: &str = "[[services]]\nname = \"users\"\nurl = \"http://127.0.0.1:9000\"\n";

    #[test]
    fn route_defaults_follow_the_admin_contract() {
        let config = parse(&format!(
            "{SERVICE}[[routes]]\nservice_name = \"users\"\npath_pattern = \"/u/*\"\nrequires_auth = false\n"
        ))
        .expect("valid");
        let route = &config.routes[0];
        assert_eq!(route.id, "route-0");
        assert_eq!(route.version, "v1");
        assert!(route.is_active);
        assert_eq!(route.permission_check_strategy, PermissionStrategy::Any);
        assert_eq!(route.error_format, ErrorFormat::Admin);
        assert_eq!(
            (
                route.rate_limit_rpm,
                route.timeout_seconds,
                route.retry_count
            ),
            (1000, 30, 3)
        );
        assert_eq!(route.load_balance_strategy, LoadBalanceStrategy::RoundRobin);
    }

    #[test]
    fn managed_entries_join_the_file_but_never_replace_it() {
        let file = parse(&format!(
            "{SERVICE}[[routes]]\nid = \"u\"\nservice_name = \"users\"\npath_pattern = \"/u/*\"\nrequires_auth = false\n"
        ))
        .expect("valid");
        let managed: Config = toml::from_str(
            "[[services]]\nname = \"users\"\nurl = \"http://10.0.0.1:1\"\n\
             [[services]]\nname = \"orders\"\nurl = \"http://127.0.0.1:9001\"\n\
             [[routes]]\nid = \"u\"\nservice_name = \"orders\"\npath_pattern = \"/x/*\"\n\
             [[routes]]\nid = \"o\"\nservice_name = \"orders\"\npath_pattern = \"/o/*\"\nrequires_auth = false\n",
        )
        .expect("managed records");
        let merged = file
            .with_managed(&Managed {
                services: managed.services.clone(),
                routes: managed.routes.clone(),
                ..Managed::default()
            })
            .expect("valid");
        assert_eq!(merged.service("users"), file.service("users"));
        assert_eq!(
            merged.routes.iter().map(|r| &*r.id).collect::<Vec<_>>(),
            ["u", "o"]
        );
        assert_eq!(merged.routes[0], file.routes[0]);

        let registered: Config = toml::from_str(
            "[[routes]]\nid = \"d\"\nservice_name = \"later\"\npath_pattern = \"/d/*\"\nrequires_auth = false\n\
             [[services]]\nname = \"later\"\n[[services.instances]]\ninstance_id = \"a\"\nhost = \"10.0.0.2\"\nport = 80\n",
        )
        .expect("managed records");
        let instance = registered.services[0].instances[0].clone();
        let merged = file
            .with_managed(&Managed {
                routes: registered.routes.clone(),
                ..Managed::default()
            })
            .expect("a route may name a service before its instances register");
        assert!(
            merged
                .service("later")
                .expect("created")
                .instances
                .is_empty()
        );
        let merged = file
            .with_managed(&Managed {
                routes: registered.routes,
                instances: vec![
                    ("later".to_owned(), instance.clone()),
                    ("users".to_owned(), instance),
                ],
                ..Managed::default()
            })
            .expect("valid");
        assert_eq!(merged.service("later").expect("created").instances.len(), 1);
        assert_eq!(
            merged.service("users"),
            file.service("users"),
            "a service with a url takes no instances"
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let err =
            parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").expect_err("unknown key");
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn server_limits_out_of_range_are_refused_by_name() {
        let err = parse("[server]\nheader_read_timeout_seconds = 0\nmax_uri_bytes = 100000\n")
            .expect_err("out of range");
        let text = err.to_string();
        assert!(
            text.contains("server: header_read_timeout_seconds must be 1..=3600 (got 0)"),
            "{text}"
        );
        assert!(
            text.contains("server: max_uri_bytes must be 256..=32768 (got 100000)"),
            "{text}"
        );
        assert!(parse("[server]\nmax_headers = 50\n").is_ok());
    }

    #[test]
    fn relative_plugin_paths_resolve_against_the_config_directory() {
        let config =
            parse("[[plugins]]\nname = \"a\"\npath = \"plugins/a.wasm\"\n").expect("valid");
        assert_eq!(
            config.plugins[0].source,
            PluginSource::Path("/etc/archway/plugins/a.wasm".into())
        );
    }

    #[test]
    fn tick_interval_is_bounded() {
        let err = parse("[[plugins]]\nname = \"t\"\npath = \"t.wasm\"\ntick_interval_ms = 0\n")
            .expect_err("zero interval");
        assert!(
            err.to_string().contains("plugin t: tick_interval_ms"),
            "{err}"
        );
        assert!(
            parse("[[plugins]]\nname = \"t\"\npath = \"t.wasm\"\ntick_interval_ms = 1000\n")
                .is_ok()
        );
    }

    #[test]
    fn shared_namespaces_are_plain_names_joined_with_kv_or_streams() {
        let plugin = |fields: &str| {
            parse(&format!(
                "[[plugins]]\nname = \"p\"\npath = \"p.wasm\"\n{fields}\n"
            ))
        };
        let config =
            plugin("capabilities = [\"streams\"]\nshare = [\"trading\", \"v1.risk_2-eu\"]")
                .expect("valid");
        assert_eq!(config.plugins[0].share, ["trading", "v1.risk_2-eu"]);
        assert!(
            plugin("capabilities = [\"kv\"]").expect("valid").plugins[0]
                .share
                .is_empty(),
            "joins nothing by default"
        );
        for bad in ["", "a/b", "a b", "caf\u{e9}", "%2F", &"n".repeat(65)] {
            let err = plugin(&format!("capabilities = [\"kv\"]\nshare = [{bad:?}]"))
                .expect_err("bad name");
            assert!(
                err.to_string().contains(&format!(
                    "plugin p: share namespace {bad:?} must be 1 to 64"
                )),
                "{bad:?}: {err}"
            );
        }
        let err = plugin("capabilities = [\"log\"]\nshare = [\"trading\"]").expect_err("no store");
        assert!(
            err.to_string().contains(
                "plugin p: share names namespaces but neither capability kv nor streams is granted"
            ),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = parse(
            "[[routes]]\npath_pattern = \"api/*/x\"\nservice_name = \"nope\"\nauthenticate = [\"ghost\"]\n",
        )
        .expect_err("invalid");
        let text = err.to_string();
        for needle in [
            "must start with /",
            "may only stand as the last segment",
            "nope is not a configured service",
            "ghost is not defined",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in {text}");
        }
    }

    #[test]
    fn requires_auth_without_an_authenticator_is_refused() {
        let err = parse(&format!(
            "{SERVICE}[[routes]]\nservice_name = \"users\"\npath_pattern = \"/u\"\n"
        ))
        .expect_err("needs authenticator");
        assert!(err.to_string().contains("requires_auth"), "{err}");
    }

    #[test]
    fn routes_that_list_no_authenticator_use_the_defaults() {
        let route = "[[routes]]\nservice_name = \"users\"\npath_pattern = \"/u\"\n";
        let plugin = "[[plugins]]\nname = \"keys\"\npath = \"keys.wasm\"\n";
        let config = parse(&format!(
            "[defaults]\nauthenticate = [\"keys\"]\n{plugin}{SERVICE}{route}\
             [[routes]]\nservice_name = \"users\"\npath_pattern = \"/open\"\nrequires_auth = false\n"
        ))
        .expect("the default authenticates");
        assert_eq!(config.authenticators(&config.routes[0]), ["keys"]);
        assert!(config.authenticators(&config.routes[1]).is_empty());
        let err = parse(&format!(
            "[defaults]\nauthenticate = [\"ghost\"]\n{SERVICE}{route}"
        ))
        .expect_err("an undefined default");
        assert!(err.to_string().contains("ghost is not defined"), "{err}");
    }

    #[test]
    fn a_handler_granted_admin_must_authenticate_its_callers() {
        let admin =
            "[[plugins]]\nname = \"admin\"\nbuiltin = \"admin\"\ncapabilities = [\"admin\"]\n";
        let route = "[[routes]]\npath_pattern = \"/admin/*\"\nhandler = \"admin\"\n";
        let err = parse(&format!("{admin}{route}requires_auth = false\n"))
            .expect_err("an open admin API");
        assert!(err.to_string().contains("no default credentials"), "{err}");
        let err = parse(&format!("{admin}{route}")).expect_err("no authenticator");
        assert!(err.to_string().contains("[defaults] authenticate"), "{err}");
        parse(&format!(
            "[defaults]\nauthenticate = [\"admin\"]\n{admin}{route}"
        ))
        .expect("authenticated");
    }

    #[test]
    fn service_urls_must_be_plain_http_bases() {
        let err = parse("[[services]]\nname = \"s\"\nurl = \"ftp://x\"\n").expect_err("bad url");
        assert!(err.to_string().contains("service s"), "{err}");
    }

    fn route_with(extra: &str) -> String {
        format!(
            "{SERVICE}[[routes]]\nid = \"r\"\nservice_name = \"users\"\npath_pattern = \"/u/*\"\nrequires_auth = false\n{extra}\n"
        )
    }

    #[test]
    fn closed_sets_parse_into_their_enums() {
        let config = parse(&route_with(
            "permission_check_strategy = \"all\"\nload_balance_strategy = \"least_connections\"\nerror_format = \"trading\"",
        ))
        .expect("valid");
        let route = &config.routes[0];
        assert_eq!(route.permission_check_strategy, PermissionStrategy::All);
        assert_eq!(
            route.load_balance_strategy,
            LoadBalanceStrategy::LeastConnections
        );
        assert_eq!(route.error_format, ErrorFormat::Trading);
    }

    #[test]
    fn unknown_strategy_is_a_parse_error_naming_the_field() {
        for (field, value) in [
            ("load_balance_strategy", "random"),
            ("permission_check_strategy", "most"),
            ("error_format", "xml"),
        ] {
            let err =
                parse(&route_with(&format!("{field} = \"{value}\""))).expect_err("unknown variant");
            assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
            let text = err.to_string();
            assert!(
                text.contains(field) && text.contains(value),
                "{field}: {text}"
            );
        }
    }

    #[test]
    fn timeout_seconds_must_be_one_second_to_an_hour() {
        for timeout in [1, 30, 3600] {
            parse(&route_with(&format!("timeout_seconds = {timeout}"))).expect("in range");
        }
        for timeout in [0, 3601] {
            let err = parse(&route_with(&format!("timeout_seconds = {timeout}")))
                .expect_err("out of range");
            let text = err.to_string();
            assert!(
                text.contains("route r (/u/*): timeout_seconds must be 1..=3600"),
                "{text}"
            );
        }
    }

    #[test]
    fn version_must_be_a_v_number_label() {
        for version in ["v1", "v2", "v1.1", "v10.0.3"] {
            parse(&route_with(&format!("version = \"{version}\""))).expect(version);
        }
        for version in [
            "", "1", "v", "V1", "v1.", "v.1", "v1..2", "v1-beta", "latest",
        ] {
            let err =
                parse(&route_with(&format!("version = \"{version}\""))).expect_err("bad version");
            let text = err.to_string();
            assert!(
                text.contains("route r (/u/*): version must look like v1"),
                "{version:?}: {text}"
            );
        }
    }

    #[test]
    fn pattern_segments_are_static_a_whole_parameter_or_the_final_star() {
        for pattern in ["/u/{id}", "/u/{id}/orders/*", "/u//x"] {
            parse(&route_with("").replace("/u/*", pattern)).expect(pattern);
        }
        for pattern in [
            "/u/file-{id}",
            "/u/{id}.json",
            "/u/{}",
            "/u/{a}{b}",
            "/u/id}",
        ] {
            let err = parse(&route_with("").replace("/u/*", pattern)).expect_err(pattern);
            assert!(
                err.to_string()
                    .contains("must be static text or one whole `{name}` parameter"),
                "{pattern}: {err}"
            );
        }
    }

    #[test]
    fn error_format_prefixes_must_start_with_a_slash() {
        let err = parse("[error_formats]\n\"api/\" = \"trading\"\n").expect_err("bad prefix");
        assert!(
            err.to_string()
                .contains("error_formats: path prefix \"api/\" must start with /"),
            "{err}"
        );
    }

    #[test]
    fn every_route_field_acts_so_none_is_warned_about() {
        let config = parse(&route_with(
            "version = \"v2\"\nretry_count = 0\ncircuit_breaker_enabled = false\ncache_enabled = true\ncache_ttl_seconds = 60\nload_balance_strategy = \"weighted\"",
        ))
        .expect("valid");
        assert_eq!(config.warnings(), Vec::<String>::new());
    }

    #[test]
    fn cache_settings_out_of_range_are_refused_naming_route_and_field() {
        let err = parse(&route_with(
            "cache_enabled = true\ncache_ttl_seconds = 0\nmethod = \"POST\"",
        ))
        .expect_err("no cache for POST or for no time");
        let text = err.to_string();
        assert!(
            text.contains(
                "route r (/u/*): cache_ttl_seconds must be 1..=31536000 when cache_enabled (got 0)"
            ),
            "{text}"
        );
        assert!(
            text.contains("route r (/u/*): cache_enabled caches GET and HEAD responses only, but the route's method is POST"),
            "{text}"
        );
        let err = parse(&format!(
            "[server]\nresponse_cache_max_bytes = 1000\nresponse_cache_max_entry_bytes = 2000000\n{SERVICE}"
        ))
        .expect_err("entries over the store's value limit");
        let text = err.to_string();
        assert!(
            text.contains(
                "server: response_cache_max_entry_bytes must be 1..=1048576 (got 2000000)"
            ),
            "{text}"
        );
        assert!(
            text.contains("server: response_cache_max_bytes (1000) must be at least response_cache_max_entry_bytes (2000000)"),
            "{text}"
        );
    }

    #[test]
    fn no_warning_when_nothing_is_set_and_there_are_no_routes() {
        let config = parse(SERVICE).expect("valid");
        assert_eq!(config.warnings(), Vec::<String>::new());
    }

    #[test]
    fn roles_name_their_permissions() {
        let config = parse("[roles]\ntrader = [\"portfolio.read\"]\n").expect("valid");
        assert_eq!(config.roles["trader"], ["portfolio.read"]);
        let err = parse("[roles]\ntrader = [\"\"]\n").expect_err("empty permission");
        assert!(
            err.to_string()
                .contains("roles: a role name or one of its permissions is empty"),
            "{err}"
        );
    }

    #[test]
    fn identity_headers_are_distinct_lower_case_names() {
        let config = parse("[identity]\nsubject_header = \"x-user-id\"\n").expect("valid");
        assert_eq!(
            config.identity.headers(),
            ["x-user-id", "x-auth-tenant", "x-auth-roles"]
        );
        let err = parse("[identity]\nroles_header = \"X Roles\"\n").expect_err("not a name");
        assert!(
            err.to_string()
                .contains("identity: header \"X Roles\" must be lower-case"),
            "{err}"
        );
        let err = parse("[identity]\ntenant_header = \"x-auth-subject\"\n").expect_err("twice");
        assert!(
            err.to_string()
                .contains("identity: header x-auth-subject is named twice"),
            "{err}"
        );
    }

    #[test]
    fn upstreams_and_the_upstream_capability_go_together() {
        let plugin = |fields: &str| {
            format!("{SERVICE}[[plugins]]\nname = \"p\"\npath = \"p.wasm\"\n{fields}\n")
        };
        let err = parse(&plugin("upstreams = [\"users\"]")).expect_err("not granted");
        assert!(
            err.to_string().contains(
                "plugin p: upstreams lists services but capability upstream is not granted"
            ),
            "{err}"
        );
        let err = parse(&plugin("capabilities = [\"upstream\"]")).expect_err("no services");
        assert!(
            err.to_string().contains(
                "plugin p: capability upstream is granted but upstreams lists no service"
            ),
            "{err}"
        );
        let config = parse(&plugin(
            "capabilities = [\"upstream\"]\nupstreams = [\"users\", \"later\"]",
        ))
        .expect("valid");
        assert_eq!(
            config.warnings(),
            [
                "plugin p: upstreams names service later, which this file does not define \
              (its calls fail with unknown-service unless the admin API adds it)"
            ]
        );
    }

    #[test]
    fn the_health_path_is_the_endpoints_unless_moved_or_off() {
        let route = "[[routes]]\nid = \"h\"\npath_pattern = \"/health\"\nservice_name = \"users\"\nrequires_auth = false\n";
        let err = parse(&format!("{SERVICE}{route}")).expect_err("the endpoint's path");
        assert!(
            err.to_string()
                .contains("route h: path_pattern /health is the health endpoint's path"),
            "{err}"
        );
        parse(&format!("{SERVICE}[health]\nenabled = false\n{route}")).expect("endpoint off");
        let err = parse("[health]\npath = \"/metrics\"\n").expect_err("one path, two endpoints");
        assert!(err.to_string().contains("metrics endpoint's too"), "{err}");
        let err = parse("[admin_docs]\nswagger_ui_path = \"/health\"\n").expect_err("taken");
        assert!(err.to_string().contains("health endpoint's too"), "{err}");
    }

    #[test]
    fn tracing_takes_an_http_collector_and_a_ratio() {
        parse("[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\nsample_ratio = 0.1\n")
            .expect("valid");
        for (bad, says) in [
            (
                "otlp_endpoint = \"https://collector:4318\"",
                "must be an http:// URL",
            ),
            (
                "otlp_endpoint = \"collector:4318\"",
                "must be an http:// URL",
            ),
            ("sample_ratio = 1.5", "sample_ratio must be 0-1"),
            ("service_name = \"\"", "service_name must not be empty"),
        ] {
            let err = parse(&format!("[tracing]\n{bad}\n")).expect_err(bad);
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_metrics_path_is_plain_and_no_route_claims_it() {
        let route = "[[routes]]\nid = \"m\"\npath_pattern = \"/metrics\"\nservice_name = \"users\"\nrequires_auth = false\n";
        let err = parse(&format!("{SERVICE}{route}")).expect_err("the endpoint's path");
        assert!(
            err.to_string()
                .contains("route m: path_pattern /metrics is the metrics endpoint's path"),
            "{err}"
        );
        parse(&format!("{SERVICE}[metrics]\nenabled = false\n{route}")).expect("endpoint off");
        parse(&format!(
            "{SERVICE}[metrics]\npath = \"/internal/metrics\"\n{route}"
        ))
        .expect("moved");
        let err = parse("[metrics]\npath = \"metrics\"\n").expect_err("relative");
        assert!(
            err.to_string()
                .contains("metrics: path \"metrics\" must be a plain path"),
            "{err}"
        );
    }

    #[test]
    fn cors_rules_take_the_trading_contract_defaults_and_refuse_what_browsers_would() {
        let config = parse(&route_with(
            "[routes.cors]\nallowed_origins = [\"http://localhost:3000\"]\n",
        ))
        .expect("valid");
        let cors = config.routes[0].cors.as_ref().expect("route cors");
        assert_eq!(
            cors.allowed_methods,
            ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
        );
        assert_eq!(
            cors.allowed_headers,
            ["authorization", "content-type", "x-api-key"]
        );
        let err = parse(&format!(
            "[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n{}",
            route_with("[routes.cors]\nallowed_origins = [\"https://app.example/path\"]\n")
        ))
        .expect_err("refused");
        let text = err.to_string();
        for expected in [
            "cors: allow_credentials cannot go with the origin \"*\"",
            "route r: cors: allowed origin \"https://app.example/path\" must be scheme://host[:port], without a path",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn instances_take_health_checks_and_services_tune_breakers_and_budgets() {
        let config = parse(
            "[[services]]\nname = \"s\"\n[services.circuit_breaker]\nfailure_threshold = 2\n\
             [services.retry_budget]\npercent = 50\n[[services.instances]]\ninstance_id = \"a\"\n\
             host = \"127.0.0.1\"\nport = 9000\nstatus = \"unhealthy\"\nhealth_check_url = \"/health\"\n\
             health_check_interval_seconds = 5\nmetadata = { version = \"1.0.1\" }\n",
        )
        .expect("valid");
        let service = &config.services[0];
        assert_eq!(service.circuit_breaker.failure_threshold, 2);
        assert_eq!(
            service.circuit_breaker.open_seconds, 30,
            "the rest keep defaults"
        );
        assert_eq!(service.retry_budget.percent, 50);
        assert_eq!(service.health.passive_failures, 5);
        let endpoint = &service.endpoints()[0];
        assert_eq!(endpoint.status, crate::InstanceStatus::Unhealthy);
        assert_eq!(
            endpoint.probe,
            Some(crate::Probe {
                path: "/health".to_owned(),
                interval_seconds: 5
            })
        );
        assert_eq!(service.instances[0].metadata["version"], "1.0.1");
        let err = parse(
            "[[services]]\nname = \"s\"\n[services.health]\nhealthy_threshold = 0\n\
             [services.circuit_breaker]\nfailure_rate_percent = 101\n\
             [[services.instances]]\ninstance_id = \"a\"\nhost = \"h\"\nport = 1\n\
             health_check_url = \"health\"\nhealth_check_interval_seconds = 0\n",
        )
        .expect_err("bad health settings");
        let text = err.to_string();
        for expected in [
            "service s: instance a: health_check_url must be a path starting with / (got \"health\")",
            "service s: instance a: health_check_interval_seconds must be 1-3600",
            "service s: health.healthy_threshold must be 1-100",
            "service s: circuit_breaker.failure_rate_percent must be 1-100",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
    }

    #[test]
    fn https_services_may_name_a_ca_file_resolved_against_the_config_directory() {
        let config = parse(
            "[[services]]\nname = \"s\"\nurl = \"https://api.example:443\"\nca_file = \"ca.pem\"\n",
        )
        .expect("valid");
        assert_eq!(
            config.services[0].ca_file.as_deref(),
            Some(Path::new("/etc/archway/ca.pem"))
        );
        let err = parse(
            "[[services]]\nname = \"s\"\nurl = \"http://api.example\"\nca_file = \"ca.pem\"\n",
        )
        .expect_err("plain http with a CA");
        assert!(
            err.to_string()
                .contains("service s: ca_file is set but no instance is https"),
            "{err}"
        );
    }

    #[test]
    fn listener_certificates_resolve_against_the_config_directory_and_are_checked() {
        let config = parse(
            "[[server.tls.certificates]]\ncert_file = \"certs/a.pem\"\nkey_file = \"/keys/a.key\"\n\
             [[server.tls.certificates]]\ncert_file = \"b.pem\"\nkey_file = \"b.key\"\nserver_names = [\"b.example\"]\n",
        )
        .expect("valid");
        let tls = config.server.tls.expect("tls is set");
        assert_eq!(
            tls.files().collect::<Vec<_>>(),
            [
                Path::new("/etc/archway/certs/a.pem"),
                Path::new("/keys/a.key"),
                Path::new("/etc/archway/b.pem"),
                Path::new("/etc/archway/b.key"),
            ]
        );
        let err = parse("[server.tls]\ncertificates = []\n").expect_err("no certificate");
        assert!(
            err.to_string()
                .contains("server.tls: certificates lists no certificate"),
            "{err}"
        );
    }

    #[test]
    fn websocket_routes_forward_to_a_service_and_tunnels_are_bounded() {
        let handler = "[[plugins]]\nname = \"h\"\npath = \"h.wasm\"\n\
             [[routes]]\nid = \"ws\"\npath_pattern = \"/ws\"\nhandler = \"h\"\nrequires_auth = false\nwebsocket = true\n";
        let err = parse(handler).expect_err("a handler cannot tunnel");
        assert!(
            err.to_string()
                .contains("route ws (/ws): websocket = true needs an upstream service_name"),
            "{err}"
        );
        let config = parse(&format!(
            "{SERVICE}[[routes]]\nservice_name = \"users\"\npath_pattern = \"/ws\"\nrequires_auth = false\nwebsocket = true\n"
        ))
        .expect("valid");
        assert!(config.routes[0].websocket);
        assert_eq!(
            (
                config.server.max_tunnels,
                config.server.tunnel_idle_timeout_seconds
            ),
            (1000, 300)
        );
        let err = parse("[server]\nmax_tunnels = 0\ntunnel_idle_timeout_seconds = 0\n")
            .expect_err("out of bounds");
        let err = err.to_string();
        assert!(err.contains("max_tunnels must be 1..=1000000"), "{err}");
        assert!(
            err.contains("tunnel_idle_timeout_seconds must be 1..=86400"),
            "{err}"
        );
    }

    #[test]
    fn https_services_may_present_a_client_certificate_resolved_against_the_config_directory() {
        let service = |url: &str, files: &str| {
            format!("[[services]]\nname = \"s\"\nurl = \"{url}\"\n{files}")
        };
        let both = "client_cert_file = \"client.pem\"\nclient_key_file = \"/keys/client.key\"\n";
        let config = parse(&service("https://api.example:443", both)).expect("valid");
        assert_eq!(
            config.services[0].client_cert_file.as_deref(),
            Some(Path::new("/etc/archway/client.pem"))
        );
        assert_eq!(
            config.services[0].client_key_file.as_deref(),
            Some(Path::new("/keys/client.key"))
        );
        let refused = |text: &str, expected: &str| {
            let err = parse(text).expect_err("refused").to_string();
            assert!(err.contains(expected), "{err}");
        };
        for half in [
            "client_cert_file = \"client.pem\"\n",
            "client_key_file = \"client.key\"\n",
        ] {
            refused(
                &service("https://api.example:443", half),
                "service s: set both client_cert_file and client_key_file, or neither",
            );
        }
        let plain = service("http://api.example", both);
        refused(
            &plain,
            "service s: client_cert_file is set but no instance is https",
        );
        refused(
            &plain,
            "service s: client_key_file is set but no instance is https",
        );
        let instances = "[[services.instances]]\ninstance_id = \"a\"\nhost = \"10.0.0.1\"\nport = 80\n\
             [[services.instances]]\ninstance_id = \"b\"\nhost = \"10.0.0.2\"\nport = 443\nprotocol = \"https\"\n";
        parse(&format!("[[services]]\nname = \"s\"\n{both}{instances}"))
            .expect("one https instance is enough");
    }

    #[test]
    fn key_sets_name_one_source_and_pin_algorithms_of_its_kind() {
        let refused = |text: &str, expected: &str| {
            let err = parse(text).expect_err("refused").to_string();
            assert!(err.contains(expected), "{err}");
        };
        refused(
            "[jwt.key_sets.k]\nalgorithms = [\"HS256\"]\nsecret_env = \"S\"\njwks_file = \"j.json\"\n",
            "jwt key set k: name exactly one of",
        );
        refused(
            "[jwt.key_sets.k]\nalgorithms = [\"HS256\"]\npublic_key_file = \"k.pem\"\n",
            "public keys cannot verify HS* algorithms",
        );
        refused(
            "[jwt.key_sets.k]\nalgorithms = [\"none\"]\njwks_url = \"http://idp\"\n",
            "algorithm \"none\" is not one of",
        );
        refused(
            "[jwt.key_sets.k]\nalgorithms = [\"RS256\"]\nsecret_file = \"s\"\n",
            "a secret verifies HS256, HS384 or HS512 only",
        );
        refused(
            "[jwt.key_sets.k]\nalgorithms = [\"RS256\"]\njwks_url = \"http://idp.example/jwks\"\n",
            "must be https:// (plain http:// only to 127.0.0.1",
        );
        for url in [
            "http://127.0.0.1:9/jwks",
            "http://[::1]/jwks",
            "https://idp.example/jwks",
        ] {
            let text =
                format!("[jwt.key_sets.k]\nalgorithms = [\"RS256\"]\njwks_url = \"{url}\"\n");
            let config = parse(&text).expect(url);
            assert!(
                config
                    .warnings()
                    .iter()
                    .any(|w| w.contains("no audience is required")),
                "a public-key set without audience is warned about"
            );
        }
        let config =
            parse("[jwt.key_sets.k]\nalgorithms = [\"RS256\"]\njwks_file = \"keys/jwks.json\"\n")
                .expect("valid");
        assert_eq!(
            config.jwt.key_sets["k"].jwks_file.as_deref(),
            Some(Path::new("/etc/archway/keys/jwks.json"))
        );
    }

    #[test]
    fn a_plugin_is_granted_configured_key_sets_with_capability_jwt() {
        let plugin = |grant: &str| {
            format!(
                "[jwt.key_sets.k]\nalgorithms = [\"EdDSA\"]\njwks_file = \"j\"\n\
                 [[plugins]]\nname = \"p\"\npath = \"p.wasm\"\n{grant}\n"
            )
        };
        assert!(parse(&plugin("capabilities = [\"jwt\"]\nkey_sets = [\"k\"]")).is_ok());
        for (grant, expected) in [
            ("capabilities = [\"jwt\"]", "key_sets lists no key set"),
            ("key_sets = [\"k\"]", "capability jwt is not granted"),
            (
                "capabilities = [\"jwt\"]\nkey_sets = [\"x\"]",
                "key set x is not defined in [jwt.key_sets]",
            ),
        ] {
            let err = parse(&plugin(grant)).expect_err(grant).to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
