//! Gateway state kept in the store, shared by every node on it: routes and services
//! managed through the admin API, tenants, permissions and plugin records, API keys
//! (stored only as hashes) and the token revocation list. A write to anything that
//! shapes routing bumps the config version and announces it on the change feed, so
//! every node rebuilds its snapshot.

use std::time::Duration;

use archway_proxy::Managed;
use archway_runtime::Runtime;
use archway_store::{Change, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::status::hex;

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
    /// Tenants.
    Tenant,
    /// Permission definitions.
    Permission,
    /// Plugin records.
    Plugin,
}

impl Kind {
    fn segment(self) -> &'static str {
        match self {
            Self::Route => "routes",
            Self::Service => "services",
            Self::Tenant => "tenants",
            Self::Permission => "permissions",
            Self::Plugin => "plugins",
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

/// What an API key stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ApiKeyRecord {
    /// The principal the key authenticates as.
    pub subject: String,
    /// The principal's tenant.
    pub tenant: Option<String>,
    /// The permissions granted.
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
        let stored = self.store.scan_prefix(&kind.key(""), MAX_RECORDS).await?;
        stored
            .into_iter()
            .map(|(key, json)| {
                serde_json::from_slice(&json).map_err(|e| StateError::Corrupt {
                    kind: kind.segment(),
                    key,
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The admin-managed services and routes, for building the routing snapshot.
    pub async fn managed(&self) -> Result<Managed, StateError> {
        Ok(Managed {
            services: self.list(Kind::Service).await?,
            routes: self.list(Kind::Route).await?,
        })
    }

    /// Stores an API key under its SHA-256 hash; the key itself is never stored.
    pub async fn put_api_key(&self, key: &str, record: &ApiKeyRecord) -> Result<(), StateError> {
        let json = serde_json::to_vec(record).expect("records serialise to JSON");
        Ok(self.store.set(&api_key_slot(key), &json, None).await?)
    }

    /// What an API key stands for, if it is known.
    pub async fn api_key(&self, key: &str) -> Result<Option<ApiKeyRecord>, StateError> {
        let slot = api_key_slot(key);
        let Some(json) = self.store.get(&slot).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                kind: "api key",
                key: slot,
                reason: e.to_string(),
            })
    }

    /// Revokes a token id until it would have expired anyway.
    pub async fn revoke(&self, token_id: &str, for_at_most: Duration) -> Result<(), StateError> {
        Ok(self
            .store
            .set(&revocation_slot(token_id), b"1", Some(for_at_most))
            .await?)
    }

    /// Whether a token id is revoked.
    pub async fn is_revoked(&self, token_id: &str) -> Result<bool, StateError> {
        Ok(self.store.get(&revocation_slot(token_id)).await?.is_some())
    }
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

fn api_key_slot(key: &str) -> String {
    hashed_slot("api-keys", key)
}

fn revocation_slot(token_id: &str) -> String {
    hashed_slot("revoked", token_id)
}

/// A key named by the SHA-256 of a secret, so the store never holds the secret itself.
fn hashed_slot(space: &str, secret: &str) -> String {
    format!(
        "{PREFIX}{space}/{}",
        hex(&Runtime::content_hash(secret.as_bytes()))
    )
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
            url: "http://127.0.0.1:9000".to_owned(),
            ca_file: None,
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
    async fn api_keys_are_stored_only_as_hashes() {
        let (state, store, _dir) = state().await;
        let record = ApiKeyRecord {
            subject: "alice".to_owned(),
            tenant: Some("acme".to_owned()),
            permissions: vec!["orders.read".to_owned()],
        };
        state
            .put_api_key("secret-key", &record)
            .await
            .expect("stored");
        assert_eq!(
            state.api_key("secret-key").await.expect("read"),
            Some(record)
        );
        assert_eq!(state.api_key("other").await.expect("read"), None);
        let stored = store.scan_prefix(PREFIX, 10).await.expect("scan");
        assert!(
            stored.iter().all(|(key, _)| !key.contains("secret-key")),
            "{stored:?}"
        );
    }

    #[tokio::test]
    async fn revoked_tokens_are_known_and_ids_are_checked() {
        let (state, _store, _dir) = state().await;
        state
            .revoke("jti-1", Duration::from_secs(60))
            .await
            .expect("revoked");
        assert!(state.is_revoked("jti-1").await.expect("read"));
        assert!(!state.is_revoked("jti-2").await.expect("read"));
        let bad = state
            .put(Kind::Route, "a/b", &())
            .await
            .expect_err("bad id");
        assert!(bad.to_string().contains("a/b"), "{bad}");
    }
}
