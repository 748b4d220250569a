//! `revoked-tokens`: revokes a JWT by its id (`jti`), on every node, until the token
//! would have expired anyway. The token itself is never stored or echoed.

use archway_jwt::RevokeError;
use archway_proxy::timestamp;
use archway_runtime::AdminError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::input;
use super::{AdminApi, store_unavailable};

/// What to revoke: a token (its `jti` and `exp` are read from it), or a `jti` with the
/// token's expiry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revocation {
    token: Option<String>,
    jti: Option<String>,
    /// Unix seconds.
    expires_at: Option<u64>,
}

/// Revokes one token id.
pub(super) async fn revoke(api: &AdminApi, body: Map<String, Value>) -> Result<Value, AdminError> {
    let revocation: Revocation = input::record(body)?;
    let store = api.state.store();
    let (jti, expires_at) = match revocation {
        Revocation {
            token: Some(token),
            jti: None,
            expires_at: None,
        } => archway_jwt::revoke_token(store, &token)
            .await
            .map_err(|error| refused("token", error))?,
        Revocation {
            token: None,
            jti: Some(jti),
            expires_at: Some(expires_at),
        } => {
            archway_jwt::revoke(store, &jti, expires_at)
                .await
                .map_err(|error| refused("jti", error))?;
            (jti, expires_at)
        }
        _ => {
            return Err(AdminError::invalid(
                "token",
                "send either token, or jti with the token's expires_at (Unix seconds)",
            ));
        }
    };
    Ok(json!({
        "id": jti,
        "jti": jti,
        "expires_at": timestamp::format(expires_at),
        "revoked_at": timestamp::now(),
    }))
}

fn refused(field: &str, error: RevokeError) -> AdminError {
    match error {
        RevokeError::Invalid(why) => AdminError::invalid(field, why),
        RevokeError::Store(error) => store_unavailable(&error),
    }
}
