//! Which backend a store uses and how to reach it.

use std::path::PathBuf;
use std::time::Duration;

/// How to open a [`Store`](crate::Store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// A redb file on this node: single node, durable across restarts.
    Embedded {
        /// The database file; created (with its parent directories) when missing.
        path: PathBuf,
    },
    /// A Redis server shared by every node.
    Redis {
        /// A `redis://[user:password@]host:port[/db]` URL (TLS is not compiled in).
        url: String,
        /// The longest any one operation may take before it fails with
        /// [`StoreError::Timeout`](crate::StoreError::Timeout).
        op_timeout: Duration,
    },
}

impl StoreConfig {
    /// The per-operation deadline used when the config does not choose one.
    pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(250);

    /// A Redis store at `url` with the default operation timeout.
    pub fn redis(url: impl Into<String>) -> Self {
        Self::Redis {
            url: url.into(),
            op_timeout: Self::DEFAULT_OP_TIMEOUT,
        }
    }
}
