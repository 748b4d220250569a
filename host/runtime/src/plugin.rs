//! One loaded plugin: its pre-linked component, the roles it exports, and its live
//! instances. Calls check an instance out of the pool, run under a deadline and a memory
//! cap, and go back only if nothing broke: an instance that trapped is dropped.

use std::fmt;
use std::sync::{Arc, Mutex};

use archway_config::{Capability, InstanceMode, PluginConfig};
use wasmtime::component::{Component, HasSelf, InstancePre, Resource};
use wasmtime::{Store, Trap};

use crate::bindings::{
    aggregate, authenticate, authorize, handle, kv, lifecycle, log, streams, tick, transform,
};
use crate::bridge::StoreBridge;
use crate::context::{RequestContext, ResponseContext};
use crate::engine::EPOCH_TICK;
use crate::host::HostState;
use crate::validate::{Checker, Denial, PluginResponse, RequestChanges, ResponseChanges};
use crate::{LoadError, PluginError, Principal, Runtime};

/// A role a plugin can play, read from its component's exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Exports `authenticate`.
    Authenticate,
    /// Exports `authorize`.
    Authorize,
    /// Exports `transform`.
    Transform,
    /// Exports `aggregate`.
    Aggregate,
    /// Exports `handle`.
    Handle,
    /// Exports `tick`.
    Tick,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Authenticate => "authenticate",
            Self::Authorize => "authorize",
            Self::Transform => "transform",
            Self::Aggregate => "aggregate",
            Self::Handle => "handle",
            Self::Tick => "tick",
        })
    }
}

/// The export indices, looked up once per plugin.
struct Indices {
    lifecycle: lifecycle::GuestIndices,
    authenticate: Option<authenticate::GuestIndices>,
    authorize: Option<authorize::GuestIndices>,
    transform: Option<transform::GuestIndices>,
    aggregate: Option<aggregate::GuestIndices>,
    handle: Option<handle::GuestIndices>,
    tick: Option<tick::GuestIndices>,
}

/// The role functions of one live instance.
struct Exports {
    authenticate: Option<authenticate::Guest>,
    authorize: Option<authorize::Guest>,
    transform: Option<transform::Guest>,
    aggregate: Option<aggregate::Guest>,
    handle: Option<handle::Guest>,
    tick: Option<tick::Guest>,
}

/// A live, initialised instance.
struct Live {
    store: Store<HostState>,
    exports: Exports,
}

/// The outcome of a plugin call: a decision of the plugin, or a failure of the call.
pub type CallResult<T> = Result<Result<T, Denial>, PluginError>;

/// A plugin ready to serve.
pub struct Plugin {
    name: Arc<str>,
    pre: InstancePre<HostState>,
    indices: Indices,
    roles: Vec<Role>,
    init_config: String,
    mode: InstanceMode,
    max_idle: usize,
    timeout_ms: u64,
    deadline_ticks: u64,
    memory_bytes: usize,
    content_hash: [u8; 32],
    store: Option<Arc<StoreBridge>>,
    #[expect(
        clippy::vec_box,
        reason = "checking an instance out and in moves a pointer, not the whole struct (measured in benches/hooks.rs)"
    )]
    idle: Mutex<Vec<Box<Live>>>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish()
    }
}

/// The capability an `archway:plugin/<interface>@...` import needs; `None` for `types`.
fn required_capability(import: &str) -> Result<Option<Capability>, ()> {
    let interface = import
        .strip_prefix("archway:plugin/")
        .and_then(|rest| rest.split('@').next())
        .ok_or(())?;
    if interface == "types" {
        return Ok(None);
    }
    Capability::ALL
        .into_iter()
        .find(|c| c.interface() == interface)
        .map(Some)
        .ok_or(())
}

