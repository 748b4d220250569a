//! CORS at the edge: preflights answered by the gateway (before rate limits, plugins and
//! the upstream), and the allow/expose headers added to every answer on a route with
//! CORS rules, the gateway's own errors (401, 429) included, so browsers can read them.

use archway_config::CorsConfig;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::body::{ProxyBody, full};

/// A route's CORS rules, with their header values made once per snapshot.
#[derive(Debug)]
pub(crate) struct Cors {
    /// Allowed origins; `None` allows any.
    origins: Option<Vec<HeaderValue>>,
    methods: Vec<Method>,
    allow_methods: HeaderValue,
    allow_headers: HeaderValue,
    expose_headers: Option<HeaderValue>,
    credentials: bool,
    max_age: HeaderValue,
}

impl Cors {
    /// The rules of `config` (validated: every value makes a header).
    pub(crate) fn new(config: &CorsConfig) -> Self {
        let joined = |items: &[String]| {
            HeaderValue::from_str(&items.join(", ")).expect("validated header values")
        };
        let any = config.allowed_origins.iter().any(|o| o == "*");
        Self {
            origins: (!any).then(|| {
                config
                    .allowed_origins
                    .iter()
                    .filter_map(|origin| HeaderValue::from_str(origin).ok())
                    .collect()
            }),
            methods: config
                .allowed_methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect(),
            allow_methods: joined(&config.allowed_methods),
            allow_headers: joined(&config.allowed_headers),
            expose_headers: (!config.exposed_headers.is_empty())
                .then(|| joined(&config.exposed_headers)),
            credentials: config.allow_credentials,
            max_age: HeaderValue::from(config.max_age_seconds),
        }
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`; `None` when the
    /// origin is not allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            None if !self.credentials => Some(HeaderValue::from_static("*")),
            None => Some(origin.clone()),
            Some(allowed) => allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
                .then(|| origin.clone()),
        }
    }

    /// The answer to a preflight from `origin` asking for `method`: 204 with the
    /// route's rules, or `None` when the origin or method is not allowed (the caller
    /// answers 403).
    pub(crate) fn preflight(
        &self,
        origin: &HeaderValue,
        method: &Method,
    ) -> Option<Response<ProxyBody>> {
        let allow_origin = self.allow_origin(origin)?;
        if !self.methods.contains(method) {
            return None;
        }
        let mut response = Response::new(full(bytes::Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        self.common(headers, allow_origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.allow_methods.clone(),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            self.allow_headers.clone(),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        Some(response)
    }

    /// Adds the CORS headers for a request from `origin` to its answer, when the origin
    /// is allowed.
    pub(crate) fn decorate(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        if let Some(allow_origin) = self.allow_origin(origin) {
            self.common(headers, allow_origin);
            if let Some(exposed) = &self.expose_headers {
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed.clone());
            }
        }
    }

    fn common(&self, headers: &mut HeaderMap, allow_origin: HeaderValue) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        // The answer depends on the origin, so caches must key on it.
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
}
