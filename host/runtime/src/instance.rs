//! Live instances of one plugin: how one is made (instantiate, load its roles, run
//! `init`) and how one call runs on it (the request lent, the CPU budget metered, a
//! failure named).

use std::sync::Arc;
use std::time::Duration;

use archway_config::PluginConfig;
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

use crate::bindings::lifecycle;
use crate::deadline::{Meter, Panicked};
use crate::head::{RequestHead, ResponseHead};
use crate::host::{HostImports, HostState};
use crate::roles::{RoleExports, RoleIndices};
use crate::{LoadError, PluginError, Role};

/// A live, initialised instance.
pub(crate) struct Live {
    store: Store<HostState>,
    exports: RoleExports,
    meter: Arc<Meter>,
}

/// Why a call on a live instance broke.
pub(crate) enum Broken {
    /// The guest trapped, ran out of budget or memory, or the host refused a value.
    Error(wasmtime::Error),
    /// The host panicked under the call.
    Panicked,
}

impl From<Panicked> for Broken {
    fn from(Panicked: Panicked) -> Self {
        Self::Panicked
    }
}

/// What every instance of one plugin is made from.
pub(crate) struct Template {
    name: Arc<str>,
    pre: InstancePre<HostState>,
    lifecycle: Option<lifecycle::GuestIndices>,
    roles: RoleIndices,
    init_config: String,
    timeout_ms: u64,
    memory_bytes: usize,
    imports: HostImports,
}

impl Template {
    /// Reads the component's exports. A component that exports no role and no
    /// `lifecycle` is not a plugin; one without `lifecycle` gets no `init` call and so no
    /// config (components built from a role world by any toolchain load as they are).
    pub(crate) fn new(
        settings: &PluginConfig,
        pre: InstancePre<HostState>,
        imports: HostImports,
    ) -> Result<Self, LoadError> {
        let lifecycle = lifecycle::GuestIndices::new(&pre).ok();
        let roles = RoleIndices::new(&pre);
        if lifecycle.is_none() && roles.roles().is_empty() {
            return Err(LoadError::NotAPlugin {
                plugin: settings.name.clone(),
            });
        }
        if lifecycle.is_none() && !settings.config.is_empty() {
            return Err(LoadError::ConfigWithoutInit {
                plugin: settings.name.clone(),
            });
        }
        Ok(Self {
            name: Arc::from(settings.name.as_str()),
            pre,
            lifecycle,
            roles,
            init_config: serde_json::to_string(&settings.config)
                .expect("TOML values always serialise to JSON"),
            timeout_ms: settings.timeout_ms,
            memory_bytes: usize::try_from(settings.memory_mb * 1024 * 1024).unwrap_or(usize::MAX),
            imports,
        })
    }

    /// The roles the component exports.
    pub(crate) fn roles(&self) -> Vec<Role> {
        self.roles.roles()
    }

    /// A fresh instance with its roles loaded and `init` run, under the call budget.
    pub(crate) async fn instantiate(&self) -> Result<Box<Live>, PluginError> {
        let meter = Arc::new(Meter::new(Duration::from_millis(self.timeout_ms)));
        let mut store = Store::new(
            self.pre.engine(),
            HostState::new(self.name.clone(), self.memory_bytes, self.imports.clone()),
        );
        store.limiter(|state| &mut state.memory);
        let on_epoch = meter.clone();
        store.epoch_deadline_callback(move |_| Ok(on_epoch.on_epoch()));
        store.set_epoch_deadline(1);
        let started = meter
            .run(async {
                let instance = self.pre.instantiate_async(&mut store).await?;
                let exports = self.roles.load(&mut store, &instance)?;
                let init = match &self.lifecycle {
                    Some(indices) => {
                        let lifecycle = indices.load(&mut store, &instance)?;
                        lifecycle.call_init(&mut store, &self.init_config).await?
                    }
                    None => Ok(()),
                };
                Ok::<_, wasmtime::Error>((exports, init))
            })
            .await
            .map_err(Broken::from)
            .and_then(|started| started.map_err(Broken::Error))
            .map_err(|broken| self.failure(&store, broken))?;
        match started {
            (exports, Ok(())) => Ok(Box::new(Live {
                store,
                exports,
                meter,
            })),
            (_, Err(message)) => Err(PluginError::Instantiate {
                plugin: self.name.to_string(),
                reason: format!("init returned an error: {message}"),
            }),
        }
    }

    /// Names what went wrong in a call: the deadline, the memory cap, a host panic, or
    /// a trap with wasmtime's reason.
    pub(crate) fn failure(&self, store: &Store<HostState>, broken: Broken) -> PluginError {
        let plugin = self.name.to_string();
        let error = match broken {
            Broken::Panicked => {
                return PluginError::Trap {
                    plugin,
                    reason: "the host failed while serving the call".to_owned(),
                };
            }
            Broken::Error(error) => error,
        };
        if store.data().memory.exceeded {
            return PluginError::MemoryLimit {
                plugin,
                memory_mb: (self.memory_bytes / (1024 * 1024)) as u64,
            };
        }
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

impl Live {
    /// Runs one guest call: lends the request (and response) for its length, gives it a
    /// fresh CPU budget, and takes them back when the call ends, whether it worked or
    /// broke. A call dropped midway (its route's timeout) drops the instance together
    /// with what it was lent.
    pub(crate) async fn run<R>(
        &mut self,
        mut request: Option<&mut RequestHead>,
        mut response: Option<&mut ResponseHead>,
        call: impl AsyncFnOnce(&mut Store<HostState>, &RoleExports) -> wasmtime::Result<R>,
    ) -> Result<R, Broken> {
        self.lend(request.as_deref_mut(), response.as_deref_mut());
        self.store.set_epoch_deadline(1);
        let outcome = self.meter.run(call(&mut self.store, &self.exports)).await;
        self.lend(request, response);
        outcome?.map_err(Broken::Error)
    }

    /// Swaps the request and response into the store's slots (or back out): lending
    /// costs no allocation.
    fn lend(&mut self, request: Option<&mut RequestHead>, response: Option<&mut ResponseHead>) {
        let state = self.store.data_mut();
        if let Some(request) = request {
            std::mem::swap(&mut state.request, request);
        }
        if let Some(response) = response {
            std::mem::swap(&mut state.response, response);
        }
    }

    /// The instance's store, to name a failure.
    pub(crate) fn store(&self) -> &Store<HostState> {
        &self.store
    }
}
