//! The JWT key sets of the serving config: loaded with each config (one whose keys
//! cannot be read is refused, like a plugin that fails), installed in the verifier once
//! that config serves, and keeping the cached keys of unchanged JWKS URLs across reloads.

use std::sync::Arc;

use archway_config::JwtConfig;
use archway_jwt::{FetchJwks, KeyError, KeySets, Verifier};
use archway_proxy::{Clients, JwksClient};

/// Loads key sets for the verifier that plugins' `jwt` calls use.
pub(crate) struct KeySetLoader {
    verifier: Arc<Verifier>,
    fetch: Arc<dyn FetchJwks>,
}

impl KeySetLoader {
    /// Loads for `verifier`, fetching JWKS URLs with `clients`.
    pub(crate) fn new(verifier: Arc<Verifier>, clients: Arc<Clients>) -> Self {
        Self {
            verifier,
            fetch: Arc::new(JwksClient::new(clients)),
        }
    }

    /// Reads the key sets of `config`, reusing the serving ones' JWKS caches.
    pub(crate) fn load(&self, config: &JwtConfig) -> Result<Arc<KeySets>, KeyError> {
        KeySets::load(config, &self.verifier.current(), &self.fetch).map(Arc::new)
    }

    /// Tokens verify with `sets` from now on.
    pub(crate) fn install(&self, sets: Arc<KeySets>) {
        self.verifier.install(sets);
    }
}