impl Plugin {
    /// Compiles, links and checks a component, then creates and initialises its first
    /// instance, so a plugin that loads is known to start.
    pub fn load(runtime: &Runtime, config: &PluginConfig, bytes: &[u8]) -> Result<Self, LoadError> {
        let plugin = config.name.clone();
        let content_hash = Runtime::content_hash(bytes);
        let component = runtime
            .compile(bytes, content_hash)
            .map_err(|e| LoadError::Compile {
                plugin: plugin.clone(),
                reason: format!("{e:#}"),
            })?;
        check_imports(runtime, &component, config)?;

        let mut linker = runtime.base_linker.clone();
        for capability in &config.capabilities {
            let linked = match capability {
                Capability::Log => log::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s),
                Capability::Kv => kv::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s),
                Capability::Streams => {
                    streams::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)
                }
                other => {
                    return Err(LoadError::UnavailableCapability {
                        plugin,
                        capability: other.interface().to_owned(),
                    });
                }
            };
            linked.map_err(|e| LoadError::Link {
                plugin: plugin.clone(),
                reason: format!("{e:#}"),
            })?;
        }
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link {
                plugin: plugin.clone(),
                reason: format!("{e:#}"),
            })?;
        let lifecycle = lifecycle::GuestIndices::new(&pre).map_err(|_| LoadError::NotAPlugin {
            plugin: plugin.clone(),
        })?;
        let indices = Indices {
            lifecycle,
            authenticate: authenticate::GuestIndices::new(&pre).ok(),
            authorize: authorize::GuestIndices::new(&pre).ok(),
            transform: transform::GuestIndices::new(&pre).ok(),
            aggregate: aggregate::GuestIndices::new(&pre).ok(),
            handle: handle::GuestIndices::new(&pre).ok(),
            tick: tick::GuestIndices::new(&pre).ok(),
        };
        let roles = [
            (indices.authenticate.is_some(), Role::Authenticate),
            (indices.authorize.is_some(), Role::Authorize),
            (indices.transform.is_some(), Role::Transform),
            (indices.aggregate.is_some(), Role::Aggregate),
            (indices.handle.is_some(), Role::Handle),
            (indices.tick.is_some(), Role::Tick),
        ]
        .into_iter()
        .filter_map(|(has, role)| has.then_some(role))
        .collect();
        let init_config =
            serde_json::to_string(&config.config).expect("TOML values always serialise to JSON");
        let tick_ms = EPOCH_TICK.as_millis() as u64;
        let plugin = Self {
            name: Arc::from(plugin),
            pre,
            indices,
            roles,
            init_config,
            mode: config.instances,
            max_idle: config.max_idle_instances,
            timeout_ms: config.timeout_ms,
            deadline_ticks: config.timeout_ms.div_ceil(tick_ms) + 1,
            memory_bytes: usize::try_from(config.memory_mb * 1024 * 1024).unwrap_or(usize::MAX),
            content_hash,
            store: runtime.store.clone(),
            idle: Mutex::default(),
        };
        let first = plugin.instantiate().map_err(|e| LoadError::Init {
            plugin: plugin.name.to_string(),
            reason: e.to_string(),
        })?;
        plugin.check_in(first);
        Ok(plugin)
    }

    /// The plugin's name from config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The [`Runtime::content_hash`] of the component it was loaded from.
    pub fn content_hash(&self) -> [u8; 32] {
        self.content_hash
    }

    /// The roles the component exports.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Fails with a clear error unless the plugin exports `role`.
    pub fn require_role(&self, role: Role) -> Result<(), LoadError> {
        if self.roles.contains(&role) {
            return Ok(());
        }
        let exports = self
            .roles
            .iter()
            .map(Role::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Err(LoadError::MissingRole {
            plugin: self.name.to_string(),
            role: role.to_string(),
            exports: if exports.is_empty() {
                "no roles".to_owned()
            } else {
                exports
            },
        })
    }

    /// Asks the plugin who is calling.
    pub fn authenticate(&self, request: &mut RequestContext) -> CallResult<Option<Principal>> {
        let outcome = self.call_with_request(request, |live, head| {
            role(&live.exports.authenticate).call_authenticate(&mut live.store, head)
        })?;
        let checker = self.checker();
        self.decision(outcome, |principal| {
            principal.map(|p| checker.principal(p)).transpose()
        })
    }

    /// Asks the plugin whether the request may proceed.
    pub fn authorize(&self, request: &mut RequestContext) -> CallResult<()> {
        let outcome = self.call_with_request(request, |live, head| {
            role(&live.exports.authorize).call_authorize(&mut live.store, head)
        })?;
        self.decision(outcome, |()| Ok(()))
    }

    /// Asks the plugin for changes to the request.
    pub fn on_request(&self, request: &mut RequestContext) -> CallResult<RequestChanges> {
        let outcome = self.call_with_request(request, |live, head| {
            role(&live.exports.transform).call_on_request(&mut live.store, head)
        })?;
        let checker = self.checker();
        self.decision(outcome, |edit| checker.request_edit(edit))
    }

    /// Asks the plugin for changes to the response.
    pub fn on_response(
        &self,
        request: &mut RequestContext,
        response: &mut ResponseContext,
    ) -> CallResult<ResponseChanges> {
        let outcome = self.call(|live| {
            std::mem::swap(&mut live.store.data_mut().response, response);
            let result = with_request(live, request, |live, head| {
                role(&live.exports.transform).call_on_response(
                    &mut live.store,
                    head,
                    Resource::new_borrow(LENT),
                )
            });
            std::mem::swap(&mut live.store.data_mut().response, response);
            result
        })?;
        let checker = self.checker();
        self.decision(outcome, |edit| checker.response_edit(edit))
    }

    /// Asks the plugin to answer the request itself.
    pub fn handle(&self, request: &mut RequestContext) -> CallResult<PluginResponse> {
        let outcome = self.call_with_request(request, |live, head| {
            role(&live.exports.handle).call_handle(&mut live.store, head)
        })?;
        let checker = self.checker();
        self.decision(outcome, |response| checker.response(response))
    }

    /// Asks the plugin to build the response from upstream calls.
    pub fn aggregate(&self, request: &mut RequestContext) -> CallResult<PluginResponse> {
        let outcome = self.call_with_request(request, |live, head| {
            role(&live.exports.aggregate).call_aggregate(&mut live.store, head)
        })?;
        let checker = self.checker();
        self.decision(outcome, |response| checker.response(response))
    }

    /// Runs one round of the plugin's background work.
    pub fn tick(&self, now_ms: u64) -> Result<Result<(), String>, PluginError> {
        self.call(|live| role(&live.exports.tick).call_tick(&mut live.store, now_ms))
    }

    fn checker(&self) -> Checker<'_> {
        Checker { plugin: &self.name }
    }

    /// Validates the plugin's answer: its deny, or its value through `check`.
    fn decision<W, T>(
        &self,
        outcome: Result<W, crate::bindings::types::Deny>,
        check: impl FnOnce(W) -> Result<T, PluginError>,
    ) -> CallResult<T> {
        match outcome {
            Ok(value) => Ok(Ok(check(value)?)),
            Err(deny) => Ok(Err(self.checker().deny(deny)?)),
        }
    }

    fn call_with_request<R>(
        &self,
        request: &mut RequestContext,
        f: impl FnOnce(&mut Live, Resource<RequestContext>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.call(|live| with_request(live, request, f))
    }

    /// Runs `f` on a live instance under the call deadline. A failed call drops the
    /// instance, so a trapped or timed-out instance is never reused.
    fn call<R>(&self, f: impl FnOnce(&mut Live) -> wasmtime::Result<R>) -> Result<R, PluginError> {
        let mut live = self.check_out()?;
        live.store.set_epoch_deadline(self.deadline_ticks);
        let value = self.guarded(|| f(&mut live))?;
        self.check_in(live);
        Ok(value)
    }

    /// Runs guest code, turning a trap, the deadline, or a host panic under the call
    /// (wasmtime-wasi's sync stdio blocks on the runtime, which panics on a tokio worker)
    /// into a [`PluginError`], so one plugin call can never take down a connection.
    fn guarded<R>(&self, f: impl FnOnce() -> wasmtime::Result<R>) -> Result<R, PluginError> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.failure(&error)),
            Err(_) => Err(PluginError::Trap {
                plugin: self.name.to_string(),
                reason: "the host failed while serving the call (stdout/stderr writes are not supported; use the log import)"
                    .to_owned(),
            }),
        }
    }

    fn check_out(&self) -> Result<Box<Live>, PluginError> {
        if self.mode == InstanceMode::Pooled
            && let Some(live) = self.idle.lock().expect("instance pool lock").pop()
        {
            return Ok(live);
        }
        self.instantiate().map_err(|e| PluginError::Instantiate {
            plugin: self.name.to_string(),
            reason: e.to_string(),
        })
    }

    fn check_in(&self, live: Box<Live>) {
        if self.mode == InstanceMode::Pooled {
            let mut idle = self.idle.lock().expect("instance pool lock");
            if idle.len() < self.max_idle {
                idle.push(live);
            }
        }
    }

    /// A fresh instance with its roles loaded and `init` run.
    fn instantiate(&self) -> Result<Box<Live>, PluginError> {
        let mut store = Store::new(
            self.pre.engine(),
            HostState::new(self.name.clone(), self.memory_bytes, self.store.clone()),
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(self.deadline_ticks);
        let started = self.guarded(|| {
            let instance = self.pre.instantiate(&mut store)?;
            let lifecycle = self.indices.lifecycle.load(&mut store, &instance)?;
            let exports = Exports {
                authenticate: self
                    .indices
                    .authenticate
                    .as_ref()
                    .map(|i| i.load(&mut store, &instance))
                    .transpose()?,
                authorize: self
                    .indices
                    .authorize
                    .as_ref()
                    .map(|i| i.load(&mut store, &instance))
                    .transpose()?,
                transform: self
                    .indices
                    .transform
                    .as_ref()
                    .map(|i| i.load(&mut store, &instance))
                    .transpose()?,
                aggregate: self
                    .indices
                    .aggregate
                    .as_ref()
                    .map(|i| i.load(&mut store, &instance))
                    .transpose()?,
                handle: self
                    .indices
                    .handle
                    .as_ref()
                    .map(|i| i.load(&mut store, &instance))
                    .transpose()?,
                tick: self
                    .indices
                    .tick
                    .as_ref()
                    .map(|i| i.load(&mut store, &instance))
                    .transpose()?,
            };
            store.set_epoch_deadline(self.deadline_ticks);
            let init = lifecycle.call_init(&mut store, &self.init_config)?;
            Ok((exports, init))
        })?;
        match started {
            (exports, Ok(())) => Ok(Box::new(Live { store, exports })),
            (_, Err(message)) => Err(PluginError::Instantiate {
                plugin: self.name.to_string(),
                reason: format!("init returned an error: {message}"),
            }),
        }
    }

    /// Names what went wrong in a call: the deadline, or a trap with wasmtime's reason.
    fn failure(&self, error: &wasmtime::Error) -> PluginError {
        let plugin = self.name.to_string();
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginError::Timeout {
                plugin,
                timeout_ms: self.timeout_ms,
            };
        }
        let reason = error
            .chain()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(": ");
        PluginError::Trap { plugin, reason }
    }
}

