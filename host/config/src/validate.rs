//! Whole-config checks that the schema alone cannot express; every problem is collected
//! so one run of `archway check` lists them all.

use std::collections::HashSet;

use crate::{Config, ConfigError, PluginConfig, RouteConfig};

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
        check_plugin(plugin, &mut problems);
    }
    for service in &config.services {
        if let Err(why) = check_service_url(&service.url) {
            problems.push(format!(
                "service {}: url {:?} {why}",
                service.name, service.url
            ));
        }
    }
    for route in &config.routes {
        check_route(config, route, &mut problems);
    }
    if let Some(url) = &config.store.redis_url
        && !url.starts_with("redis://")
    {
        problems.push(format!(
            "store: redis_url must start with redis:// (got {:?})",
            url.split('@').next_back().unwrap_or_default()
        ));
    }
    if config.store.op_timeout_ms == 0 || config.store.op_timeout_ms > 60_000 {
        problems.push("store: op_timeout_ms must be 1..=60000".to_owned());
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

fn check_plugin(plugin: &PluginConfig, problems: &mut Vec<String>) {
    let name = &plugin.name;
    if plugin.timeout_ms == 0 || plugin.timeout_ms > 60_000 {
        problems.push(format!("plugin {name}: timeout_ms must be 1..=60000"));
    }
    if plugin.memory_mb == 0 || plugin.memory_mb > 4096 {
        problems.push(format!("plugin {name}: memory_mb must be 1..=4096"));
    }
}

/// Services are plain `http://host:port` bases for now.
fn check_service_url(url: &str) -> Result<(), &'static str> {
    let uri: http::Uri = url.parse().map_err(|_| "is not a URL")?;
    if uri.scheme_str() != Some("http") {
        return Err("must start with http://");
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
        (Some(handler), _) => check_plugin_ref(config, &at, "handler", handler, problems),
        (None, "") => problems.push(format!("{at}: needs a service_name or a handler")),
        (None, service) if config.service(service).is_none() => {
            problems.push(format!(
                "{at}: service_name {service} is not a configured service"
            ));
        }
        (None, _) => {}
    }
    for (role, names) in [
        ("authenticate", &route.authenticate),
        ("authorize", &route.authorize),
        ("transform", &route.transform),
    ] {
        for name in names {
            check_plugin_ref(config, &at, role, name, problems);
        }
    }
    if route.requires_auth && route.authenticate.is_empty() {
        problems.push(format!(
            "{at}: requires_auth is true (the default) but no authenticate plugin is listed; \
             add one or set requires_auth = false"
        ));
    }
    if !matches!(route.permission_check_strategy.as_str(), "any" | "all") {
        problems.push(format!(
            "{at}: permission_check_strategy must be \"any\" or \"all\""
        ));
    }
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

    use crate::{Config, ConfigError, PluginSource};

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
        assert_eq!(route.permission_check_strategy, "any");
        assert_eq!(
            (
                route.rate_limit_rpm,
                route.timeout_seconds,
                route.retry_count
            ),
            (1000, 30, 3)
        );
        assert_eq!(route.load_balance_strategy, "round_robin");
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
            .with_managed(managed.services.clone(), managed.routes.clone())
            .expect("valid");
        assert_eq!(merged.service("users"), file.service("users"));
        assert_eq!(
            merged.routes.iter().map(|r| &*r.id).collect::<Vec<_>>(),
            ["u", "o"]
        );
        assert_eq!(merged.routes[0], file.routes[0]);

        let dangling: Config = toml::from_str(
            "[[routes]]\nid = \"d\"\nservice_name = \"nowhere\"\npath_pattern = \"/d/*\"\nrequires_auth = false\n",
        )
        .expect("managed record");
        let err = file
            .with_managed([], dangling.routes)
            .expect_err("route to a missing service");
        assert!(err.to_string().contains("nowhere"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key() {
        let err =
            parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").expect_err("unknown key");
        assert!(err.to_string().contains("lisen"), "{err}");
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
    fn service_urls_must_be_plain_http_bases() {
        let err = parse("[[services]]\nname = \"s\"\nurl = \"ftp://x\"\n").expect_err("bad url");
        assert!(err.to_string().contains("service s"), "{err}");
    }
}
