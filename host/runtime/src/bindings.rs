//! The one place the host calls `wasmtime::component::bindgen!`, for the `gateway` world
//! (every import, every role). Role calls are async so a guest waiting on host I/O yields
//! its worker; imports that wait on I/O (`kv`, `streams`, `upstream`, `jwt`,
//! `admin`) are async host functions, while the cheap ones (the request
//! and response heads, `log`, later `metrics`) stay synchronous and cost no future.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "gateway",
    imports: {
        "archway:plugin/kv": async,
        "archway:plugin/streams": async,
        "archway:plugin/upstream": async,
        "archway:plugin/jwt": async,
        "archway:plugin/admin": async,
    },
    exports: { default: async },
    with: {
        "archway:plugin/types.request-head": crate::head::RequestHead,
        "archway:plugin/types.response-head": crate::head::ResponseHead,
    },
});

pub use archway::plugin::{admin, jwt, kv, log, metrics, streams, types, upstream};
pub use exports::archway::plugin::{authenticate, authorize, handle, lifecycle, tick, transform};
