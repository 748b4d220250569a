//! The store data of one plugin instance and the host side of the imports it may use:
//! the request/response handles (always) and `log` (when granted); `kv` and `streams` are in
//! `state.rs`, `upstream` in `upstream.rs`, `jwt` in `jwt.rs`, `metrics` in `plugin_metrics.rs`, `admin` in `admin.rs`.

use std::sync::Arc;

use archway_store::Store;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::Principal;
use crate::admin::AdminGrant;
use crate::bindings::{log, types};
use crate::head::{RequestHead, ResponseHead, header_pairs, header_text};
use crate::jwt::JwtGrant;
use crate::plugin_metrics::PluginMetrics;
use crate::upstream::UpstreamGrant;

/// What the host lends a plugin's instances for the imports it was granted.
#[derive(Clone, Default)]
pub(crate) struct HostImports {
    /// The store behind `kv` and `streams`.
    pub(crate) store: Option<Store>,
    /// The shared namespaces `kv` and `streams` may reach (the plugin's `share`).
    pub(crate) shared_namespaces: Arc<[String]>,
    /// The tenant that owns the plugin, whose space its `kv` and `streams` names are in.
    pub(crate) owner: Option<Arc<str>>,
    /// The services behind `upstream`, when granted.
    pub(crate) upstream: Option<UpstreamGrant>,
    /// The plugin's series behind `metrics`, when granted.
    pub(crate) metrics: Option<Arc<PluginMetrics>>,
    /// The key sets behind `jwt`, when granted.
    pub(crate) jwt: Option<JwtGrant>,
    /// The gateway state behind `admin`, when granted.
    pub(crate) admin: Option<AdminGrant>,
}

/// What one instance's store holds. The request and response in flight are lent to the
/// instance by swapping them into these slots for one call, which costs no allocation;
/// every handle the guest holds during that call refers to them.
pub(crate) struct HostState {
    pub(crate) plugin: Arc<str>,
    pub(crate) request: RequestHead,
    pub(crate) response: ResponseHead,
    pub(crate) store: Option<Store>,
    pub(crate) shared_namespaces: Arc<[String]>,
    pub(crate) owner: Option<Arc<str>>,
    pub(crate) upstream: Option<UpstreamGrant>,
    pub(crate) metrics: Option<Arc<PluginMetrics>>,
    pub(crate) jwt: Option<JwtGrant>,
    pub(crate) admin: Option<AdminGrant>,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    wasi: WasiCtx,
}

/// The linear-memory cap of one instance. A growth past it traps, and the cap remembers
/// that it was the cause, so the failure is reported as the memory cap, not a crash.
pub(crate) struct MemoryCap {
    limits: StoreLimits,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum);
        if !matches!(allowed, Ok(true)) {
            self.exceeded = true;
        }
        allowed
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl HostState {
    /// A sandbox with no files, no environment, no sockets and stdio that goes nowhere,
    /// and a memory cap.
    pub(crate) fn new(plugin: Arc<str>, memory_bytes: usize, imports: HostImports) -> Self {
        Self {
            plugin,
            store: imports.store,
            shared_namespaces: imports.shared_namespaces,
            owner: imports.owner,
            upstream: imports.upstream,
            metrics: imports.metrics,
            jwt: imports.jwt,
            admin: imports.admin,
            request: RequestHead::default(),
            response: ResponseHead::default(),
            table: ResourceTable::new(),
            memory: MemoryCap {
                limits: StoreLimitsBuilder::new()
                    .memory_size(memory_bytes)
                    .trap_on_grow_failure(true)
                    .build(),
                exceeded: false,
            },
            wasi: WasiCtx::builder().build(),
        }
    }

    /// The request lent for this call. The host only ever hands out borrows of it, and
    /// the component model keeps a borrow from outliving the call.
    fn request(&self, _head: &Resource<RequestHead>) -> &RequestHead {
        &self.request
    }

    /// The response lent for this call, borrowed like the request.
    fn response(&self, _head: &Resource<ResponseHead>) -> &ResponseHead {
        &self.response
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::HostRequestHead for HostState {
    fn method(&mut self, head: Resource<RequestHead>) -> String {
        self.request(&head).method.as_str().to_owned()
    }

    fn path(&mut self, head: Resource<RequestHead>) -> String {
        self.request(&head).path.clone()
    }

    fn query(&mut self, head: Resource<RequestHead>) -> Option<String> {
        self.request(&head).query.clone()
    }

    fn header(&mut self, head: Resource<RequestHead>, name: String) -> Option<String> {
        header_text(&self.request(&head).headers, &name)
    }

    fn headers(&mut self, head: Resource<RequestHead>) -> Vec<types::Header> {
        header_pairs(&self.request(&head).headers)
    }

    fn client_ip(&mut self, head: Resource<RequestHead>) -> String {
        self.request(&head).client_ip.to_string()
    }

    fn route_id(&mut self, head: Resource<RequestHead>) -> String {
        self.request(&head).route.id.clone()
    }

    fn route(&mut self, head: Resource<RequestHead>) -> types::RouteInfo {
        (*self.request(&head).route).clone()
    }

    fn param(&mut self, head: Resource<RequestHead>, name: String) -> Option<String> {
        let params = &self.request(&head).params;
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    fn tenant(&mut self, head: Resource<RequestHead>) -> Option<String> {
        self.request(&head).tenant.clone()
    }

    fn principal(&mut self, head: Resource<RequestHead>) -> Option<Principal> {
        self.request(&head).principal.clone()
    }

    fn body(&mut self, head: Resource<RequestHead>) -> Option<Vec<u8>> {
        self.request(&head).body.as_ref().map(|b| b.to_vec())
    }

    fn drop(&mut self, _head: Resource<RequestHead>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl types::HostResponseHead for HostState {
    fn status(&mut self, head: Resource<ResponseHead>) -> u16 {
        self.response(&head).status.as_u16()
    }

    fn header(&mut self, head: Resource<ResponseHead>, name: String) -> Option<String> {
        header_text(&self.response(&head).headers, &name)
    }

    fn headers(&mut self, head: Resource<ResponseHead>) -> Vec<types::Header> {
        header_pairs(&self.response(&head).headers)
    }

    fn body(&mut self, head: Resource<ResponseHead>) -> Option<Vec<u8>> {
        self.response(&head).body.as_ref().map(|b| b.to_vec())
    }

    fn drop(&mut self, _head: Resource<ResponseHead>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl types::Host for HostState {}

/// Plugin log lines go to the gateway's log under target `archway.plugin`, with the
/// plugin's name; long lines are cut so a plugin cannot flood the log with one call.
impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        const MAX: usize = 4096;
        let mut end = message.len().min(MAX);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let (plugin, message) = (&*self.plugin, &message[..end]);
        match level {
            log::Level::Trace => tracing::trace!(target: "archway.plugin", plugin, "{message}"),
            log::Level::Debug => tracing::debug!(target: "archway.plugin", plugin, "{message}"),
            log::Level::Info => tracing::info!(target: "archway.plugin", plugin, "{message}"),
            log::Level::Warn => tracing::warn!(target: "archway.plugin", plugin, "{message}"),
            log::Level::Error => tracing::error!(target: "archway.plugin", plugin, "{message}"),
        }
    }
}
