//! Finds the route for a request: path pattern first (static segments beat parameters,
//! parameters beat the trailing `*`), then among routes on that pattern the highest
//! `priority` whose method matches.

use std::sync::Arc;

use http::Method;

use crate::route::{REST_PARAM, Route, RouteError};

/// The routing table of one snapshot.
#[derive(Debug, Default)]
pub struct Router {
    patterns: matchit::Router<Vec<Arc<Route>>>,
}

/// A matched route with its path parameters.
#[derive(Debug)]
pub struct Matched {
    /// The route.
    pub route: Arc<Route>,
    /// `{name}` parameters and the trailing `*` as `rest`.
    pub params: Vec<(String, String)>,
}

impl Router {
    /// Builds the table; inactive routes are left out.
    pub fn new(routes: Vec<Route>) -> Result<Self, RouteError> {
        let mut grouped: Vec<(String, Vec<Arc<Route>>)> = Vec::new();
        for route in routes.into_iter().filter(|r| r.config.is_active) {
            let pattern = matchit_pattern(&route.config.path_pattern);
            match grouped.iter_mut().find(|(p, _)| *p == pattern) {
                Some((_, same)) => same.push(Arc::new(route)),
                None => grouped.push((pattern, vec![Arc::new(route)])),
            }
        }
        let mut patterns = matchit::Router::new();
        for (pattern, mut routes) in grouped {
            routes.sort_by_key(|r| std::cmp::Reverse(r.config.priority));
            let first = routes[0].clone();
            patterns
                .insert(pattern.clone(), routes)
                .map_err(|e| RouteError::Conflict {
                    route: first.id.to_string(),
                    pattern: first.config.path_pattern.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(Self { patterns })
    }

    /// The route for a method and path, if any.
    pub fn find(&self, method: &Method, path: &str) -> Option<Matched> {
        let found = self.patterns.at(path).ok()?;
        let route = found
            .value
            .iter()
            .find(|r| r.config.method.matches(method))?
            .clone();
        let params = found
            .params
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        Some(Matched { route, params })
    }
}

/// `/api/users/*` -> `/api/users/{*rest}`; `{id}` parameters pass through.
fn matchit_pattern(path_pattern: &str) -> String {
    match path_pattern.strip_suffix('*') {
        Some(prefix) => format!("{prefix}{{*{REST_PARAM}}}"),
        None => path_pattern.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use archway_config::Config;

    use super::*;

    fn router(routes_toml: &str) -> Router {
        let text =
            format!("[[services]]\nname = \"s\"\nurl = \"http://127.0.0.1:1\"\n{routes_toml}");
        let config = Config::from_toml_str(&text, std::path::Path::new(".")).expect("valid config");
        let routes = config
            .routes
            .iter()
            .map(|r| Route::build(&config, r, &HashMap::new(), 1024).expect("route builds"))
            .collect();
        Router::new(routes).expect("no conflicts")
    }

    fn route(id: &str, pattern: &str, extra: &str) -> String {
        format!(
            "[[routes]]\nid = \"{id}\"\nservice_name = \"s\"\npath_pattern = \"{pattern}\"\nrequires_auth = false\n{extra}\n"
        )
    }

    #[test]
    fn specific_pattern_beats_wildcard_and_captures_params() {
        let r = router(&(route("all", "/api/*", "") + &route("user", "/api/users/{id}", "")));
        let m = r.find(&Method::GET, "/api/users/7").expect("match");
        assert_eq!(
            (&*m.route.id, m.params),
            ("user", vec![("id".to_owned(), "7".to_owned())])
        );
        let m = r.find(&Method::GET, "/api/other/x").expect("match");
        assert_eq!(
            (&*m.route.id, m.params),
            ("all", vec![("rest".to_owned(), "other/x".to_owned())])
        );
    }

    #[test]
    fn method_and_priority_choose_among_routes_on_one_pattern() {
        let r = router(
            &(route("low", "/x", "priority = 1")
                + &route("high", "/x", "priority = 5\nmethod = \"POST\"")),
        );
        assert_eq!(
            &*r.find(&Method::POST, "/x").expect("match").route.id,
            "high"
        );
        assert_eq!(&*r.find(&Method::GET, "/x").expect("match").route.id, "low");
    }

    #[test]
    fn inactive_and_unknown_paths_do_not_match() {
        let r = router(&route("off", "/off", "is_active = false"));
        assert!(r.find(&Method::GET, "/off").is_none());
        assert!(r.find(&Method::GET, "/nowhere").is_none());
    }
}
