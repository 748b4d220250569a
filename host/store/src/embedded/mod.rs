//! The embedded backend: a redb file on this node. Each write is one transaction,
//! acknowledged only after it commits durably; writes and scans run on tokio's blocking
//! pool, a read of one key where it is asked. Rate-limit state stays in memory and the
//! change feed is in-process.

mod kv;
mod streams;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadTransaction, ReadableDatabase, WriteTransaction};
use tokio::sync::broadcast;

use crate::feed::{self, ChangeFeed, FeedEvent};
use crate::rate::LocalLimiter;
use crate::{Change, RateAlgorithm, RateDecision, StoreError, StreamEntry, StreamId, ttl_millis};
use kv::{KvTables, NO_EXPIRY};

/// What a blocking closure yields: redb failures outside, the operation's own outcome
/// inside (an inner error aborts the transaction).
type Outcome<T> = Result<Result<T, StoreError>, redb::Error>;

pub(crate) struct Embedded {
    db: Arc<Database>,
    limiter: LocalLimiter,
    events: broadcast::Sender<FeedEvent>,
}

impl Embedded {
    pub(crate) async fn open(path: &Path) -> Result<Self, StoreError> {
        let file = path.to_owned();
        let db = tokio::task::spawn_blocking(move || create(&file))
            .await
            .expect("opening the embedded store does not panic")
            .map_err(|source| match source {
                redb::Error::DatabaseAlreadyOpen => StoreError::EmbeddedInUse {
                    path: path.to_owned(),
                },
                source => StoreError::OpenEmbedded {
                    path: path.to_owned(),
                    source,
                },
            })?;
        tracing::info!(path = %path.display(), "embedded store open");
        Ok(Self {
            db: Arc::new(db),
            limiter: LocalLimiter::new(),
            events: feed::channel(),
        })
    }

    pub(crate) async fn health(&self) -> Result<(), StoreError> {
        self.read_here("health", |_, _| Ok(()))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_here("get", |txn, now| kv::get(txn, key, now))
    }

    pub(crate) async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.write("set", move |txn, now| {
            let expires_at = ttl.map_or(NO_EXPIRY, |ttl| now + ttl_millis(ttl));
            KvTables::open(txn, now)?.put(&key, &value, expires_at)?;
            Ok(Ok(()))
        })
        .await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write("delete", move |txn, now| {
            Ok(Ok(KvTables::open(txn, now)?.remove(&key)?))
        })
        .await
    }

    pub(crate) async fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let key = key.to_owned();
        self.write("increment", move |txn, now| {
            let mut kv = KvTables::open(txn, now)?;
            let (expires_at, current) = match kv.live(&key)? {
                None => (NO_EXPIRY, 0),
                Some((expires_at, bytes)) => match parse_integer(&bytes) {
                    Some(current) => (expires_at, current),
                    None => return Ok(Err(StoreError::NotAnInteger { key })),
                },
            };
            let Some(next) = current.checked_add(delta) else {
                return Ok(Err(StoreError::Overflow { key, delta }));
            };
            kv.put(&key, next.to_string().as_bytes(), expires_at)?;
            Ok(Ok(next))
        })
        .await
    }

    pub(crate) async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let key = key.to_owned();
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        self.write("compare_and_swap", move |txn, now| {
            let mut kv = KvTables::open(txn, now)?;
            if kv.live(&key)?.map(|(_, current)| current) != expected {
                return Ok(Ok(false));
            }
            match new {
                Some(new) => kv.put(&key, &new, NO_EXPIRY)?,
                None => {
                    kv.remove(&key)?;
                }
            }
            Ok(Ok(true))
        })
        .await
    }

    pub(crate) async fn lease(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (key, holder) = (key.to_owned(), holder.as_bytes().to_vec());
        self.write("lease", move |txn, now| {
            let mut kv = KvTables::open(txn, now)?;
            if kv.live(&key)?.is_some_and(|(_, current)| current != holder) {
                return Ok(Ok(false));
            }
            kv.put(&key, &holder, now + ttl_millis(ttl))?;
            Ok(Ok(true))
        })
        .await
    }

    pub(crate) async fn scan_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let prefix = prefix.to_owned();
        self.read("scan_prefix", move |txn, now| {
            kv::scan(txn, &prefix, limit, now)
        })
        .await
    }

    pub(crate) async fn append(
        &self,
        stream: &str,
        fields: &[(String, String)],
    ) -> Result<StreamId, StoreError> {
        let (stream, fields) = (stream.to_owned(), fields.to_vec());
        self.write("append", move |txn, now| {
            Ok(Ok(streams::append(txn, &stream, &fields, now)?))
        })
        .await
    }

    pub(crate) async fn entries(
        &self,
        stream: &str,
        from: StreamId,
        to: StreamId,
        limit: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let stream = stream.to_owned();
        self.read("range", move |txn, _| {
            streams::entries(txn, &stream, from, to, limit)
        })
        .await
    }

    pub(crate) async fn publish(&self, change: &Change) -> Result<(), StoreError> {
        // No subscriber yet is not an error: nobody has anything to rebuild.
        let _ = self.events.send(FeedEvent::Change(change.clone()));
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
        Ok(self.limiter.decide(key, limit, period_us, algorithm))
    }

    async fn read<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&ReadTransaction, u64) -> Result<T, redb::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(op, move |db| Ok(Ok(f(&db.begin_read()?, now_ms())?)))
            .await
    }

    /// A short read, run on the caller's thread: a point lookup in a redb read
    /// transaction (served from its page cache, never waiting on a writer) costs less than
    /// the hop to the blocking pool and back, which cost a plugin's `kv.get` two thread
    /// wake-ups per request.
    fn read_here<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&ReadTransaction, u64) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let read = || f(&self.db.begin_read()?, now_ms());
        read().map_err(|source| StoreError::Embedded { op, source })
    }

    async fn write<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&WriteTransaction, u64) -> Outcome<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.blocking(op, move |db| {
            let txn = db.begin_write()?;
            let outcome = f(&txn, now_ms())?;
            if outcome.is_ok() {
                txn.commit()?;
            } else {
                txn.abort()?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Database) -> Outcome<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .expect("embedded store operations do not panic")
            .map_err(|source| StoreError::Embedded { op, source })?
    }
}

fn create(path: &Path) -> Result<Database, redb::Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let db = Database::create(path)?;
    let txn = db.begin_write()?;
    kv::create(&txn)?;
    streams::create(&txn)?;
    txn.commit()?;
    Ok(db)
}

fn parse_integer(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Wall-clock time, so TTLs and stream ids mean the same after a restart.
fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the system clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds since 1970 fit in u64")
}
