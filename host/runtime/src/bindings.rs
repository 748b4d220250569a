//! The one place the host calls `wasmtime::component::bindgen!`, for the `gateway` world
//! (every import, every role). The request and response heads map onto host types that
//! the store lends to the guest for the length of one call.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "gateway",
    with: {
        "archway:plugin/types.request-head": crate::context::RequestContext,
        "archway:plugin/types.response-head": crate::context::ResponseContext,
    },
});

pub use archway::plugin::{kv, log, streams, types};
pub use exports::archway::plugin::{
    aggregate, authenticate, authorize, handle, lifecycle, tick, transform,
};
