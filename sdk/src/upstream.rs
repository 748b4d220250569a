//! Calls to the upstream services a plugin's config lists in `upstreams` (the `upstream`
//! import): host calls on wasm; in native tests, answers the test scripts with
//! [`fake::answer`].
//!
//! ```
//! use archway_sdk::upstream::{self, Call};
//! use archway_sdk::Response;
//!
//! upstream::fake::answer("users", |call| Ok(Response::text(200, format!("{} {}", call.method, call.path))));
//! let replies = upstream::send_all(vec![Call::get("users", "/users/7"), Call::get("orders", "/")]);
//! assert_eq!(replies[0].as_ref().unwrap().body, b"GET /users/7");
//! assert!(matches!(replies[1], Err(upstream::UpstreamError::UnknownService(_))));
//! ```

pub use crate::bindings::types::Response;
pub use crate::bindings::upstream::{OutgoingRequest as Call, UpstreamError};

impl Call {
    /// A request with this method to `path` (with its query) on the named service.
    pub fn new(method: &str, service: &str, path: &str) -> Self {
        Self {
            service: service.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        }
    }

    /// A `GET` of `path` on the named service.
    pub fn get(service: &str, path: &str) -> Self {
        Self::new("GET", service, path)
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the request body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Gives up after `ms` milliseconds (the route's remaining time caps it).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json_body<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Sends one request and waits for the whole response.
pub fn send(call: &Call) -> Result<Response, UpstreamError> {
    imp::send(call)
}

/// Sends every request at once and waits for all; results come in the same order, so
/// the wait is the slowest call's, not the sum.
pub fn send_all(calls: Vec<Call>) -> Vec<Result<Response, UpstreamError>> {
    imp::send_all(&calls)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    pub(super) use crate::bindings::upstream::{send, send_all};
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{Call, Response, UpstreamError, fake};

    pub(super) fn send(call: &Call) -> Result<Response, UpstreamError> {
        fake::call(call)
    }

    pub(super) fn send_all(calls: &[Call]) -> Vec<Result<Response, UpstreamError>> {
        calls.iter().map(fake::call).collect()
    }
}

/// The native stand-in for services, per test thread: a test says how each service
/// answers, and reads back the calls the plugin made.
#[cfg(not(target_arch = "wasm32"))]
pub mod fake {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::{Call, Response, UpstreamError};

    type Answer = Box<dyn Fn(&Call) -> Result<Response, UpstreamError>>;

    thread_local! {
        static SERVICES: RefCell<HashMap<String, Answer>> = RefCell::default();
        static CALLS: RefCell<Vec<Call>> = const { RefCell::new(Vec::new()) };
    }

    /// Makes `service` answer with `answer`; a service with no answer is unknown.
    pub fn answer(
        service: &str,
        answer: impl Fn(&Call) -> Result<Response, UpstreamError> + 'static,
    ) {
        SERVICES.with(|services| {
            services
                .borrow_mut()
                .insert(service.to_owned(), Box::new(answer))
        });
    }

    /// The calls made so far on this thread, oldest first; clears the record.
    pub fn take_calls() -> Vec<Call> {
        CALLS.with(|calls| std::mem::take(&mut *calls.borrow_mut()))
    }

    pub(super) fn call(call: &Call) -> Result<Response, UpstreamError> {
        CALLS.with(|calls| calls.borrow_mut().push(call.clone()));
        SERVICES.with(|services| match services.borrow().get(&call.service) {
            Some(answer) => answer(call),
            None => Err(UpstreamError::UnknownService(format!(
                "service {} is not in this plugin's upstreams",
                call.service
            ))),
        })
    }
}
