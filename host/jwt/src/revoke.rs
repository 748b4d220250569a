//! The revocation list: token ids (`jti`) in the store, shared by every node, each entry
//! expiring once its token could no longer verify anyway.

use std::time::Duration;

use archway_store::{Store, StoreError};

use crate::VerifyError;

/// Store keys of revoked token ids.
const PREFIX: &str = "archway/jwt/revoked/";
/// The longest token id accepted.
const MAX_JTI_BYTES: usize = 256;

/// Why a token could not be revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The token or id is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The store did not take the entry.
    #[error("the store refused the revocation: {0}")]
    Store(#[from] StoreError),
}

/// Revokes the token id `jti`, whose token expires at `expires_at` (Unix seconds).
pub async fn revoke(store: &Store, jti: &str, expires_at: u64) -> Result<(), RevokeError> {
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(RevokeError::Invalid(format!(
            "a jti is 1-{MAX_JTI_BYTES} bytes"
        )));
    }
    // Outlives the token's `exp` by the largest leeway a key set may allow.
    let ttl = expires_at.saturating_sub(crate::now()) + archway_config::MAX_LEEWAY_SECONDS;
    store
        .set(
            &format!("{PREFIX}{jti}"),
            b"1",
            Some(Duration::from_secs(ttl)),
        )
        .await?;
    Ok(())
}

/// Revokes a token by its `jti` and `exp` claims, read without verifying it: revoking
/// a forged token is harmless, and the token may come from any key set. Returns the
/// `jti` and `exp`.
pub async fn revoke_token(store: &Store, token: &str) -> Result<(String, u64), RevokeError> {
    let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .map_err(|_| RevokeError::Invalid("not a JWT".to_owned()))?;
    let jti = claims["jti"].as_str().ok_or_else(|| {
        RevokeError::Invalid(
            "the token has no jti claim, so it cannot be revoked alone; rotate its key set"
                .to_owned(),
        )
    })?;
    let exp = claims["exp"]
        .as_u64()
        .ok_or_else(|| RevokeError::Invalid("the token has no numeric exp claim".to_owned()))?;
    revoke(store, jti, exp).await?;
    Ok((jti.to_owned(), exp))
}

/// Whether `jti` is revoked; a store that cannot answer makes the token unverifiable.
pub(crate) async fn is_revoked(store: &Store, jti: &str) -> Result<bool, VerifyError> {
    if jti.len() > MAX_JTI_BYTES {
        return Err(VerifyError::Malformed("jti is too long".to_owned()));
    }
    store
        .get(&format!("{PREFIX}{jti}"))
        .await
        .map(|entry| entry.is_some())
        .map_err(|e| VerifyError::Unavailable(format!("the revocation list cannot be read: {e}")))
}
