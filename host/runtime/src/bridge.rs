//! The store as plugins reach it. Plugin calls are synchronous and run on the proxy's
//! threads, while the store is async; the bridge owns a small tokio runtime of its own,
//! runs each store operation there, and blocks the calling thread only for that
//! operation (which the store bounds by its timeout).

use std::future::Future;
use std::sync::mpsc;

use std::sync::Arc;

use archway_store::{Store, StoreConfig, StoreError};

use crate::Runtime;

impl Runtime {
    /// Gives plugins granted `kv` or `streams` this store; without one their calls fail
    /// with `unavailable`.
    pub fn with_store(mut self, store: Arc<StoreBridge>) -> Self {
        self.store = Some(store);
        self
    }
}

/// A store with the thread that drives it.
#[derive(Debug)]
pub struct StoreBridge {
    store: Store,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StoreBridge {
    /// Starts the store thread and opens the store on it. Call it outside async code
    /// (from `spawn_blocking` or a plain thread): it waits for the open.
    pub fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("archway-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable {
                reason: format!("cannot start the store thread: {e}"),
            })?;
        let store = runtime.block_on(Store::open(config))?;
        Ok(Self {
            store,
            runtime: Some(runtime),
        })
    }

    /// The store, for host code that is async itself.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs a store operation to completion from synchronous code, on any thread.
    pub(crate) fn wait<T, F>(&self, operation: impl FnOnce(Store) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().expect("present until dropped");
        let (done, outcome) = mpsc::sync_channel(1);
        let future = operation(self.store.clone());
        runtime.spawn(async move {
            let _ = done.send(future.await);
        });
        outcome.recv().map_err(|_| StoreError::Unavailable {
            reason: "the store thread stopped".to_owned(),
        })
    }
}

impl Drop for StoreBridge {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which async code must not do; let it wind down alone.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
