//! Minting tokens for a key set: the `archway token` command's demo and test tokens,
//! signed with the set's HMAC secret or with the private key of its public key.

use std::path::Path;

use archway_config::KeySetConfig;
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey, Header, encode};
use serde_json::{Map, Value};

use crate::keys::read_secret;

/// Signs `claims` with the key set's first algorithm, adding `iat`, `exp` (`ttl_seconds`
/// from now), a random `jti`, and the set's `iss` and `aud` when set. An HMAC set signs
/// with its secret; any other needs `private_key`, a PEM private key file.
pub fn mint(
    key_set: &KeySetConfig,
    private_key: Option<&Path>,
    mut claims: Map<String, Value>,
    ttl_seconds: u64,
) -> Result<String, String> {
    let algorithm: Algorithm = key_set
        .algorithms
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or("the key set names no algorithm")?;
    let key = signing_key(key_set, private_key, algorithm)?;
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
    encode(&Header::new(algorithm), &Value::Object(claims), &key)
        .map_err(|e| format!("cannot sign: {e}"))
}

/// The key to sign with: the set's secret, or the private key file given.
fn signing_key(
    key_set: &KeySetConfig,
    private_key: Option<&Path>,
    algorithm: Algorithm,
) -> Result<EncodingKey, String> {
    let source = key_set
        .source()
        .ok_or("the key set has no single key source")?;
    if key_set.is_secret() {
        let secret = read_secret(source, &[algorithm])?;
        return EncodingKey::from_secret(&secret)
            .map_err(|_| "the secret is not usable".to_owned());
    }
    let path = private_key.ok_or("a key set of public keys needs --private-key to sign with")?;
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let key = match algorithm.family() {
        AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    };
    key.map_err(|_| format!("{} is not a PEM {algorithm:?} private key", path.display()))
}
