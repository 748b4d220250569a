//! Gateway state kept in the store, shared by every node on it: routes and services
//! managed through the admin API, tenants, permissions and plugin records (API keys
//! live where `api-key-auth` reads them, see `keys`; revoked tokens in `archway_jwt`).
//! A write to anything that shapes routing bumps the config version and announces it on
//! the change feed, so every node rebuilds its snapshot.

use archway_config::{InstanceConfig, RouteConfig};
use archway_proxy::Managed;
use archway_store::{Change, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where gateway state lives in the store.
const PREFIX: &str = "archway:state/";

/// The most records of one kind a listing returns.
const MAX_RECORDS: usize = 10_000;

/// A kind of admin-managed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Routes ([`archway_config::RouteConfig`]).
    Route,
    /// Upstream services ([`archway_config::ServiceConfig`]).
    Service,
    /// Service instances registered through the admin API ([`InstanceRecord`]).
    Instance,
    /// Tenants.
    Tenant,
    /// Permission definitions.
    Permission,
    /// Roles and the permissions they grant ([`RoleRecord`]).
    Role,
    /// Plugin records.
    Plugin,
    /// Tenants' uploaded policy plugins, under `<tenant>:<plugin>`.
    TenantPlugin,
    /// Verdicts on plugins' canaries, under the plugin's name.
    Canary,
}

impl Kind {
    /// Its name: the store key segment and the change feed's topic.
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Self::Route => "routes",
            Self::Service => "services",
            Self::Instance => "instances",
            Self::Tenant => "tenants",
            Self::Permission => "permissions",
            Self::Role => "roles",
            Self::Plugin => "plugins",
            Self::TenantPlugin => "tenant-plugins",
            Self::Canary => "canaries",
        }
    }

    fn key(self, id: &str) -> String {
        format!("{PREFIX}{}/{id}", self.segment())
    }
}

/// Why a state operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record does not parse as its kind.
    #[error("stored {kind} record {key} is not valid: {reason}")]
    Corrupt {
        /// The record kind.
        kind: &'static str,
        /// Its store key.
        key: String,
        /// What the parser said.
        reason: String,
    },
    /// An id that cannot name a record.
    #[error("{kind} id {id:?} must be 1-128 characters without '/'")]
    BadId {
        /// The record kind.
        kind: &'static str,
        /// The id given.
        id: String,
    },
}

/// A route created through the admin API, with its history; a deleted one stays, marked.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct RouteRecord {
    /// The route.
    pub route: RouteConfig,
    /// When it was created (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub created_at: String,
    /// When it was last changed.
    pub updated_at: Option<String>,
    /// When it was deleted: it no longer matches requests.
    pub deleted_at: Option<String>,
}

impl RouteRecord {
    /// A route created now.
    pub fn new(route: RouteConfig) -> Self {
        Self {
            route,
            created_at: archway_proxy::timestamp::now(),
            updated_at: None,
            deleted_at: None,
        }
    }
}

/// A service instance registered through the admin API, under its `instance_id`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct InstanceRecord {
    /// The record's own id (a UUID).
    pub id: String,
    /// The service it serves.
    pub service_name: String,
    /// Where it is and how it is balanced and checked.
    pub instance: InstanceConfig,
    /// When it was registered.
    pub registered_at: String,
    /// When it was last changed.
    pub updated_at: Option<String>,
}

/// An entry of the permission catalogue, under its `permission_code`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PermissionRecord {
    /// The record's id.
    pub id: String,
    /// The code routes require and roles grant (`user.read`).
    pub permission_code: String,
    /// A display name.
    pub permission_name: String,
    /// What it allows.
    pub description: Option<String>,
    /// The kind of resource it is about.
    pub resource_type: Option<String>,
    /// The actions it allows.
    pub actions: Vec<String>,
    /// A system permission cannot be deleted.
    pub is_system: bool,
    /// When it was created.
    pub created_at: String,
}

/// A role managed in the store, under its name (the record's id, as principals carry
/// it): the permissions it grants, added to those the file's `[roles]` gives a role of
/// the same name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRecord {
    /// The permissions it grants.
    pub permissions: Vec<String>,
}

/// Typed access to gateway state in a store.
#[derive(Clone, Debug)]
pub struct GatewayState {
    store: Store,
}

