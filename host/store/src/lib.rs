//! The gateway's state store: one API over two backends, chosen by [`StoreConfig`].
//!
//! - **Embedded** (default): a redb file on this node, durable across restarts; every
//!   write is acknowledged only after its transaction commits.
//! - **Redis**: shared by every node. Each operation is bounded by a timeout, and while
//!   Redis is unreachable operations fail fast with [`StoreError::Unavailable`] instead of
//!   hanging; the store reconnects by itself, and opening it never waits for Redis.
//!
//! Both backends offer the same semantics: key-value data with TTLs, atomic increments and
//! compare-and-swap, prefix scans, append-only streams of field lists with time-ordered
//! ids, a change feed that tells every node about config changes, rate-limit counters
//! (sliding window or GCRA), and on Redis the shared tier of the response cache
//! ([`SharedCache`]). On Redis the data is plain Redis data (strings, streams) under
//! `archway:` keys, which other Redis clients can read and write.
//!
//! ```
//! use archway_store::{FeedEvent, Store, StoreConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), archway_store::StoreError> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = Store::open(&StoreConfig::Embedded { path: dir.path().join("archway.redb") }).await?;
//!
//! store.set("greeting", b"hello", None).await?;
//! assert_eq!(store.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
//!
//! let mut changes = store.subscribe();
//! let change = store.publish_config_change("routes").await?;
//! assert_eq!(changes.recv().await, Some(FeedEvent::Change(change)));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cache;
mod config;
mod embedded;
mod error;
mod feed;
mod limits;
mod rate;
mod remote;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use cache::SharedCache;
pub use config::StoreConfig;
pub use error::StoreError;
pub use feed::{Change, ChangeFeed, FeedEvent};
pub use limits::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
pub use rate::{RateAlgorithm, RateDecision};
pub use stream::{ParseStreamIdError, StreamEntry, StreamId};

use std::sync::Arc;
use std::time::Duration;

use embedded::Embedded;
use limits::{check_fields, check_key, check_value};
use remote::Remote;

/// The key [`Store::publish_config_change`] counts config versions under.
pub const CONFIG_VERSION_KEY: &str = "archway:config:version";

/// A handle to the store; cheap to clone, and every clone shares one connection or file.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish()
    }
}

#[derive(Clone)]
enum Backend {
    Embedded(Arc<Embedded>),
    Redis(Arc<Remote>),
}

