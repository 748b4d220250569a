//! A backend to run the suite against, and the time bound every test runs under.

use std::time::Duration;

use archway_store::{Store, StoreConfig};
use tempfile::TempDir;
use tokio::sync::OnceCell;

use archway_store::testing::RedisServer;

const TEST_TIMEOUT: Duration = Duration::from_secs(30);

pub enum Fixture {
    Embedded {
        dir: TempDir,
        store: OnceCell<Store>,
    },
    Redis {
        server: RedisServer,
    },
}

impl Fixture {
    pub fn embedded() -> Self {
        Self::Embedded {
            dir: tempfile::tempdir().expect("temp dir"),
            store: OnceCell::new(),
        }
    }

    pub fn redis() -> Self {
        Self::Redis {
            server: RedisServer::running(),
        }
    }

    /// A handle on the backend. Redis: a new store with its own connections, as another
    /// node would have. Embedded: a redb file has one opener per process, so every
    /// handle after the first is a clone of it.
    pub async fn open(&self) -> Store {
        match self {
            Self::Embedded { dir, store } => store
                .get_or_init(|| async {
                    let path = dir.path().join("store.redb");
                    Store::open(&StoreConfig::Embedded { path })
                        .await
                        .expect("open embedded store")
                })
                .await
                .clone(),
            Self::Redis { server } => Store::open(&StoreConfig::redis(server.url()))
                .await
                .expect("open redis store"),
        }
    }
}

/// Runs a test body, failing it if it takes longer than [`TEST_TIMEOUT`]; the store's logs
/// show with a failing test's output.
pub async fn bounded(test: impl Future<Output = ()>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("archway_store=debug")
        .with_test_writer()
        .try_init();
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {TEST_TIMEOUT:?}"));
}
