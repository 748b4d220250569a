//! The Redis backend, shared by every node. Operations go through a
//! [`ConnectionManager`] that reconnects on its own; each is bounded by the operation
//! timeout, and while Redis is unreachable they fail fast (see `link`). Opening succeeds
//! whether or not Redis is up, waiting at most two operation timeouts.

mod keys;
mod link;
mod scripts;
mod subscriber;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, RedisResult};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::feed::{self, ChangeFeed, FeedEvent};
use crate::{Change, RateAlgorithm, RateDecision, StoreError, StreamEntry, StreamId, ttl_millis};
use link::Link;

/// Keys one `SCAN` round trip asks Redis to look at.
const SCAN_BATCH: usize = 1000;

/// A stream entry's field name and value as Redis returns them.
type RawField = (Vec<u8>, Vec<u8>);

pub(crate) struct Remote {
    conn: Conn,
    events: broadcast::Sender<FeedEvent>,
    /// Names this node's sliding-window arrivals uniquely across nodes.
    arrivals: Arrivals,
    _keeper: AbortOnDrop,
    _subscriber: AbortOnDrop,
}

/// What every operation goes through: the connection, its reachability, the deadline.
#[derive(Clone)]
struct Conn {
    manager: ConnectionManager,
    link: Arc<Link>,
    op_timeout: Duration,
}

/// Unique names for sliding-window arrivals: this node's random id and a sequence.
struct Arrivals {
    node: u64,
    next: AtomicU64,
}

impl Arrivals {
    fn new() -> Self {
        Self {
            node: fastrand::u64(..),
            next: AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        format!(
            "{:x}-{:x}",
            self.node,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Stops a background task when the store that owns it is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Remote {
    pub(crate) async fn open(url: &str, op_timeout: Duration) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(|source| StoreError::RedisUrl { source })?;
        // One connection attempt per reconnect: the link's probe does the retrying, so an
        // operation never waits behind a backoff schedule.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(op_timeout))
            .set_response_timeout(Some(op_timeout));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|source| StoreError::RedisUrl { source })?;
        let conn = Conn {
            manager,
            link: Arc::new(Link::new()),
            op_timeout,
        };
        let keeper = {
            let conn = conn.clone();
            tokio::spawn(async move {
                let probe = || async { conn.ping().await.is_ok() };
                conn.link.reconnect_when_lost(probe).await;
            })
        };
        let events = feed::channel();
        let (subscribed, first_subscription) = oneshot::channel();
        let subscriber = tokio::spawn(subscriber::run(
            client,
            events.clone(),
            op_timeout,
            subscribed,
        ));
        match conn.ping().await {
            Ok(()) => tracing::info!("redis store connected"),
            Err(error) => tracing::warn!(%error, "redis store not reachable yet; starting anyway"),
        }
        // So a change published right after open reaches this store's subscribers.
        let _ = tokio::time::timeout(op_timeout, first_subscription).await;
        Ok(Self {
            conn,
            events,
            arrivals: Arrivals::new(),
            _keeper: AbortOnDrop(keeper),
            _subscriber: AbortOnDrop(subscriber),
        })
    }

    pub(crate) async fn health(&self) -> Result<(), StoreError> {
        self.conn.ping().await
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query("get", redis::cmd("GET").arg(keys::value(key)))
            .await
    }

    pub(crate) async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(keys::value(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl_millis(ttl));
        }
        self.conn.query("set", &cmd).await
    }

    pub(crate) async fn cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query("cache_get", redis::cmd("GET").arg(keys::cache(key)))
            .await
    }

    pub(crate) async fn cache_put(
        &self,
        key: &str,
        entry: &[u8],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(keys::cache(key))
            .arg(entry)
            .arg("PX")
            .arg(ttl_millis(ttl));
        self.conn.query("cache_put", &cmd).await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let removed: u64 = self
            .conn
            .query("delete", redis::cmd("DEL").arg(keys::value(key)))
            .await?;
        Ok(removed > 0)
    }

