//! Write Archway gateway plugins in Rust.
//!
//! A plugin is a type that implements [`Plugin`] (built once from its typed config) and
//! one or more role traits: [`Authenticate`], [`Authorize`], [`Transform`],
//! [`Handle`], [`Tick`]. [`export!`] names the type and its roles; the
//! crate is a `cdylib` built for `wasm32-wasip2`, and the component it produces exports
//! exactly those roles.
//!
//! ```ignore
//! use archway_sdk::{Authenticate, Deny, Plugin, Principal, Request};
//!
//! #[derive(serde::Deserialize)]
//! struct ApiKey { key: String }
//!
//! impl Plugin for ApiKey {
//!     type Config = ApiKey;
//!     fn new(config: ApiKey) -> Result<Self, String> {
//!         Ok(config)
//!     }
//! }
//!
//! impl Authenticate for ApiKey {
//!     fn authenticate(&self, request: &Request) -> Result<Option<Principal>, Deny> {
//!         match request.header("x-api-key") {
//!             Some(key) if key == self.key => Ok(Some(Principal::subject("api-key"))),
//!             _ => Err(Deny::unauthorized("missing or wrong API key")),
//!         }
//!     }
//! }
//!
//! archway_sdk::export!(ApiKey: authenticate);
//! ```
//!
//! Host calls, each granted in the plugin's config: [`log`], [`kv`] and [`streams`] (the
//! gateway's store), [`upstream`] (named services) and [`metrics`] (the gateway's
//! Prometheus endpoint).
//!
//! Token authenticators share [`bearer_token`], the RFC 6750 denials
//! ([`Deny::invalid_token`], [`Deny::token_expired`], [`Deny::auth_unavailable`]) and
//! [`claims`] (claims to a principal).
//!
//! Plugin logic unit-tests natively: build a [`FakeRequest`] and call the trait methods;
//! the host calls run against in-memory fakes (`upstream::fake`, `metrics::fake`, a
//! per-thread store).
#![deny(missing_docs)]

pub mod admin;
mod bearer;
#[doc(hidden)]
pub mod bindings;
/// Token claims to a [`Principal`]: which claims name the subject, tenant, roles and permissions.
pub mod claims;
mod host;
pub mod jwt;
pub mod metrics;
mod principal;
mod query;
mod request;
mod response;
mod roles;
mod store;
pub mod upstream;

pub use bearer::bearer_token;
pub use bindings::log::Level;
pub use bindings::types::{Deny, Principal, Quota, RequestEdit, Response, ResponseEdit, RouteInfo};
pub use host::log;
pub use query::{path_decode, percent_decode, percent_encode, query_pairs};
pub use request::{FakeRequest, Request};
pub use response::ResponseView;
pub use serde_json;
pub use store::{Entry, StoreError, kv, streams};
pub use upstream::Call;

/// A plugin: built once per instance from the `config` table of its gateway config entry.
pub trait Plugin: Sized + 'static {
    /// The `[plugins.config]` table, deserialised: any `serde` type (a struct with
    /// `#[serde(deny_unknown_fields)]` refuses typos; [`serde_json::Value`] takes the table
    /// as it is). A table that does not fit rejects the plugin at load or reload with
    /// serde's message, naming the field (`keys.k-1: invalid type: ...`).
    type Config: serde::de::DeserializeOwned;

    /// Builds the plugin; an error rejects it at load or reload with this message.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// Builds the plugin from the config's JSON text, as the host hands it to `init`.
    ///
    /// ```
    /// use archway_sdk::Plugin;
    ///
    /// struct Quiet;
    /// impl Plugin for Quiet {
    ///     type Config = std::collections::BTreeMap<String, u32>;
    ///     fn new(_config: Self::Config) -> Result<Self, String> {
    ///         Ok(Quiet)
    ///     }
    /// }
    /// let error = Quiet::from_json(r#"{"limit": "ten"}"#).err().expect("refused");
    /// assert!(error.starts_with("config: limit: invalid type: string"), "{error}");
    /// ```
    fn from_json(config: &str) -> Result<Self, String> {
        let mut json = serde_json::Deserializer::from_str(config);
        let config = serde_path_to_error::deserialize(&mut json)
            .map_err(|e| format!("config: {}: {}", e.path(), e.inner()))?;
        Self::new(config)
    }
}

/// Establishes who is calling.
pub trait Authenticate: Plugin {
    /// The caller's principal; `None` when the request has no credentials this plugin
    /// knows (the route's `requires_auth` decides); a [`Deny`] to refuse.
    fn authenticate(&self, request: &Request) -> Result<Option<Principal>, Deny>;
}

/// Decides whether the authenticated caller may make the request.
pub trait Authorize: Plugin {
    /// `Ok(())` to allow, a [`Deny`] to refuse. The principal is `request.principal()`.
    fn authorize(&self, request: &Request) -> Result<(), Deny>;
}

/// Changes requests on the way in and responses on the way out. Both hooks default to
/// changing nothing.
pub trait Transform: Plugin {
    /// Edits the request before dispatch.
    fn on_request(&self, request: &Request) -> Result<RequestEdit, Deny> {
        let _ = request;
        Ok(RequestEdit::default())
    }

    /// Edits the response before it reaches the client.
    fn on_response(
        &self,
        request: &Request,
        response: &ResponseView,
    ) -> Result<ResponseEdit, Deny> {
        let _ = (request, response);
        Ok(ResponseEdit::default())
    }
}

/// Answers requests itself: a whole API, or an aggregation of upstream calls.
pub trait Handle: Plugin {
    /// Produces the response.
    fn handle(&self, request: &Request) -> Result<Response, Deny>;
}

/// Runs background work on a schedule.
pub trait Tick: Plugin {
    /// One round of work; `now_ms` is Unix time in milliseconds.
    fn tick(&self, now_ms: u64) -> Result<(), String>;
}

/// Exports a plugin type and its roles from this crate's component.
///
/// `archway_sdk::export!(MyPlugin: authenticate, transform);` exports `lifecycle` (always)
/// plus each listed role: `authenticate`, `authorize`, `transform`,
/// `handle`, `tick`. The type must be a plain identifier in scope.
#[macro_export]
macro_rules! export {
    ($ty:ident : $($role:ident),+ $(,)?) => {
        // Component exports exist only in wasm; natively the crate is a plain library
        // whose role traits unit tests call directly.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            $crate::__export_plugin_impl!($ty with_types_in $crate::bindings::plugin);
            $( $crate::__archway_export_role!($role $ty); )+
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __archway_export_role {
    (authenticate $ty:ident) => {
        $crate::__export_authenticator_impl!($ty with_types_in $crate::bindings::authenticator);
    };
    (authorize $ty:ident) => {
        $crate::__export_authorizer_impl!($ty with_types_in $crate::bindings::authorizer);
    };
    (transform $ty:ident) => {
        $crate::__export_transformer_impl!($ty with_types_in $crate::bindings::transformer);
    };
    (handle $ty:ident) => {
        $crate::__export_handler_impl!($ty with_types_in $crate::bindings::handler);
    };
    (tick $ty:ident) => {
        $crate::__export_ticker_impl!($ty with_types_in $crate::bindings::ticker);
    };
    ($other:ident $ty:ident) => {
        ::core::compile_error!(concat!(
            "unknown archway role `", stringify!($other),
            "`: expected authenticate, authorize, transform, handle or tick"
        ));
    };
}
