//! JSON Web Token verification for the host's `jwt` import: the config's named key sets
//! loaded once per config (HMAC secrets, PEM public keys, JWKS files and URLs), each
//! pinned to its algorithms; tokens checked for signature, `exp`, `nbf`, `iss` and `aud`;
//! and a revocation list of token ids in the store that every node shares.

mod error;
mod jwks;
mod keys;
mod mint;
mod revoke;
mod verify;

pub use error::{KeyError, VerifyError};
pub use jwks::{FetchFuture, FetchJwks};
pub use keys::{KeySet, KeySets};
pub use mint::mint;
pub use revoke::{RevokeError, revoke, revoke_token};
pub use verify::Verifier;

/// The current Unix time in seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