    pub(crate) async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let cmd = redis::cmd("INCRBY")
            .arg(keys::value(key))
            .arg(delta)
            .to_owned();
        let outcome = self
            .conn
            .run(
                "increment",
                |mut c| async move { cmd.query_async(&mut c).await },
            )
            .await;
        match outcome {
            Err(StoreError::Redis { source, .. }) if detail_has(&source, "not an integer") => {
                Err(StoreError::NotAnInteger {
                    key: key.to_owned(),
                })
            }
            Err(StoreError::Redis { source, .. }) if detail_has(&source, "overflow") => {
                Err(StoreError::Overflow {
                    key: key.to_owned(),
                    delta,
                })
            }
            other => other,
        }
    }

    pub(crate) async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut invocation = scripts::COMPARE_AND_SWAP.key(keys::value(key));
        for side in [expected, new] {
            invocation.arg(side.is_some()).arg(side.unwrap_or_default());
        }
        let swapped: u8 = self
            .conn
            .run("compare_and_swap", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(swapped == 1)
    }

    pub(crate) async fn lease(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut invocation = scripts::LEASE.key(keys::value(key));
        invocation
            .arg(holder)
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        let held: u8 = self
            .conn
            .run("lease", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(held == 1)
    }

    pub(crate) async fn scan_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let pattern = keys::value_pattern(prefix);
        // SCAN returns keys in no order and possibly twice; all matches are needed to
        // return the first `limit` in key order.
        let keys: BTreeSet<String> = self
            .conn
            .run("scan_prefix", |mut c| async move {
                let mut found = BTreeSet::new();
                let mut cursor = 0_u64;
                loop {
                    let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_BATCH)
                        .query_async(&mut c)
                        .await?;
                    found.extend(batch);
                    if next == 0 {
                        return Ok(found);
                    }
                    cursor = next;
                }
            })
            .await?;
        let keys: Vec<String> = keys.into_iter().take(limit).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = self
            .conn
            .query("scan_prefix", redis::cmd("MGET").arg(&keys))
            .await?;
        // A key that expired or was deleted between SCAN and MGET is simply left out.
        Ok(keys
            .iter()
            .zip(values)
            .filter_map(|(key, value)| Some((keys::from_value(key)?.to_owned(), value?)))
            .collect())
    }

    pub(crate) async fn append(
        &self,
        stream: &str,
        fields: &[(String, String)],
    ) -> Result<StreamId, StoreError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(keys::stream(stream)).arg("*");
        for (name, value) in fields {
            cmd.arg(name).arg(value);
        }
        let id: String = self.conn.query("append", &cmd).await?;
        Ok(id.parse().expect("Redis stream ids are MS-SEQ"))
    }

    pub(crate) async fn entries(
        &self,
        stream: &str,
        from: StreamId,
        to: StreamId,
        limit: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        // Fields are read as bytes: an entry another Redis client wrote may hold text that
        // is not UTF-8, which reads back with replacement characters rather than failing
        // the whole range.
        let entries: Vec<(String, Vec<RawField>)> = self
            .conn
            .query(
                "range",
                redis::cmd("XRANGE")
                    .arg(keys::stream(stream))
                    .arg(from.to_string())
                    .arg(to.to_string())
                    .arg("COUNT")
                    .arg(limit),
            )
            .await?;
        let text = |bytes: Vec<u8>| {
            String::from_utf8(bytes)
                .unwrap_or_else(|invalid| String::from_utf8_lossy(invalid.as_bytes()).into_owned())
        };
        Ok(entries
            .into_iter()
            .map(|(id, fields)| StreamEntry {
                id: id.parse().expect("Redis stream ids are MS-SEQ"),
                fields: fields
                    .into_iter()
                    .map(|(name, value)| (text(name), text(value)))
                    .collect(),
            })
            .collect())
    }

    pub(crate) async fn publish(&self, change: &Change) -> Result<(), StoreError> {
        let message = serde_json::to_vec(change).expect("a Change serialises to JSON");
        let _receivers: u64 = self
            .conn
            .query(
                "publish",
                redis::cmd("PUBLISH")
                    .arg(keys::CHANGES_CHANNEL)
                    .arg(message),
            )
            .await?;
        Ok(())
    }

    pub(crate) fn subscribe(&self) -> ChangeFeed {
        feed::subscribe(&self.events)
    }

    pub(crate) async fn rate_limit(
        &self,
        key: &str,
        limit: u32,
        period_us: u64,
        algorithm: RateAlgorithm,
    ) -> Result<RateDecision, StoreError> {
        let mut invocation = match algorithm {
            RateAlgorithm::Gcra => scripts::RATE_LIMIT.key(keys::rate(key)),
            RateAlgorithm::SlidingWindow => scripts::SLIDING_WINDOW.key(keys::window(key)),
        };
        invocation.arg(limit).arg(period_us);
        if algorithm == RateAlgorithm::SlidingWindow {
            invocation.arg(self.arrivals.next());
        }
        let (allowed, remaining, retry_after_us, reset_after_us): (u8, u32, u64, u64) = self
            .conn
            .run("rate_limit", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(RateDecision {
            allowed: allowed == 1,
            remaining,
            retry_after: (allowed == 0).then(|| Duration::from_micros(retry_after_us)),
            reset_after: Duration::from_micros(reset_after_us),
        })
    }
}

impl Conn {
    /// Sends one command.
    async fn query<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let cmd = cmd.clone();
        self.run(op, |mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    /// Runs `exchange` unless the link is known to be down.
    async fn run<T, F, Exchange>(&self, op: &'static str, exchange: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Exchange,
        Exchange: Future<Output = RedisResult<T>>,
    {
        self.link.check()?;
        self.bounded(op, exchange).await
    }

    /// Asks Redis whether it is there, even while the link is down.
    async fn ping(&self) -> Result<(), StoreError> {
        let ping = redis::cmd("PING");
        self.bounded(
            "ping",
            |mut c| async move { ping.query_async(&mut c).await },
        )
        .await
    }

    /// Runs `exchange` within the operation timeout and keeps the link state current.
    async fn bounded<T, F, Exchange>(&self, op: &'static str, exchange: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Exchange,
        Exchange: Future<Output = RedisResult<T>>,
    {
        match tokio::time::timeout(self.op_timeout, exchange(self.manager.clone())).await {
            Ok(Ok(value)) => {
                self.link.restored();
                Ok(value)
            }
            Ok(Err(error)) if unreachable(&error) => {
                let reason = error.to_string();
                self.link.lost(&reason);
                Err(StoreError::Unavailable { reason })
            }
            Ok(Err(source)) => {
                self.link.restored();
                Err(StoreError::Redis { op, source })
            }
            Err(_elapsed) => {
                self.link.lost("no answer within the operation timeout");
                Err(StoreError::Timeout {
                    op,
                    after: self.op_timeout,
                })
            }
        }
    }
}

/// Errors that say nothing about the request, only that Redis could not be reached.
fn unreachable(error: &RedisError) -> bool {
    error.is_io_error() || error.is_unrecoverable_error()
}

fn detail_has(error: &RedisError, needle: &str) -> bool {
    error.detail().is_some_and(|detail| detail.contains(needle))
}
