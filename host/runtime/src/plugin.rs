//! One loaded plugin and its role calls. A call checks an instance out of the pool (or
//! makes one), runs the role, validates what the guest returned, and checks the instance
//! back in only if nothing broke: an instance that trapped is dropped.

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use archway_config::PluginConfig;
use tokio::sync::Semaphore;
use wasmtime::Store;
use wasmtime::component::Resource;

use crate::bindings::types::Deny;
use crate::call_metrics::CallMetrics;
use crate::canary::{Canary, CanaryStatus};
use crate::head::{PluginSpan, RequestHead, ResponseHead};
use crate::host::HostState;
use crate::instance::Template;
use crate::link::link;
use crate::pool::Pool;
use crate::roles::{RoleExports, exported};
use crate::validate::{Checker, Denial, PluginResponse, RequestChanges, ResponseChanges};
use crate::{ComponentBytes, LoadError, PluginError, Principal, Role, Runtime};

/// The outcome of a plugin call: a decision of the plugin, or a failure of the call.
pub type CallResult<T> = Result<Result<T, Denial>, PluginError>;

/// A plugin ready to serve.
pub struct Plugin {
    name: Arc<str>,
    settings: PluginConfig,
    content_hash: [u8; 32],
    roles: Vec<Role>,
    template: Template,
    pool: Pool,
    /// One permit per call in flight, up to `max_concurrent_calls`.
    calls: Semaphore,
    metrics: CallMetrics,
    /// A new version taking part of the traffic.
    canary: Option<Box<Canary>>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish()
    }
}

/// The handle of what the host lends for a call: each instance holds at most one request
/// and one response at a time, in its store's slots, so every handle has the same
/// representation.
fn lent<T: 'static>() -> Resource<T> {
    Resource::new_borrow(0)
}

impl Plugin {
    /// Compiles, links and checks a component, then creates and initialises its first
    /// instance, so a plugin that loads is known to start.
    pub async fn load(
        runtime: &Runtime,
        settings: &PluginConfig,
        component: &ComponentBytes,
    ) -> Result<Self, LoadError> {
        let content_hash = component.hash();
        let component = runtime
            .compile(component.bytes(), content_hash)
            .await
            .map_err(|e| LoadError::Compile {
                plugin: settings.name.clone(),
                reason: format!("{e:#}"),
            })?;
        let pre = link(runtime, &component, settings)?;
        let template = Template::new(settings, pre, runtime.imports_for(settings))?;
        let first = template.instantiate().await.map_err(|e| LoadError::Init {
            plugin: settings.name.clone(),
            reason: e.to_string(),
        })?;
        let plugin = Self {
            name: Arc::from(settings.name.as_str()),
            settings: settings.clone(),
            content_hash,
            roles: template.roles(),
            metrics: CallMetrics::new(&settings.name, &template.roles()),
            template,
            pool: Pool::new(settings.instances, settings.max_idle_instances),
            calls: Semaphore::new(settings.max_concurrent_calls),
            canary: None,
        };
        plugin.pool.put(first);
        Ok(plugin)
    }

    /// This plugin with `version` as its canary, run as `settings.canary` says; its
    /// automatic rollback is reported to `runtime`'s listener.
    pub fn with_canary(mut self, runtime: &Runtime, version: Plugin) -> Self {
        if let Some(rules) = self.settings.canary.clone() {
            let canary = Canary::new(version, rules, runtime.canary_reports());
            self.canary = Some(Box::new(canary));
        }
        self
    }

    /// Its canary's progress, if it has one.
    pub fn canary(&self) -> Option<CanaryStatus> {
        self.canary.as_ref().map(|canary| canary.status())
    }

