//! The JWT key sets of the serving config: loaded with each config (one whose keys
//! cannot be read is refused, like a plugin that fails) into the snapshot that serves
//! with it, keeping the cached keys of unchanged JWKS URLs, and loaded again when a key
//! file changes under an unchanged config.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use archway_config::JwtConfig;
use archway_jwt::{FetchJwks, KeyError, KeySets};
use archway_proxy::{Clients, JwksClient};
use archway_runtime::Runtime;

/// Key sets as loaded, with the content of the key files they were read from.
pub(crate) struct Loaded {
    /// The key sets, for the snapshot.
    pub(crate) sets: Arc<KeySets>,
    files: [u8; 32],
}

/// Loads key sets and remembers which key files the serving ones were read from.
pub(crate) struct KeySetLoader {
    fetch: Arc<dyn FetchJwks>,
    /// The content hash of the key files behind the serving key sets.
    serving_files: Mutex<Option<[u8; 32]>>,
}

impl KeySetLoader {
    /// A loader that fetches JWKS URLs with `clients`.
    pub(crate) fn new(clients: Arc<Clients>) -> Self {
        Self {
            fetch: Arc::new(JwksClient::new(clients)),
            serving_files: Mutex::new(None),
        }
    }

    /// Reads the key sets of `config`, reusing the JWKS caches of `serving`.
    pub(crate) fn load(&self, config: &JwtConfig, serving: &KeySets) -> Result<Loaded, KeyError> {
        // Hashed before reading, so a file that changes meanwhile is read again later.
        let files = files_hash(config);
        let sets = KeySets::load(config, serving, &self.fetch)?;
        Ok(Loaded {
            sets: Arc::new(sets),
            files,
        })
    }

    /// Records that `loaded` serves now.
    pub(crate) fn serving(&self, loaded: &Loaded) {
        *self.serving_files.lock().expect("key files lock") = Some(loaded.files);
    }

    /// Whether a key file of `config` changed since the serving key sets read it.
    pub(crate) fn files_changed(&self, config: &JwtConfig) -> bool {
        *self.serving_files.lock().expect("key files lock") != Some(files_hash(config))
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
