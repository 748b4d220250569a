//! The gateway's side of the `admin` import: the routes, service instances, permissions,
//! roles, tenants, API keys, revoked tokens and plugins that privileged plugins (the `admin` plugin) read
//! and change. Every write is checked field by field and against the config serving now
//! before it is stored, so what the store holds always fits; the change feed then makes
//! it live on every node, and the audit log records who changed what.

mod api_keys;
mod audit;
mod input;
mod instances;
mod permissions;
mod plugins;
mod roles;
mod routes;
mod tenant_plugins;
mod tenants;
mod tokens;

use std::sync::{Arc, OnceLock, Weak};

use archway_proxy::Snapshot;
use archway_runtime::{AdminCall, AdminError, AdminFuture, AdminState, Caller};
use serde_json::Value;

use crate::reload::Reloader;
use crate::state::{GatewayState, StateError};
use crate::sync::Routing;

/// The admin state of one gateway process.
#[derive(Clone)]
pub(crate) struct AdminApi {
    state: GatewayState,
    /// Weak: the routing's snapshot holds the plugins that hold this.
    routing: Arc<OnceLock<Weak<Routing>>>,
    /// Weak, likewise: the reloader holds the runtime that holds this.
    reloader: Arc<OnceLock<Weak<Reloader>>>,
}

impl AdminApi {
    /// Admin state kept in `state`; calls wait for [`AdminApi::serve`].
    pub(crate) fn new(state: GatewayState) -> Self {
        Self {
            state,
            routing: Arc::default(),
            reloader: Arc::default(),
        }
    }

    /// Starts answering calls, checking writes against what `routing` serves and
    /// reloading files through `reloader`.
    pub(crate) fn serve(&self, routing: &Arc<Routing>, reloader: &Arc<Reloader>) {
        let _ = self.routing.set(Arc::downgrade(routing));
        let _ = self.reloader.set(Arc::downgrade(reloader));
    }

