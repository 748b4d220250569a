//! Cross-origin rules for browsers (CORS): which origins may call a route, with which
//! methods and headers, which response headers their scripts may read, and how long a
//! preflight answer holds. Set gateway-wide in `[cors]` or per route; the defaults are
//! the trading contract's rules.

use serde::{Deserialize, Serialize};

/// One route's (or the gateway's) CORS rules.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins allowed to call (`scheme://host[:port]`), or `"*"` for any.
    pub allowed_origins: Vec<String>,
    /// Methods a preflight may ask for.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may ask for.
    pub allowed_headers: Vec<String>,
    /// Response headers scripts may read besides the simple ones.
    pub exposed_headers: Vec<String>,
    /// Whether requests may carry cookies or credentials (never with `"*"`).
    pub allow_credentials: bool,
    /// How long a browser may keep a preflight answer.
    pub max_age_seconds: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        Self {
            allowed_origins: Vec::new(),
            allowed_methods: strings(&["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
            allowed_headers: strings(&["authorization", "content-type", "x-api-key"]),
            exposed_headers: strings(&[
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "retry-after",
            ]),
            allow_credentials: false,
            max_age_seconds: 600,
        }
    }
}

impl CorsConfig {
    /// What is wrong with these rules, each as a sentence.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.allowed_origins.is_empty() {
            problems.push("allowed_origins must name at least one origin, or \"*\"".to_owned());
        }
        for origin in &self.allowed_origins {
            if origin != "*" && !is_origin(origin) {
                problems.push(format!(
                    "allowed origin {origin:?} must be scheme://host[:port], without a path"
                ));
            }
        }
        if self.allow_credentials && self.allowed_origins.iter().any(|o| o == "*") {
            problems.push("allow_credentials cannot go with the origin \"*\"".to_owned());
        }
        for method in &self.allowed_methods {
            if http::Method::from_bytes(method.as_bytes()).is_err() {
                problems.push(format!("allowed method {method:?} is not a method"));
            }
        }
        let headers = self.allowed_headers.iter().chain(&self.exposed_headers);
        for header in headers {
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                problems.push(format!("{header:?} is not a header name"));
            }
        }
        if self.max_age_seconds > 86_400 {
            problems.push("max_age_seconds must be at most 86400".to_owned());
        }
        problems
    }
}

/// Whether `origin` is `scheme://host[:port]` as browsers send it.
fn is_origin(origin: &str) -> bool {
    let Ok(uri) = origin.parse::<http::Uri>() else {
        return false;
    };
    matches!(uri.scheme_str(), Some("http" | "https"))
        && uri.authority().is_some()
        && !origin.ends_with('/')
        && uri
            .path_and_query()
            .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty())
}