/// Calls the same operation on whichever backend the store has (awaiting it when the
/// call ends in `.await`).
macro_rules! dispatch {
    ($store:expr, $op:ident($($arg:expr),*)) => {
        match &$store.backend {
            Backend::Embedded(backend) => backend.$op($($arg),*),
            Backend::Redis(backend) => backend.$op($($arg),*),
        }
    };
    ($store:expr, $op:ident($($arg:expr),*).await) => {
        match &$store.backend {
            Backend::Embedded(backend) => backend.$op($($arg),*).await,
            Backend::Redis(backend) => backend.$op($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens the configured backend. A Redis store opens even while Redis is down; its
    /// operations fail with [`StoreError::Unavailable`] until Redis answers.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let backend = match config {
            StoreConfig::Embedded { path } => {
                Backend::Embedded(Arc::new(Embedded::open(path).await?))
            }
            StoreConfig::Redis { url, op_timeout } => {
                Backend::Redis(Arc::new(Remote::open(url, *op_timeout).await?))
            }
        };
        Ok(Store { backend })
    }

    /// `"embedded"` or `"redis"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Embedded(_) => "embedded",
            Backend::Redis(_) => "redis",
        }
    }

    /// Checks that the backend answers (a Redis `PING`, or a read transaction).
    pub async fn health(&self) -> Result<(), StoreError> {
        dispatch!(self, health().await)
    }

    /// The value under `key`; `None` when absent or expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key("key", key)?;
        dispatch!(self, get(key).await)
    }

    /// Stores `value` under `key`, replacing any previous value; with a `ttl`, the key
    /// reads as absent once it has passed (rounded up to whole milliseconds).
    pub async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check_key("key", key)?;
        check_value("value", value)?;
        dispatch!(self, set(key, value, ttl).await)
    }

    /// Removes `key`; true when it held a value.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        check_key("key", key)?;
        dispatch!(self, delete(key).await)
    }

    /// Atomically adds `delta` to the decimal integer under `key` (absent counts as 0) and
    /// returns the new value; the key keeps its TTL.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        check_key("key", key)?;
        dispatch!(self, increment(key, delta).await)
    }

    /// Atomically replaces the value under `key` with `new` if it currently is `expected`
    /// (`None`: absent). `new` of `None` deletes the key; a new value has no TTL. True
    /// when the swap happened.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        check_key("key", key)?;
        if let Some(new) = new {
            check_value("value", new)?;
        }
        dispatch!(self, compare_and_swap(key, expected, new).await)
    }

    /// Takes or renews the lease `key` for `holder` until `ttl` from now: true when
    /// `holder` holds it now (it was free, had expired, or was already its own). Every
    /// node that could do a piece of work asks; at most one holds the lease at a time,
    /// and another takes over once the holder stops renewing.
    pub async fn lease(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        check_key("key", key)?;
        check_value("holder", holder.as_bytes())?;
        dispatch!(self, lease(key, holder, ttl).await)
    }

    /// Up to `limit` entries whose key starts with `prefix`, sorted by key.
    ///
    /// On Redis this walks every key under the prefix (`SCAN`), so keep prefixes narrow.
    pub async fn scan_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        check_key("prefix", prefix)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        dispatch!(self, scan_prefix(prefix, limit).await)
    }

    /// Appends an entry of `fields` (name, value; at least one) to `stream` and returns
    /// its id, later than every id before it. On Redis this is one `XADD` with the fields
    /// as they are, so other Redis clients read and write the same entries.
    pub async fn append(
        &self,
        stream: &str,
        fields: &[(String, String)],
    ) -> Result<StreamId, StoreError> {
        check_key("stream name", stream)?;
        if fields.is_empty() {
            return Err(StoreError::NoFields {
                stream: stream.to_owned(),
            });
        }
        check_fields(fields)?;
        dispatch!(self, append(stream, fields).await)
    }

    /// Up to `limit` entries of `stream` appended from `from_ms` to `to_ms` (Unix
    /// milliseconds, both inclusive), oldest first.
    pub async fn range(
        &self,
        stream: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let from = StreamId {
            ms: from_ms,
            seq: 0,
        };
        let to = StreamId {
            ms: to_ms,
            seq: u64::MAX,
        };
        self.entries(stream, from, to, limit).await
    }

    /// Up to `limit` entries of `stream` with ids after `after`, oldest first; pass the
    /// last id read to read on, or [`StreamId::MIN`] to start at the beginning.
    pub async fn read_after(
        &self,
        stream: &str,
        after: StreamId,
        limit: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        match after.successor() {
            Some(from) => self.entries(stream, from, StreamId::MAX, limit).await,
            None => Ok(Vec::new()),
        }
    }

    async fn entries(
        &self,
        stream: &str,
        from: StreamId,
        to: StreamId,
        limit: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        check_key("stream name", stream)?;
        if limit == 0 || from > to {
            return Ok(Vec::new());
        }
        dispatch!(self, entries(stream, from, to, limit).await)
    }

    /// Announces `change` to every subscriber of this store, on every node.
    pub async fn publish(&self, change: &Change) -> Result<(), StoreError> {
        check_key("change topic", &change.topic)?;
        dispatch!(self, publish(change).await)
    }

    /// Bumps the config version under [`CONFIG_VERSION_KEY`] and announces the change of
    /// `topic` at that version.
    pub async fn publish_config_change(&self, topic: &str) -> Result<Change, StoreError> {
        let change = Change {
            version: self.increment(CONFIG_VERSION_KEY, 1).await?,
            topic: topic.to_owned(),
        };
        self.publish(&change).await?;
        Ok(change)
    }

    /// Subscribes to the change feed; only changes published after this call arrive.
    pub fn subscribe(&self) -> ChangeFeed {
        dispatch!(self, subscribe())
    }

    /// Counts one request against `key`'s budget of `limit` requests per `period`, by
    /// `algorithm`. A denied request is not counted. The two algorithms keep separate
    /// counters, so one key may be counted both ways.
    pub async fn rate_limit(
        &self,
        key: &str,
        limit: u32,
        period: Duration,
        algorithm: RateAlgorithm,
    ) -> Result<RateDecision, StoreError> {
        check_key("rate-limit key", key)?;
        let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX);
        if limit == 0 || period_us == 0 {
            return Err(StoreError::InvalidRateLimit {
                key: key.to_owned(),
            });
        }
        dispatch!(self, rate_limit(key, limit, period_us, algorithm).await)
    }
}

/// A TTL in whole milliseconds, rounded up so a positive TTL never means "no TTL".
pub(crate) fn ttl_millis(ttl: Duration) -> u64 {
    let millis = ttl.as_nanos().div_ceil(1_000_000).max(1);
    u64::try_from(millis).unwrap_or(u64::MAX)
}
