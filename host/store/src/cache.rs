//! The shared tier of the gateway's response cache. On Redis each entry is a string under
//! `archway:cache:<key>` that expires by itself (`SET ... PX`), so every node serves what
//! one stored; the embedded store has no shared tier, since a single node's in-process
//! cache is all it needs.

use std::sync::Arc;
use std::time::Duration;

use crate::limits::{check_key, check_value};
use crate::remote::Remote;
use crate::{Backend, Store, StoreError};

/// Cached responses every node reads and writes (Redis only).
#[derive(Clone)]
pub struct SharedCache {
    remote: Arc<Remote>,
}

impl std::fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCache")
    }
}

impl Store {
    /// The response cache's shared tier: `Some` on Redis, `None` on the embedded store.
    pub fn shared_cache(&self) -> Option<SharedCache> {
        match &self.backend {
            Backend::Redis(remote) => Some(SharedCache {
                remote: remote.clone(),
            }),
            Backend::Embedded(_) => None,
        }
    }
}

impl SharedCache {
    /// The entry under `key`; `None` when absent or expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key("cache key", key)?;
        self.remote.cache_get(key).await
    }

    /// Stores `entry` under `key` for `ttl` (rounded up to whole milliseconds), replacing
    /// any entry there.
    pub async fn put(&self, key: &str, entry: &[u8], ttl: Duration) -> Result<(), StoreError> {
        check_key("cache key", key)?;
        check_value("cache entry", entry)?;
        self.remote.cache_put(key, entry, ttl).await
    }
}
