//! The `jwt` import: a plugin verifies tokens with the key sets its `key_sets` grants;
//! the keys, the checks and the revocation list are the host's ([`archway_jwt`]).

use std::sync::Arc;

use archway_jwt::{Verifier, VerifyError};

use crate::bindings::jwt::{self, JwtError};
use crate::host::HostState;

/// The verifier and the key sets a plugin granted `jwt` may use.
#[derive(Clone)]
pub(crate) struct JwtGrant {
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) key_sets: Arc<[String]>,
}

impl jwt::Host for HostState {
    async fn verify(&mut self, token: String, key_set: String) -> Result<String, JwtError> {
        let Some(grant) = &self.jwt else {
            return Err(JwtError::Unavailable(
                "this gateway process verifies no tokens".to_owned(),
            ));
        };
        if !grant.key_sets.contains(&key_set) {
            return Err(JwtError::UnknownKeySet(format!(
                "key set {key_set} is not in plugin {}'s key_sets",
                self.plugin
            )));
        }
        let claims = grant.verifier.verify(&key_set, &token).await;
        claims.map(|claims| claims.to_string()).map_err(guest_error)
    }
}

fn guest_error(error: VerifyError) -> JwtError {
    match error {
        VerifyError::Malformed(why) => JwtError::Malformed(why),
        VerifyError::InvalidSignature => JwtError::InvalidSignature,
        VerifyError::Expired => JwtError::Expired,
        VerifyError::NotYetValid => JwtError::NotYetValid,
        VerifyError::Revoked => JwtError::Revoked,
        VerifyError::UnknownKeySet(name) => JwtError::UnknownKeySet(name),
        VerifyError::InvalidClaims(why) => JwtError::InvalidClaims(why),
        VerifyError::Unavailable(why) => JwtError::Unavailable(why),
    }
}
