//! The JWT key sets of the serving config: loaded with each config (one whose keys
//! cannot be read is refused, like a plugin that fails), installed in the verifier once
//! that config serves, keeping the cached keys of unchanged JWKS URLs across reloads,
//! and loaded again when a key file changes under an unchanged config.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use archway_config::JwtConfig;
use archway_jwt::{FetchJwks, KeyError, KeySets, Verifier};
use archway_proxy::{Clients, JwksClient};
use archway_runtime::Runtime;

/// Loads key sets for the verifier that plugins' `jwt` calls use.
pub(crate) struct KeySetLoader {
    verifier: Arc<Verifier>,
    fetch: Arc<dyn FetchJwks>,
    /// The content hash of the key files as the last load read them.
    loaded_files: Mutex<Option<[u8; 32]>>,
}

impl KeySetLoader {
    /// Loads for `verifier`, fetching JWKS URLs with `clients`.
    pub(crate) fn new(verifier: Arc<Verifier>, clients: Arc<Clients>) -> Self {
        Self {
            verifier,
            fetch: Arc::new(JwksClient::new(clients)),
            loaded_files: Mutex::new(None),
        }
    }

    /// Reads the key sets of `config`, reusing the serving ones' JWKS caches.
    pub(crate) fn load(&self, config: &JwtConfig) -> Result<Arc<KeySets>, KeyError> {
        // Hashed before reading, so a file that changes meanwhile is read again later.
        let files = files_hash(config);
        let sets = KeySets::load(config, &self.verifier.current(), &self.fetch)?;
        *self.loaded_files.lock().expect("key files lock") = Some(files);
        Ok(Arc::new(sets))
    }

    /// The key sets of `config` read again, when one of its key files changed since the
    /// last load; `None` when none did.
    pub(crate) fn reload_changed_files(
        &self,
        config: &JwtConfig,
    ) -> Option<Result<Arc<KeySets>, KeyError>> {
        let unchanged =
            *self.loaded_files.lock().expect("key files lock") == Some(files_hash(config));
        (!unchanged).then(|| self.load(config))
    }

    /// Tokens verify with `sets` from now on.
    pub(crate) fn install(&self, sets: Arc<KeySets>) {
        self.verifier.install(sets);
    }
}

/// The files the key sets of `config` read, for the watcher.
pub(crate) fn key_files(config: &JwtConfig) -> Vec<PathBuf> {
    config
        .key_sets
        .values()
        .flat_map(|set| {
            [
                &set.secret_file,
                &set.public_key_file,
                &set.jwks_file,
                &set.jwks_ca_file,
            ]
        })
        .flatten()
        .cloned()
        .collect()
}

/// One hash over every key file's path and contents (a missing file counts as empty).
fn files_hash(config: &JwtConfig) -> [u8; 32] {
    let mut all = Vec::new();
    for path in key_files(config) {
        all.extend_from_slice(path.as_os_str().as_encoded_bytes());
        all.push(0);
        all.extend(std::fs::read(&path).unwrap_or_default());
        all.push(0);
    }
    Runtime::content_hash(&all)
}
