//! Runs Archway plugins: WebAssembly components described by the `archway:plugin` WIT.
//!
//! 1. [`Runtime::new`] builds one engine for the process: async support with fiber
//!    stacks from the pooling allocator, epoch ticks for per-call CPU budgets, and a
//!    compile cache keyed by content hash.
//! 2. [`Plugin::load`] compiles a component, refuses imports its config does not grant,
//!    reads its roles from its exports, and starts one instance (running `init`) so a
//!    plugin that loads is known to work.
//! 3. Role calls ([`Plugin::authenticate`], [`Plugin::on_request`], ...) are async: they
//!    lend the request to a pooled instance through a lazy handle, let the guest yield
//!    its worker while it waits on host I/O or computes for long, and return
//!    `Result<Result<T, Denial>, PluginError>`: a denial is the plugin's decision, an
//!    error means the call broke (trap, CPU budget, memory cap, invalid output) and the
//!    instance is dropped.
#![deny(missing_docs)]

mod admin;
mod bindings;
mod call_metrics;
mod canary;
mod deadline;
mod engine;
mod error;
mod head;
mod host;
mod instance;
mod jwt;
mod link;
mod plugin;
mod plugin_metrics;
mod pool;
mod roles;
mod state;
mod upstream;
mod validate;

pub use admin::{AdminCall, AdminError, AdminFuture, AdminState, Caller};
pub use bindings::types::{Principal, Quota, RouteInfo};
pub use canary::{CanaryReports, CanaryStatus, CanaryTrip};
pub use engine::{ComponentBytes, Runtime};
pub use error::{LoadError, PluginError, RuntimeError};
pub use head::{PluginSpan, RequestHead, ResponseHead};
pub use plugin::{CallResult, Plugin};
pub use roles::Role;
pub use state::shared_key;
pub use upstream::{ServiceCall, ServiceCallError, ServiceCallFuture, ServiceCalls, ServiceReply};
pub use validate::{
    Denial, MAX_BODY_BYTES, PluginResponse, RequestChanges, ResponseChanges, strip_hop_by_hop,
};

/// The largest linear memory any plugin may be granted.
pub const MAX_PLUGIN_MEMORY_BYTES: usize = 4 << 30;
