//! The `admin` import: privileged plugins read and change the gateway's own state. The
//! state lives in the gateway crate, which the runtime cannot depend on, so the gateway
//! implements [`AdminState`] and the runtime only checks the grant and bounds the wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::Instant;

use crate::bindings::admin::{self, AdminError as WitAdminError, FieldError};
use crate::host::HostState;

/// One operation on a collection of gateway state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminCall {
    /// One item by id.
    Get {
        /// The collection (`routes`, `services`, `permissions`).
        collection: String,
        /// The item's id.
        id: String,
    },
    /// A filtered page of items.
    List {
        /// The collection.
        collection: String,
        /// A URL query string with filters, `page` and `size`.
        query: String,
    },
    /// Creates (no id) or replaces an item.
    Put {
        /// The collection.
        collection: String,
        /// The item's id, when it is replaced.
        id: Option<String>,
        /// The item as a JSON object.
        body: String,
    },
    /// Deletes an item.
    Delete {
        /// The collection.
        collection: String,
        /// The item's id.
        id: String,
    },
    /// Uploads a new version of a plugin.
    Upload {
        /// The plugin's name.
        plugin: String,
        /// Its component's bytes.
        component: Vec<u8>,
    },
    /// Uploads a tenant's policy plugin.
    UploadTenantPlugin {
        /// The tenant.
        tenant: String,
        /// The plugin's name within the tenant.
        plugin: String,
        /// `read_body` and `config`, as a JSON object.
        options: String,
        /// Its component's bytes.
        component: Vec<u8>,
    },
}

/// Who asks for an admin operation: the plugin, and the principal of the request it
/// serves (none outside a request); what the audit log records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The plugin's name.
    pub plugin: String,
    /// The request's principal's subject.
    pub subject: Option<String>,
}

/// Why an admin operation failed, as the plugin is told.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdminError {
    /// No item with that id.
    #[error("{0}")]
    NotFound(String),
    /// A field of the item is not valid.
    #[error("{field}: {message}")]
    Invalid {
        /// The field's name.
        field: String,
        /// What is wrong with its value.
        message: String,
    },
    /// The change conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// The state cannot be reached now.
    #[error("{0}")]
    Unavailable(String),
}

impl AdminError {
    /// A validation failure of `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The future of one admin operation: the item (or page) as JSON.
pub type AdminFuture = Pin<Box<dyn Future<Output = Result<String, AdminError>> + Send>>;

/// The gateway's state as privileged plugins see it; the gateway implements it.
pub trait AdminState: Send + Sync + 'static {
    /// Runs one operation for `caller`.
    fn call(&self, call: AdminCall, caller: Caller) -> AdminFuture;
}

/// Runs `call` through the granted state, before `deadline` (what is left of the route's
/// time) when there is one.
async fn run(
    grant: Option<AdminGrant>,
    deadline: Option<Instant>,
    call: AdminCall,
    caller: Caller,
) -> Result<String, WitAdminError> {
    let Some(state) = grant else {
        return Err(WitAdminError::Unavailable(
            "this gateway process offers no admin state".to_owned(),
        ));
    };
    let outcome = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, state.call(call, caller))
            .await
            .unwrap_or_else(|_| {
                Err(AdminError::Unavailable(
                    "the request's time ran out".to_owned(),
                ))
            }),
        None => state.call(call, caller).await,
    };
    outcome.map_err(|error| match error {
        AdminError::NotFound(why) => WitAdminError::NotFound(why),
        AdminError::Invalid { field, message } => {
            WitAdminError::Invalid(FieldError { field, message })
        }
        AdminError::Conflict(why) => WitAdminError::Conflict(why),
        AdminError::Unavailable(why) => WitAdminError::Unavailable(why),
    })
}

impl HostState {
    /// Runs `call` with this instance's grant and deadline, for the request's principal.
    fn admin(
        &self,
        call: AdminCall,
    ) -> impl Future<Output = Result<String, WitAdminError>> + use<> {
        let caller = Caller {
            plugin: self.plugin.to_string(),
            subject: self.request.principal.as_ref().map(|p| p.subject.clone()),
        };
        run(self.admin.clone(), self.request.deadline, call, caller)
    }
}

impl admin::Host for HostState {
    async fn get(&mut self, collection: String, id: String) -> Result<String, WitAdminError> {
        self.admin(AdminCall::Get { collection, id }).await
    }

    async fn list(&mut self, collection: String, query: String) -> Result<String, WitAdminError> {
        self.admin(AdminCall::List { collection, query }).await
    }

    async fn put(
        &mut self,
        collection: String,
        id: Option<String>,
        body: String,
    ) -> Result<String, WitAdminError> {
        self.admin(AdminCall::Put {
            collection,
            id,
            body,
        })
        .await
    }

    async fn delete(&mut self, collection: String, id: String) -> Result<String, WitAdminError> {
        self.admin(AdminCall::Delete { collection, id }).await
    }

    async fn upload(
        &mut self,
        plugin: String,
        component: Vec<u8>,
    ) -> Result<String, WitAdminError> {
        self.admin(AdminCall::Upload { plugin, component }).await
    }

    async fn upload_tenant_plugin(
        &mut self,
        tenant: String,
        plugin: String,
        options: String,
        component: Vec<u8>,
    ) -> Result<String, WitAdminError> {
        self.admin(AdminCall::UploadTenantPlugin {
            tenant,
            plugin,
            options,
            component,
        })
        .await
    }
}

/// The state behind a plugin granted `admin`.
pub(crate) type AdminGrant = Arc<dyn AdminState>;