    /// The plugin's name from config.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The config entry it was loaded with.
    pub fn settings(&self) -> &PluginConfig {
        &self.settings
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
    pub async fn authenticate(&self, request: &mut RequestHead) -> CallResult<Option<Principal>> {
        let call = async |store: &mut Store<HostState>, exports: &RoleExports| {
            exported(&exports.authenticate)
                .call_authenticate(store, lent())
                .await
        };
        self.decide(
            Role::Authenticate,
            Some(request),
            None,
            call,
            |checker, principal| principal.map(|p| checker.principal(p)).transpose(),
        )
        .await
    }

    /// Asks the plugin whether the request may proceed.
    pub async fn authorize(&self, request: &mut RequestHead) -> CallResult<()> {
        let call = async |store: &mut Store<HostState>, exports: &RoleExports| {
            exported(&exports.authorize)
                .call_authorize(store, lent())
                .await
        };
        self.decide(Role::Authorize, Some(request), None, call, |_, ()| Ok(()))
            .await
    }

    /// Asks the plugin for changes to the request.
    pub async fn on_request(&self, request: &mut RequestHead) -> CallResult<RequestChanges> {
        let call = async |store: &mut Store<HostState>, exports: &RoleExports| {
            exported(&exports.transform)
                .call_on_request(store, lent())
                .await
        };
        self.decide(
            Role::Transform,
            Some(request),
            None,
            call,
            |checker, edit| checker.request_edit(edit),
        )
        .await
    }

    /// Asks the plugin for changes to the response.
    pub async fn on_response(
        &self,
        request: &mut RequestHead,
        response: &mut ResponseHead,
    ) -> CallResult<ResponseChanges> {
        let call = async |store: &mut Store<HostState>, exports: &RoleExports| {
            exported(&exports.transform)
                .call_on_response(store, lent(), lent())
                .await
        };
        self.decide(
            Role::Transform,
            Some(request),
            Some(response),
            call,
            |checker, edit| checker.response_edit(edit),
        )
        .await
    }

    /// Asks the plugin to answer the request itself (a handler or an aggregation).
    pub async fn handle(&self, request: &mut RequestHead) -> CallResult<PluginResponse> {
        let call = async |store: &mut Store<HostState>, exports: &RoleExports| {
            exported(&exports.handle).call_handle(store, lent()).await
        };
        self.decide(
            Role::Handle,
            Some(request),
            None,
            call,
            |checker, response| checker.response(response),
        )
        .await
    }

    /// Runs one round of the plugin's background work.
    pub async fn tick(&self, now_ms: u64) -> Result<Result<(), String>, PluginError> {
        self.call(Role::Tick, None, None, async |store, exports| {
            exported(&exports.tick).call_tick(store, now_ms).await
        })
        .await
    }

    /// Runs a role call and validates the plugin's answer: its deny, or its value
    /// through `check`.
    async fn decide<W, T>(
        &self,
        role: Role,
        request: Option<&mut RequestHead>,
        response: Option<&mut ResponseHead>,
        call: impl AsyncFnOnce(&mut Store<HostState>, &RoleExports) -> wasmtime::Result<Result<W, Deny>>,
        check: impl FnOnce(&Checker<'_>, W) -> Result<T, PluginError>,
    ) -> CallResult<T> {
        let checker = Checker { plugin: &self.name };
        self.call_checked(role, request, response, call, |outcome| match outcome {
            Ok(value) => Ok(Ok(check(&checker, value)?)),
            Err(deny) => Ok(Err(checker.deny(deny)?)),
        })
        .await
    }

    /// Runs `call` on a pooled (or fresh) instance with nothing to validate.
    async fn call<R>(
        &self,
        role: Role,
        request: Option<&mut RequestHead>,
        response: Option<&mut ResponseHead>,
        call: impl AsyncFnOnce(&mut Store<HostState>, &RoleExports) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.call_checked(role, request, response, call, Ok).await
    }

    /// Runs `call` on a pooled (or fresh) instance, once a call slot is free, and
    /// validates its output with `check`. A call that broke or returned an invalid value
    /// drops the instance, so it is never reused.
    async fn call_checked<R, T>(
        &self,
        role: Role,
        mut request: Option<&mut RequestHead>,
        response: Option<&mut ResponseHead>,
        call: impl AsyncFnOnce(&mut Store<HostState>, &RoleExports) -> wasmtime::Result<R>,
        check: impl FnOnce(R) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        if let Some(canary) = &self.canary
            && canary.chosen(request.as_deref())
        {
            let version = &canary.version;
            let outcome =
                Box::pin(version.call_checked(role, request, response, call, check)).await;
            canary.record(outcome.is_err());
            return outcome;
        }
        let _call = self
            .calls
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let started = Instant::now();
        let outcome = async {
            let mut live = match self.pool.take() {
                Some(live) => live,
                None => self.template.instantiate().await?,
            };
            match live.run(request.as_deref_mut(), response, call).await {
                Ok(value) => {
                    let checked = check(value)?;
                    self.pool.put(live);
                    Ok(checked)
                }
                Err(broken) => Err(self.template.failure(live.store(), broken)),
            }
        }
        .await;
        let duration = started.elapsed();
        self.metrics.record(role, duration, outcome.as_ref().err());
        if let Some(spans) = request.and_then(|head| head.spans.as_mut()) {
            spans.push(PluginSpan {
                plugin: self.name.clone(),
                role,
                started: SystemTime::now() - duration,
                duration,
                error: outcome.as_ref().err().map(ToString::to_string),
            });
        }
        outcome
    }
}
