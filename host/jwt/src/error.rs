//! Why a key set could not be loaded, and why a token was not accepted.

/// A key set that cannot be used: the config is refused with this.
#[derive(Debug, thiserror::Error)]
#[error("jwt key set {key_set}: {reason}")]
pub struct KeyError {
    /// The key set's name.
    pub key_set: String,
    /// What is wrong, without any key material.
    pub reason: String,
}

/// Why a token was not accepted. The messages name the failed check only, never key
/// material or parser internals.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a well-formed JWT.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The signature does not verify with any key of the set (or its `alg` is not pinned).
    #[error("invalid signature")]
    InvalidSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` lies in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// The token's `jti` is on the revocation list.
    #[error("token revoked")]
    Revoked,
    /// No key set of that name is configured.
    #[error("no key set named {0}")]
    UnknownKeySet(String),
    /// A required claim is missing or wrong.
    #[error("invalid claims: {0}")]
    InvalidClaims(String),
    /// The keys or the revocation list cannot be read now.
    #[error("unavailable: {0}")]
    Unavailable(String),
}