/// The role's functions; routes are checked against the plugin's roles when built.
fn role<G>(exports: &Option<G>) -> &G {
    exports
        .as_ref()
        .expect("routes only call roles the plugin exports")
}

/// The representation of every handle the host lends: each instance holds at most one
/// request and one response at a time, in its store's slots.
const LENT: u32 = 0;

/// Lends the request to the instance for one call and takes it back, whatever happens.
fn with_request<R>(
    live: &mut Live,
    request: &mut RequestContext,
    f: impl FnOnce(&mut Live, Resource<RequestContext>) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    std::mem::swap(&mut live.store.data_mut().request, request);
    let result = f(live, Resource::new_borrow(LENT));
    std::mem::swap(&mut live.store.data_mut().request, request);
    result
}

/// Refuses imports the config does not grant, with the capability to add.
fn check_imports(
    runtime: &Runtime,
    component: &Component,
    config: &PluginConfig,
) -> Result<(), LoadError> {
    for (import, _) in component.component_type().imports(&runtime.engine) {
        if import.starts_with("wasi:") {
            continue;
        }
        match required_capability(import) {
            Ok(None) => {}
            Ok(Some(capability)) if config.capabilities.contains(&capability) => {}
            Ok(Some(capability)) => {
                return Err(LoadError::UngrantedImport {
                    plugin: config.name.clone(),
                    import: import.to_owned(),
                    capability: capability.interface().to_owned(),
                });
            }
            Err(()) => {
                return Err(LoadError::UnknownImport {
                    plugin: config.name.clone(),
                    import: import.to_owned(),
                });
            }
        }
    }
    Ok(())
}