impl GatewayState {
    /// State in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates or replaces a record, then announces the change to every node.
    pub async fn put<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        record: &T,
    ) -> Result<Change, StateError> {
        check_id(kind, id)?;
        let json = serde_json::to_vec(record).expect("records serialise to JSON");
        self.store.set(&kind.key(id), &json, None).await?;
        Ok(self.store.publish_config_change(kind.segment()).await?)
    }

    /// Creates a record unless one with its id exists (then `false`), and announces it.
    pub async fn create<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        record: &T,
    ) -> Result<bool, StateError> {
        check_id(kind, id)?;
        let json = serde_json::to_vec(record).expect("records serialise to JSON");
        if !self
            .store
            .compare_and_swap(&kind.key(id), None, Some(&json))
            .await?
        {
            return Ok(false);
        }
        self.store.publish_config_change(kind.segment()).await?;
        Ok(true)
    }

    /// One record by id.
    pub async fn get<T: DeserializeOwned>(
        &self,
        kind: Kind,
        id: &str,
    ) -> Result<Option<T>, StateError> {
        check_id(kind, id)?;
        let key = kind.key(id);
        let Some(json) = self.store.get(&key).await? else {
            return Ok(None);
        };
        parse(kind, key, &json).map(Some)
    }

    /// Deletes a record (announcing it when it existed); whether it existed.
    pub async fn delete(&self, kind: Kind, id: &str) -> Result<bool, StateError> {
        check_id(kind, id)?;
        let existed = self.store.delete(&kind.key(id)).await?;
        if existed {
            self.store.publish_config_change(kind.segment()).await?;
        }
        Ok(existed)
    }

    /// Every record of a kind, in id order.
    pub async fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<T>, StateError> {
        let entries = self.entries(kind).await?;
        Ok(entries.into_iter().map(|(_, record)| record).collect())
    }

    /// Every record of a kind with its id, in id order. A record that does not parse is
    /// left out and logged, so one bad record never hides the others.
    pub async fn entries<T: DeserializeOwned>(
        &self,
        kind: Kind,
    ) -> Result<Vec<(String, T)>, StateError> {
        let prefix = kind.key("");
        let stored = self.store.scan_prefix(&prefix, MAX_RECORDS).await?;
        Ok(stored
            .into_iter()
            .filter_map(|(key, json)| {
                let id = key.strip_prefix(&prefix).unwrap_or(&key).to_owned();
                match parse(kind, key, &json) {
                    Ok(record) => Some((id, record)),
                    Err(error) => {
                        tracing::error!(target: "archway.state", %error, "skipped a stored record");
                        None
                    }
                }
            })
            .collect())
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The admin-managed services, routes and roles, for building the routing snapshot.
    pub async fn managed(&self) -> Result<Managed, StateError> {
        let roles: Vec<(String, RoleRecord)> = self.entries(Kind::Role).await?;
        let routes: Vec<RouteRecord> = self.list(Kind::Route).await?;
        let instances: Vec<InstanceRecord> = self.list(Kind::Instance).await?;
        Ok(Managed {
            services: self.list(Kind::Service).await?,
            instances: instances
                .into_iter()
                .map(|record| (record.service_name, record.instance))
                .collect(),
            routes: routes
                .into_iter()
                .filter(|record| record.deleted_at.is_none())
                .map(|record| record.route)
                .collect(),
            roles: roles
                .into_iter()
                .map(|(name, role)| (name, role.permissions))
                .collect(),
        })
    }
}

fn parse<T: DeserializeOwned>(kind: Kind, key: String, json: &[u8]) -> Result<T, StateError> {
    serde_json::from_slice(json).map_err(|e| StateError::Corrupt {
        kind: kind.segment(),
        key,
        reason: e.to_string(),
    })
}

fn check_id(kind: Kind, id: &str) -> Result<(), StateError> {
    if id.is_empty() || id.len() > 128 || id.contains('/') {
        return Err(StateError::BadId {
            kind: kind.segment(),
            id: id.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use archway_config::ServiceConfig;
    use archway_store::{FeedEvent, StoreConfig};

    use super::*;

    async fn state() -> (GatewayState, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&StoreConfig::Embedded {
            path: dir.path().join("state.redb"),
        })
        .await
        .expect("store opens");
        (GatewayState::new(store.clone()), store, dir)
    }

    fn service(name: &str) -> ServiceConfig {
        ServiceConfig {
            name: name.to_owned(),
            url: Some("http://127.0.0.1:9000".to_owned()),
            ..ServiceConfig::default()
        }
    }

    #[tokio::test]
    async fn writes_are_listed_and_announced() {
        let (state, store, _dir) = state().await;
        let mut feed = store.subscribe();
        state
            .put(Kind::Service, "b", &service("b"))
            .await
            .expect("put");
        state
            .put(Kind::Service, "a", &service("a"))
            .await
            .expect("put");
        let listed: Vec<ServiceConfig> = state.list(Kind::Service).await.expect("list");
        assert_eq!(listed, [service("a"), service("b")]);
        assert!(matches!(feed.recv().await, Some(FeedEvent::Change(c)) if c.topic == "services"));

        assert!(state.delete(Kind::Service, "a").await.expect("delete"));
        assert!(!state.delete(Kind::Service, "a").await.expect("delete"));
        assert_eq!(
            state.managed().await.expect("managed").services,
            [service("b")]
        );
    }

    #[tokio::test]
    async fn ids_that_cannot_name_a_record_are_refused() {
        let (state, _store, _dir) = state().await;
        let bad = state
            .put(Kind::Route, "a/b", &())
            .await
            .expect_err("bad id");
        assert!(bad.to_string().contains("a/b"), "{bad}");
    }
}
