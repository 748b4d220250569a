//! Runs Archway plugins: WebAssembly components described by the `archway:plugin` WIT.
//!
//! 1. [`Runtime::new`] builds one engine for the process: pooling allocator, epoch-based
//!    call deadlines, and a compile cache keyed by content hash.
//! 2. [`Plugin::load`] compiles a component, refuses imports its config does not grant,
//!    reads its roles from its exports, and starts one instance (running `init`) so a
//!    plugin that loads is known to work.
//! 3. Role calls ([`Plugin::authenticate`], [`Plugin::on_request`], ...) lend the
//!    request to a pooled instance through a lazy handle and return
//!    `Result<Result<T, Denial>, PluginError>`: a denial is the plugin's decision, an
//!    error means the call broke (trap, deadline, invalid output) and the instance is
//!    dropped.
#![deny(missing_docs)]

mod bindings;
mod bridge;
mod context;
mod engine;
mod error;
mod host;
mod plugin;
mod state;
mod validate;

pub use bindings::types::Principal;
pub use bridge::StoreBridge;
pub use context::{RequestContext, ResponseContext};
pub use engine::Runtime;
pub use error::{LoadError, PluginError, RuntimeError};
pub use plugin::{CallResult, Plugin, Role};
pub use validate::{Denial, MAX_BODY_BYTES, PluginResponse, RequestChanges, ResponseChanges};

/// The largest linear memory any plugin may be granted.
pub const MAX_PLUGIN_MEMORY_BYTES: usize = 4 << 30;
