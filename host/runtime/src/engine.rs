//! The shared wasmtime engine: pooling allocator, epoch deadlines driven by a ticker
//! thread, the base linker every plugin starts from, and a compile cache keyed by the
//! component's content hash (so reloading an unchanged file costs nothing).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::types;
use crate::bridge::StoreBridge;
use crate::host::HostState;
use crate::{MAX_PLUGIN_MEMORY_BYTES, RuntimeError};

/// How often the epoch advances: the granularity of call deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The plugin runtime: one per gateway process, shared by every plugin.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) base_linker: Linker<HostState>,
    compiled: Mutex<HashMap<[u8; 32], Component>>,
    pub(crate) store: Option<Arc<StoreBridge>>,
    ticker: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Builds the engine and starts the epoch ticker thread.
    pub fn new() -> Result<Self, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(1000)
            .total_core_instances(4000)
            .total_memories(1000)
            .total_tables(2000)
            .max_memory_size(MAX_PLUGIN_MEMORY_BYTES);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| RuntimeError(format!("{e:#}")))?;

        let mut base_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut base_linker)
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
            ticker: Some(ticker),
            stop,
        })
    }

    /// Compiles a component, or returns the one already compiled from identical bytes.
    pub(crate) fn compile(&self, bytes: &[u8]) -> wasmtime::Result<Component> {
        let hash: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(component) = self.compiled.lock().expect("compile cache lock").get(&hash) {
            return Ok(component.clone());
        }
        let component = Component::new(&self.engine, bytes)?;
        self.compiled
            .lock()
            .expect("compile cache lock")
            .insert(hash, component.clone());
        Ok(component)
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