    /// The reloader of this gateway.
    fn reloader(&self) -> Result<Arc<Reloader>, AdminError> {
        self.reloader
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| AdminError::Unavailable("the gateway is not serving".to_owned()))
    }

    /// The snapshot serving now.
    fn serving(&self) -> Result<Arc<Snapshot>, AdminError> {
        match self.routing.get() {
            None => Err(AdminError::Unavailable(
                "the gateway is still starting".to_owned(),
            )),
            Some(routing) => routing
                .upgrade()
                .map(|routing| routing.current())
                .ok_or_else(|| AdminError::Unavailable("the gateway is stopping".to_owned())),
        }
    }

    /// Runs `call`; a change that succeeds is written to the audit log.
    async fn run(self, call: AdminCall, caller: Caller) -> Result<Value, AdminError> {
        match call {
            AdminCall::Get { collection, id } => self.get(&collection, &id).await,
            AdminCall::List { collection, query } => {
                self.list(&collection, &input::Query::parse(&query)).await
            }
            AdminCall::Put {
                collection,
                id,
                body,
            } => {
                let before = match &id {
                    Some(id) => self.get(&collection, id).await.ok(),
                    None => None,
                };
                let action = if before.is_some() { "update" } else { "create" };
                let change = self.put(&collection, id.as_deref(), &body);
                self.audited(&caller, action, &collection, before, change)
                    .await
            }
            AdminCall::Delete { collection, id } => {
                let before = self.get(&collection, &id).await.ok();
                let change = self.delete(&collection, &id);
                self.audited(&caller, "delete", &collection, before, change)
                    .await
            }
            AdminCall::UploadTenantPlugin {
                tenant,
                plugin,
                options,
                component,
            } => {
                let id = format!("{tenant}/{plugin}");
                let before = tenant_plugins::get(&self, &id).await.ok();
                let by = caller.subject.clone();
                let change =
                    tenant_plugins::upload(&self, &tenant, &plugin, &options, component, by);
                self.audited(&caller, "upload", "tenant-plugins", before, change)
                    .await
            }
            AdminCall::Upload { plugin, component } => {
                let before = plugins::get(&self, &plugin).await.ok();
                let change = plugins::upload(&self, &plugin, component, caller.subject.clone());
                self.audited(&caller, "upload", "plugins", before, change)
                    .await
            }
        }
    }

    /// Makes `change` to an item of `collection` that was `before`, and writes it to the
    /// audit log when it succeeds.
    async fn audited(
        &self,
        caller: &Caller,
        action: &'static str,
        collection: &str,
        before: Option<Value>,
        change: impl Future<Output = Result<Value, AdminError>>,
    ) -> Result<Value, AdminError> {
        let after = change.await?;
        let change = audit::Change {
            action,
            collection,
            before: before.as_ref(),
            after: &after,
        };
        audit::record(self, caller, change).await;
        Ok(after)
    }

    async fn get(&self, collection: &str, id: &str) -> Result<Value, AdminError> {
        match collection {
            "routes" => routes::get(self, id).await,
            "services" => instances::get(self, id).await,
            "permissions" => permissions::get(self, id).await,
            "roles" => roles::get(self, id).await,
            "plugins" => plugins::get(self, id).await,
            "api-keys" => api_keys::get(self, id).await,
            "tenants" => tenants::get(self, id).await,
            "tenant-plugins" => tenant_plugins::get(self, id).await,
            "canaries" => plugins::get(self, id).await,
            other => Err(unknown(other)),
        }
    }

    async fn list(&self, collection: &str, query: &input::Query) -> Result<Value, AdminError> {
        match collection {
            "routes" => routes::list(self, query).await,
            "services" => instances::list(self, query).await,
            "permissions" => permissions::list(self, query).await,
            "roles" => roles::list(self, query).await,
            "plugins" => plugins::list(self, query).await,
            "api-keys" => api_keys::list(self, query).await,
            "audit" => audit::list(self, query).await,
            "tenants" => tenants::list(self, query).await,
            "tenant-plugins" => tenant_plugins::list(self, query).await,
            other => Err(unknown(other)),
        }
    }

    async fn put(
        &self,
        collection: &str,
        id: Option<&str>,
        body: &str,
    ) -> Result<Value, AdminError> {
        let body = input::object(body)?;
        match (collection, id) {
            ("routes", None) => routes::create(self, body).await,
            ("routes", Some(id)) => routes::update(self, id, body).await,
            ("services", None) => instances::register(self, body).await,
            ("services", Some(id)) => instances::update(self, id, body).await,
            ("permissions", None) => permissions::create(self, body).await,
            ("permissions", Some(_)) => Err(AdminError::Conflict(
                "permissions cannot be changed: delete and create again".to_owned(),
            )),
            ("roles", id) => roles::put(self, id, body).await,
            ("api-keys", None) => api_keys::create(self, body).await,
            ("api-keys", Some(_)) => Err(AdminError::Conflict(
                "API keys cannot be changed: revoke the key and create another".to_owned(),
            )),
            ("tenants", None) => tenants::create(self, body).await,
            ("tenants", Some(id)) => tenants::update(self, id, body).await,
            ("revoked-tokens", None) => tokens::revoke(self, body).await,
            ("reloads", None) => plugins::reload(self).await,
            ("canaries", Some(id)) => plugins::decide_canary(self, id, body).await,
            (other, _) => Err(unknown(other)),
        }
    }

    async fn delete(&self, collection: &str, id: &str) -> Result<Value, AdminError> {
        match collection {
            "routes" => routes::delete(self, id).await,
            "services" => instances::deregister(self, id).await,
            "permissions" => permissions::delete(self, id).await,
            "roles" => roles::delete(self, id).await,
            "api-keys" => api_keys::revoke(self, id).await,
            "plugins" => plugins::remove_upload(self, id).await,
            "tenants" => tenants::delete(self, id).await,
            "tenant-plugins" => tenant_plugins::remove(self, id).await,
            other => Err(unknown(other)),
        }
    }
}

impl AdminState for AdminApi {
    fn call(&self, call: AdminCall, caller: Caller) -> AdminFuture {
        let api = self.clone();
        Box::pin(async move { api.run(call, caller).await.map(|value| value.to_string()) })
    }
}

fn unknown(collection: &str) -> AdminError {
    AdminError::NotFound(format!("no collection named {collection:?}"))
}

/// How the plugin hears of a state failure: an id that cannot exist is not found; the
/// store failing is unavailable, without the store's details.
impl From<StateError> for AdminError {
    fn from(error: StateError) -> Self {
        match error {
            StateError::BadId { kind, id } => Self::NotFound(format!("no {kind} item {id:?}")),
            other => store_unavailable(&other),
        }
    }
}

/// The store failed: the plugin hears only that (never the store's address or error
/// text), the log gets the details.
fn store_unavailable(error: &dyn std::fmt::Display) -> AdminError {
    tracing::error!(target: "archway.admin", error = %error, "the admin state's store failed");
    AdminError::Unavailable("the store cannot be reached".to_owned())
}

/// A page of items as the `admin` import's `list` answers it.
fn page(total: usize, items: Vec<Value>) -> Value {
    serde_json::json!({ "total": total, "items": items })
}

/// Not found, naming what.
fn not_found(what: &str, id: &str) -> AdminError {
    AdminError::NotFound(format!("no {what} with id {id:?}"))
}
