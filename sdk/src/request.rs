//! The request a plugin is asked about: the host's lazy handle in wasm, or a fake built
//! in a native unit test.

use std::collections::HashMap;

use crate::bindings::types::RequestHead;
use crate::{Principal, RouteInfo};

/// The incoming request. Each accessor asks the host for just that field.
pub struct Request<'a> {
    source: Source<'a>,
}

enum Source<'a> {
    Host(&'a RequestHead),
    Fake(&'a FakeRequest),
}

impl<'a> Request<'a> {
    pub(crate) fn from_host(head: &'a RequestHead) -> Self {
        Self {
            source: Source::Host(head),
        }
    }

    /// The HTTP method, upper-case.
    pub fn method(&self) -> String {
        match &self.source {
            Source::Host(h) => h.method(),
            Source::Fake(f) => f.method.clone(),
        }
    }

    /// The normalised path without the query string.
    pub fn path(&self) -> String {
        match &self.source {
            Source::Host(h) => h.path(),
            Source::Fake(f) => f.path.clone(),
        }
    }

    /// The query string without `?`.
    pub fn query(&self) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.query(),
            Source::Fake(f) => f.query.clone(),
        }
    }

    /// The first value of a query parameter, percent-decoded.
    ///
    /// ```
    /// let fake = archway_sdk::FakeRequest::new("GET", "/search").query("q=a%26b&q=c");
    /// assert_eq!(fake.request().query_param("q").as_deref(), Some("a&b"));
    /// ```
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::query_pairs(&self.query()?)
            .into_iter()
            .find_map(|(n, value)| (n == name).then_some(value))
    }

    /// The first value of a header (case-insensitive name).
    ///
    /// ```
    /// let fake = archway_sdk::FakeRequest::new("GET", "/").header("X-Api-Key", "k1");
    /// assert_eq!(fake.request().header("x-api-key").as_deref(), Some("k1"));
    /// ```
    pub fn header(&self, name: &str) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.header(name),
            Source::Fake(f) => {
                let name = name.to_ascii_lowercase();
                f.headers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone())
            }
        }
    }

    /// Every header, in order received.
    pub fn headers(&self) -> Vec<(String, String)> {
        match &self.source {
            Source::Host(h) => h.headers(),
            Source::Fake(f) => f.headers.clone(),
        }
    }

    /// The client's IP address.
    pub fn client_ip(&self) -> String {
        match &self.source {
            Source::Host(h) => h.client_ip(),
            Source::Fake(f) => f.client_ip.clone(),
        }
    }

    /// The id of the matched route.
    pub fn route_id(&self) -> String {
        match &self.source {
            Source::Host(h) => h.route_id(),
            Source::Fake(f) => f.route.id.clone(),
        }
    }

    /// The matched route's settings: id, service, version, required permissions.
    ///
    /// ```
    /// let fake = archway_sdk::FakeRequest::new("GET", "/").route(archway_sdk::RouteInfo {
    ///     id: "orders".into(),
    ///     service_name: Some("orders".into()),
    ///     version: "v2".into(),
    ///     required_permissions: vec!["orders.read".into()],
    /// });
    /// assert_eq!(fake.request().route().version, "v2");
    /// ```
    pub fn route(&self) -> RouteInfo {
        match &self.source {
            Source::Host(h) => h.route(),
            Source::Fake(f) => f.route.clone(),
        }
    }

    /// A path parameter captured by the route pattern.
    pub fn param(&self, name: &str) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.param(name),
            Source::Fake(f) => f.params.get(name).cloned(),
        }
    }

    /// The request's tenant, if any.
    pub fn tenant(&self) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.tenant(),
            Source::Fake(f) => f.tenant.clone(),
        }
    }

    /// The principal an earlier authenticator established.
    pub fn principal(&self) -> Option<Principal> {
        match &self.source {
            Source::Host(h) => h.principal(),
            Source::Fake(f) => f.principal.clone(),
        }
    }

    /// The buffered body, when the host buffered it for this plugin.
    pub fn body(&self) -> Option<Vec<u8>> {
        match &self.source {
            Source::Host(h) => h.body(),
            Source::Fake(f) => f.body.clone(),
        }
    }
}

/// A request built in a native unit test, standing in for the host's.
///
/// ```
/// use archway_sdk::FakeRequest;
/// let fake = FakeRequest::new("POST", "/orders").param("id", "7").body(b"{}".to_vec());
/// let request = fake.request();
/// assert_eq!(request.method(), "POST");
/// assert_eq!(request.param("id").as_deref(), Some("7"));
/// ```
#[derive(Clone, Debug)]
pub struct FakeRequest {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    client_ip: String,
    route: RouteInfo,
    params: HashMap<String, String>,
    tenant: Option<String>,
    principal: Option<Principal>,
    body: Option<Vec<u8>>,
}

impl FakeRequest {
    /// A request with this method and path, from 127.0.0.1 on route `test` (service
    /// `test`, version `v1`, no required permissions).
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: None,
            headers: Vec::new(),
            client_ip: "127.0.0.1".to_owned(),
            route: RouteInfo {
                id: "test".to_owned(),
                service_name: Some("test".to_owned()),
                version: "v1".to_owned(),
                required_permissions: Vec::new(),
            },
            params: HashMap::new(),
            tenant: None,
            principal: None,
            body: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the query string.
    pub fn query(mut self, query: &str) -> Self {
        self.query = Some(query.to_owned());
        self
    }

    /// Adds a path parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets the matched route's settings.
    pub fn route(mut self, route: RouteInfo) -> Self {
        self.route = route;
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_owned());
        self
    }

    /// Sets the principal, as an authenticator would have.
    pub fn principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Sets the buffered body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// The [`Request`] view a plugin receives.
    pub fn request(&self) -> Request<'_> {
        Request {
            source: Source::Fake(self),
        }
    }
}
