//! Minting tokens with an HMAC key set: the `archway token` command's demo tokens.

use archway_config::KeySetConfig;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Map, Value};

use crate::keys::read_secret;

/// Signs `claims` with the key set's secret and first algorithm, adding `iat`, `exp`
/// (`ttl_seconds` from now), a random `jti`, and the set's `iss` and `aud` when set.
pub fn mint(
    key_set: &KeySetConfig,
    mut claims: Map<String, Value>,
    ttl_seconds: u64,
) -> Result<String, String> {
    let source = key_set
        .source()
        .filter(|_| key_set.is_secret())
        .ok_or("only a key set with a secret (secret_file or secret_env) can mint tokens")?;
    let algorithm: Algorithm = key_set
        .algorithms
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or("the key set names no algorithm")?;
    let secret = read_secret(source)?;
    let now = crate::now();
    let mut id = [0_u8; 16];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness for the token id: {e}"))?;
    let jti: String = id.iter().map(|b| format!("{b:02x}")).collect();
    claims.insert("iat".to_owned(), now.into());
    claims.insert("exp".to_owned(), (now + ttl_seconds).into());
    claims.insert("jti".to_owned(), jti.into());
    if let Some(issuer) = &key_set.issuer {
        claims.insert("iss".to_owned(), issuer.clone().into());
    }
    if let Some(audience) = key_set.audience.first() {
        claims.insert("aud".to_owned(), audience.clone().into());
    }
    let key =
        EncodingKey::from_secret(&secret).map_err(|_| "the secret is not usable".to_owned())?;
    encode(&Header::new(algorithm), &Value::Object(claims), &key)
        .map_err(|e| format!("cannot sign: {e}"))
}
