//! Why a store operation failed; every message names the store, key or limit at fault.

use std::path::PathBuf;
use std::time::Duration;

/// A store operation that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded database file could not be created or opened.
    #[error("cannot open embedded store {path}: {source}")]
    OpenEmbedded {
        /// The database file.
        path: PathBuf,
        /// What redb reported.
        source: redb::Error,
    },
    /// The embedded database file is already open, in another process (a running
    /// gateway) or this one: redb locks it, so it has one opener at a time.
    #[error("embedded store {path} is already open, by another process or this one")]
    EmbeddedInUse {
        /// The database file.
        path: PathBuf,
    },
    /// The Redis URL could not be parsed.
    #[error("invalid redis store url: {source}")]
    RedisUrl {
        /// What the Redis client reported.
        source: redis::RedisError,
    },
    /// Redis cannot be reached; operations fail fast until it answers again.
    #[error("redis store unavailable: {reason}")]
    Unavailable {
        /// Why, as the client saw it.
        reason: String,
    },
    /// Redis did not answer within the operation timeout.
    #[error("redis store {op} timed out after {} ms", after.as_millis())]
    Timeout {
        /// The operation, such as `get`.
        op: &'static str,
        /// The configured operation timeout.
        after: Duration,
    },
    /// A key, value, stream name or stream entry is over its size limit.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// What was too large: `key`, `value`, `stream name`, `stream entry`, ...
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// `append` was given no fields: a stream entry has at least one (as in Redis).
    #[error("stream {stream}: an entry needs at least one field")]
    NoFields {
        /// The stream name.
        stream: String,
    },
    /// `increment` found a value that is not a decimal 64-bit integer.
    #[error("key {key} does not hold an integer")]
    NotAnInteger {
        /// The key.
        key: String,
    },
    /// `increment` would leave the 64-bit signed range.
    #[error("incrementing key {key} by {delta} would overflow")]
    Overflow {
        /// The key.
        key: String,
        /// The requested increment.
        delta: i64,
    },
    /// `rate_limit` was asked for a zero limit or a period under a microsecond.
    #[error("rate limit {key}: the limit and the period must be positive")]
    InvalidRateLimit {
        /// The rate-limit key.
        key: String,
    },
    /// The embedded database failed.
    #[error("embedded store {op} failed: {source}")]
    Embedded {
        /// The operation, such as `set`.
        op: &'static str,
        /// What redb reported.
        source: redb::Error,
    },
    /// Redis answered with an error.
    #[error("redis store {op} failed: {source}")]
    Redis {
        /// The operation, such as `set`.
        op: &'static str,
        /// What the Redis client reported.
        source: redis::RedisError,
    },
}
