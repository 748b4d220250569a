//! The gateway's own state, for privileged plugins granted `admin` (the admin API plugin):
//! host calls on wasm; in native tests, answers the test scripts with [`fake::answer`].
//!
//! ```
//! use archway_sdk::admin::{self, AdminError};
//!
//! admin::fake::answer(|call| match call {
//!     admin::Call::Get { collection, id } => Err(AdminError::NotFound(format!("{collection}/{id}"))),
//!     _ => Ok("{}".to_owned()),
//! });
//! assert!(matches!(admin::get("routes", "r1"), Err(AdminError::NotFound(_))));
//! ```

pub use crate::bindings::capabilities::archway::plugin::admin::{AdminError, FieldError};

/// One admin operation, as the native fake sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// [`get`].
    Get {
        /// The collection.
        collection: String,
        /// The item's id.
        id: String,
    },
    /// [`list`].
    List {
        /// The collection.
        collection: String,
        /// The query string.
        query: String,
    },
    /// [`put`].
    Put {
        /// The collection.
        collection: String,
        /// The item's id when it is changed.
        id: Option<String>,
        /// The item as JSON.
        body: String,
    },
    /// [`delete`].
    Delete {
        /// The collection.
        collection: String,
        /// The item's id.
        id: String,
    },
    /// [`upload`].
    Upload {
        /// The plugin's name.
        plugin: String,
        /// Its component's bytes.
        component: Vec<u8>,
    },
    /// [`upload_tenant_plugin`].
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

/// One item of a collection (`routes`, `services`, `permissions`) as JSON.
pub fn get(collection: &str, id: &str) -> Result<String, AdminError> {
    imp::call(Call::Get {
        collection: collection.to_owned(),
        id: id.to_owned(),
    })
}

/// A page of a collection as `{"total": n, "items": [...]}`; `query` holds filters,
/// `page` and `size`.
pub fn list(collection: &str, query: &str) -> Result<String, AdminError> {
    imp::call(Call::List {
        collection: collection.to_owned(),
        query: query.to_owned(),
    })
}

/// Creates an item (`id` none) or changes the fields `body` names; the stored item.
pub fn put(collection: &str, id: Option<&str>, body: &str) -> Result<String, AdminError> {
    imp::call(Call::Put {
        collection: collection.to_owned(),
        id: id.map(str::to_owned),
        body: body.to_owned(),
    })
}

/// Deletes an item (routes are soft-deleted); the deleted item.
pub fn delete(collection: &str, id: &str) -> Result<String, AdminError> {
    imp::call(Call::Delete {
        collection: collection.to_owned(),
        id: id.to_owned(),
    })
}

/// Uploads a new version of `plugin` (configured with `uploads = true`); the plugin's
/// item. A component that would not serve is refused as `invalid` (field `component`).
pub fn upload(plugin: &str, component: &[u8]) -> Result<String, AdminError> {
    imp::call(Call::Upload {
        plugin: plugin.to_owned(),
        component: component.to_owned(),
    })
}

/// Uploads policy plugin `plugin` of `tenant`; `options` is a JSON object with
/// `read_body` and `config`. The plugin's item (collection `tenant-plugins`); a component
/// that would not serve is refused as `invalid` (field `component`).
pub fn upload_tenant_plugin(
    tenant: &str,
    plugin: &str,
    options: &str,
    component: &[u8],
) -> Result<String, AdminError> {
    imp::call(Call::UploadTenantPlugin {
        tenant: tenant.to_owned(),
        plugin: plugin.to_owned(),
        options: options.to_owned(),
        component: component.to_owned(),
    })
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{AdminError, Call};
    use crate::bindings::capabilities::archway::plugin::admin;

    pub(super) fn call(call: Call) -> Result<String, AdminError> {
        match call {
            Call::Get { collection, id } => admin::get(&collection, &id),
            Call::List { collection, query } => admin::list(&collection, &query),
            Call::Put {
                collection,
                id,
                body,
            } => admin::put(&collection, id.as_deref(), &body),
            Call::Delete { collection, id } => admin::delete(&collection, &id),
            Call::Upload { plugin, component } => admin::upload(&plugin, &component),
            Call::UploadTenantPlugin {
                tenant,
                plugin,
                options,
                component,
            } => admin::upload_tenant_plugin(&tenant, &plugin, &options, &component),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{AdminError, Call, fake};

    pub(super) fn call(call: Call) -> Result<String, AdminError> {
        fake::call(call)
    }
}

/// The native stand-in for the gateway's state, per test thread.
#[cfg(not(target_arch = "wasm32"))]
pub mod fake {
    use std::cell::RefCell;

    use super::{AdminError, Call};

    type Answer = Box<dyn Fn(&Call) -> Result<String, AdminError>>;

    thread_local! {
        static ANSWER: RefCell<Option<Answer>> = RefCell::default();
    }

    /// Answers every admin call on this thread with `answer`; without one, calls fail
    /// with `unavailable`.
    pub fn answer(answer: impl Fn(&Call) -> Result<String, AdminError> + 'static) {
        ANSWER.with(|slot| *slot.borrow_mut() = Some(Box::new(answer)));
    }

    pub(super) fn call(call: Call) -> Result<String, AdminError> {
        ANSWER.with(|slot| match &*slot.borrow() {
            Some(answer) => answer(&call),
            None => Err(AdminError::Unavailable(
                "no admin fake on this thread".to_owned(),
            )),
        })
    }
}
