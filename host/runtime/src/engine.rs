//! The shared wasmtime engine: async support (every plugin call runs on a fiber whose
//! stack comes from the pooling allocator), epoch ticks driven by a ticker thread, the
//! base linker every plugin starts from, and two compile caches keyed by the component's
//! content hash: in memory (so reloading an unchanged file costs nothing) and,
//! optionally, wasmtime's on-disk cache (so a restart costs no recompilation).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Enabled, Engine, InstanceAllocationStrategy,
    PoolingAllocationConfig,
};

use archway_config::{Capability, PluginConfig};
use archway_jwt::Verifier;

use crate::bindings::types;
use crate::deadline::EPOCH_TICK;
use crate::host::{HostImports, HostState};
use crate::jwt::JwtGrant;
use crate::plugin_metrics::PluginMetrics;
use crate::upstream::{ServiceCalls, UpstreamGrant};
use crate::{AdminState, MAX_PLUGIN_MEMORY_BYTES, RuntimeError};

/// A component's bytes with their content hash, computed once: the compile caches' key
/// and what a reload compares to decide whether a file changed.
#[derive(Clone, Debug)]
pub struct ComponentBytes {
    bytes: Cow<'static, [u8]>,
    hash: [u8; 32],
}

impl ComponentBytes {
    /// Hashes `bytes`.
    pub fn new(bytes: impl Into<Cow<'static, [u8]>>) -> Self {
        let bytes = bytes.into();
        let hash = Runtime::content_hash(&bytes);
        Self { bytes, hash }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Their [`Runtime::content_hash`].
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }
}

/// How much of a freed linear memory stays resident for the next instance of the same
/// plugin: its dirty pages are copied back from the component's image (found with the
/// kernel's PAGEMAP_SCAN where it has it) instead of being unmapped and faulted in again.
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;

/// The same for tables, which are small.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// The plugin runtime: one per gateway process, shared by every plugin.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) base_linker: Linker<HostState>,
    compiled: Mutex<HashMap<[u8; 32], Component>>,
    store: Option<archway_store::Store>,
    service_calls: Option<Arc<dyn ServiceCalls>>,
    verifier: Option<Arc<Verifier>>,
    admin: Option<Arc<dyn AdminState>>,
    canary_reports: Option<crate::CanaryReports>,
    ticker: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Builds the engine and starts the epoch ticker thread.
    pub fn new() -> Result<Self, RuntimeError> {
        Self::build(None)
    }

    /// Like [`Runtime::new`], and keeps compiled artifacts in `dir` (created if missing),
    /// so a restart or a reload of an unchanged component loads it without compiling.
    ///
    /// ```no_run
    /// let runtime = archway_runtime::Runtime::with_disk_cache(".archway/cache".as_ref())?;
    /// # Ok::<(), archway_runtime::RuntimeError>(())
    /// ```
    pub fn with_disk_cache(dir: &Path) -> Result<Self, RuntimeError> {
        let cache_error =
            |e: &dyn std::fmt::Display| RuntimeError(format!("cache dir {}: {e}", dir.display()));
        let absolute = std::path::absolute(dir).map_err(|e| cache_error(&e))?;
        let mut config = CacheConfig::new();
        config.with_directory(absolute);
        let cache = Cache::new(config).map_err(|e| cache_error(&format!("{e:#}")))?;
        Self::build(Some(cache))
    }

    fn build(cache: Option<Cache>) -> Result<Self, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(1000)
            .total_core_instances(4000)
            .total_memories(1000)
            .total_tables(2000)
            .max_memory_size(MAX_PLUGIN_MEMORY_BYTES)
            // Resetting a slot in place, rather than unmapping it, is what makes a fresh
            // instance per request cheap: no TLB shootdown on free, no page faults on reuse.
            .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .cache(cache);
        let engine = Engine::new(&config).map_err(|e| RuntimeError(format!("{e:#}")))?;

        let mut base_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut base_linker)
            .map_err(|e| RuntimeError(format!("{e:#}")))?;
        types::add_to_linker::<_, HasSelf<HostState>>(&mut base_linker, |s| s)
            .map_err(|e| RuntimeError(format!("{e:#}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (engine, stop) = (engine.clone(), stop.clone());
            std::thread::Builder::new()
                .name("archway-epoch".to_owned())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError(format!("epoch ticker: {e}")))?
        };
        Ok(Self {
            engine,
            base_linker,
            compiled: Mutex::default(),
            store: None,
            service_calls: None,
            verifier: None,
            admin: None,
            canary_reports: None,
            ticker: Some(ticker),
            stop,
        })
    }

    /// Gives plugins granted `kv` or `streams` this store; without one their calls fail
    /// with `unavailable`.
    pub fn with_store(mut self, store: archway_store::Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Sends the `upstream` calls of plugins granted it through `calls`; without it their
    /// calls fail with `unavailable`.
    pub fn with_service_calls(mut self, calls: Arc<dyn ServiceCalls>) -> Self {
        self.service_calls = Some(calls);
        self
    }

    /// Verifies the `jwt` calls of plugins granted it with `verifier`'s key sets;
    /// without it their calls fail with `unavailable`.
    pub fn with_verifier(mut self, verifier: Arc<Verifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Lets plugins granted `admin` read and change the gateway's state through `state`;
    /// without it their calls fail with `unavailable`.
    pub fn with_admin(mut self, state: Arc<dyn AdminState>) -> Self {
        self.admin = Some(state);
        self
    }

    /// Reports every canary that rolls back on its own to `reports`.
    pub fn with_canary_reports(mut self, reports: crate::CanaryReports) -> Self {
        self.canary_reports = Some(reports);
        self
    }

    /// Where canaries report rolling back.
    pub(crate) fn canary_reports(&self) -> Option<crate::CanaryReports> {
        self.canary_reports.clone()
    }

    /// What the host lends a plugin's instances: the store, the services it may call
    /// when granted `upstream`, and its own series when granted `metrics`.
    pub(crate) fn imports_for(&self, settings: &PluginConfig) -> HostImports {
        let upstream = self
            .service_calls
            .as_ref()
            .filter(|_| settings.capabilities.contains(&Capability::Upstream))
            .map(|calls| UpstreamGrant {
                calls: calls.clone(),
                services: settings.upstreams.iter().cloned().collect(),
                max_response_bytes: usize::try_from(settings.max_upstream_response_bytes)
                    .unwrap_or(usize::MAX),
            });
        let metrics = settings
            .capabilities
            .contains(&Capability::Metrics)
            .then(|| {
                Arc::new(PluginMetrics::new(
                    &settings.name,
                    settings.max_metric_series,
                ))
            });
        let jwt = self
            .verifier
            .as_ref()
            .filter(|_| settings.capabilities.contains(&Capability::Jwt))
            .map(|verifier| JwtGrant {
                verifier: verifier.clone(),
                key_sets: settings.key_sets.iter().cloned().collect(),
            });
        let admin = self
            .admin
            .clone()
            .filter(|_| settings.capabilities.contains(&Capability::Admin));
        HostImports {
            store: self.store.clone(),
            jwt,
            admin,
            shared_namespaces: settings.share.iter().cloned().collect(),
            owner: settings.tenant.as_deref().map(Arc::from),
            upstream,
            metrics,
        }
    }

    /// Compiles a component whose [`Runtime::content_hash`] is `hash` on a blocking
    /// thread (compiling takes a while), or returns the one already compiled from
    /// identical bytes.
    pub(crate) async fn compile(
        &self,
        bytes: &[u8],
        hash: [u8; 32],
    ) -> wasmtime::Result<Component> {
        if let Some(component) = self.compiled.lock().expect("compile cache lock").get(&hash) {
            return Ok(component.clone());
        }
        let (engine, bytes) = (self.engine.clone(), bytes.to_vec());
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, bytes))
            .await
            .map_err(|e| wasmtime::format_err!("the compiler thread failed: {e}"))??;
        self.compiled
            .lock()
            .expect("compile cache lock")
            .insert(hash, component.clone());
        Ok(component)
    }

    /// A content hash (SHA-256) of a component's bytes or a config's text.
    pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    /// Forgets compiled components whose hash is not in `in_use`, so the in-memory cache
    /// holds only what loaded plugins use (the on-disk cache still has the rest).
    pub fn retain_compiled(&self, in_use: &HashSet<[u8; 32]>) {
        self.compiled
            .lock()
            .expect("compile cache lock")
            .retain(|hash, _| in_use.contains(hash));
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}
