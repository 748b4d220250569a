//! Verifying one token with one key set: the header's `alg` must be pinned by the set,
//! a key of that family (and `kid`) must verify the signature, the claims must pass the
//! set's rules, and the token's `jti` must not be revoked.

use std::sync::Arc;

use arc_swap::ArcSwap;
use archway_store::Store;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, Validation, decode, decode_header};
use serde_json::Value;

use crate::VerifyError;
use crate::keys::{Key, KeySets, Keys};
use crate::revoke::is_revoked;

/// The key sets serving now, and the store that holds the revocation list.
#[derive(Debug)]
pub struct Verifier {
    sets: ArcSwap<KeySets>,
    store: Option<Store>,
}

impl Verifier {
    /// A verifier with no key sets yet; without a store nothing is ever revoked.
    pub fn new(store: Option<Store>) -> Self {
        Self {
            sets: ArcSwap::default(),
            store,
        }
    }

    /// Tokens are verified with these key sets from now on.
    pub fn install(&self, sets: Arc<KeySets>) {
        self.sets.store(sets);
    }

    /// Verifies `token` with the key set `name` and returns its claims.
    pub async fn verify(&self, name: &str, token: &str) -> Result<Value, VerifyError> {
        let set = self
            .sets
            .load()
            .get(name)
            .cloned()
            .ok_or_else(|| VerifyError::UnknownKeySet(name.to_owned()))?;
        let header = decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName => VerifyError::InvalidSignature,
            _ => VerifyError::Malformed("not a JWS compact token".to_owned()),
        })?;
        let Some(validation) = set.validation(header.alg) else {
            return Err(VerifyError::InvalidSignature);
        };
        let keys = match &set.keys {
            Keys::Fixed(keys) => keys.clone(),
            Keys::Remote(remote) => remote.keys(header.kid.as_deref()).await?,
        };
        let claims = check(validation, &keys, &header, token)?;
        if let (Some(store), Some(jti)) = (&self.store, claims.get("jti")) {
            let jti = jti
                .as_str()
                .ok_or_else(|| VerifyError::Malformed("jti is not a string".to_owned()))?;
            if is_revoked(store, jti).await? {
                return Err(VerifyError::Revoked);
            }
        }
        Ok(claims)
    }
}

/// Tries each key of the token's family and `kid`; a signature failure moves on to the
/// next key, any other failure (the signature verified, a claim did not) is final.
fn check(
    validation: &Validation,
    keys: &[Key],
    header: &Header,
    token: &str,
) -> Result<Value, VerifyError> {
    let family = header.alg.family();
    let named = |key: &&Key| match (&key.kid, &header.kid) {
        (Some(ours), Some(theirs)) => ours == theirs,
        _ => true,
    };
    for key in keys
        .iter()
        .filter(|k| k.key.family() == family)
        .filter(named)
    {
        match decode::<Value>(token, &key.key, validation) {
            Ok(data) if data.claims.is_object() => return Ok(data.claims),
            Ok(_) => {
                return Err(VerifyError::Malformed(
                    "the claims are not a JSON object".to_owned(),
                ));
            }
            Err(error) => match claim_error(error.kind()) {
                Some(error) => return Err(error),
                None => continue,
            },
        }
    }
    Err(VerifyError::InvalidSignature)
}

/// The verdict for a failure after the signature verified; `None` for a signature (or
/// key) failure, after which another key may still verify.
fn claim_error(kind: &ErrorKind) -> Option<VerifyError> {
    match kind {
        ErrorKind::ExpiredSignature => Some(VerifyError::Expired),
        ErrorKind::ImmatureSignature => Some(VerifyError::NotYetValid),
        ErrorKind::InvalidIssuer => Some(VerifyError::InvalidClaims("iss".to_owned())),
        ErrorKind::InvalidAudience => Some(VerifyError::InvalidClaims("aud".to_owned())),
        ErrorKind::InvalidSubject => Some(VerifyError::InvalidClaims("sub".to_owned())),
        ErrorKind::MissingRequiredClaim(claim) => Some(VerifyError::InvalidClaims(format!(
            "{claim} is missing or not a number/string as required"
        ))),
        ErrorKind::InvalidClaimFormat(claim) => Some(VerifyError::InvalidClaims(format!(
            "{claim} has the wrong type"
        ))),
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => Some(VerifyError::Malformed(
            "the token cannot be decoded".to_owned(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use archway_config::Config;
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;

    use super::*;
    use crate::{FetchFuture, FetchJwks};

    fn keys_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/keys")
    }

    fn private(file: &str) -> EncodingKey {
        let pem = std::fs::read(keys_dir().join(file)).expect("test key");
        match file {
            f if f.starts_with("rsa") => EncodingKey::from_rsa_pem(&pem),
            f if f.starts_with("ec") => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .expect("PEM private key")
    }

    fn secret() -> Vec<u8> {
        std::fs::read(keys_dir().join("hmac.secret")).expect("test secret")
    }

    fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        encode(&header, &claims, key).expect("sign")
    }

    fn later() -> u64 {
        crate::now() + 600
    }

    /// Serves whatever JWKS body it holds now, counting fetches.
    #[derive(Default)]
    struct Jwks {
        body: Mutex<Option<String>>,
        fetches: AtomicUsize,
    }

    impl FetchJwks for Arc<Jwks> {
        fn fetch(&self, _url: &str, _ca: Option<&Path>) -> FetchFuture {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let body = self.body.lock().expect("lock").clone();
            Box::pin(async move { body.map(Into::into).ok_or_else(|| "down".to_owned()) })
        }
    }

    fn jwks(keys: &[(&str, &str, Algorithm)]) -> String {
        let keys = keys
            .iter()
            .map(|(file, kid, alg)| {
                let mut jwk = Jwk::from_encoding_key(&private(file), *alg).expect("jwk");
                jwk.common.key_id = Some((*kid).to_owned());
                jwk
            })
            .collect();
        serde_json::to_string(&JwkSet { keys }).expect("json")
    }

    fn verifier(toml: &str, fetch: Arc<dyn FetchJwks>) -> Verifier {
        let config = Config::from_toml_str(toml, &keys_dir()).expect("config");
        let sets = KeySets::load(&config.jwt, &KeySets::default(), &fetch).expect("key sets");
        let verifier = Verifier::new(None);
        verifier.install(Arc::new(sets));
        verifier
    }

    fn fixed(toml: &str) -> Verifier {
        verifier(toml, Arc::new(Arc::new(Jwks::default())))
    }

    const SETS: &str = r#"
        [jwt.key_sets.hs]
        algorithms = ["HS256"]
        secret_file = "hmac.secret"
        issuer = "https://issuer.test"
        audience = ["api"]
        [jwt.key_sets.rs]
        algorithms = ["RS256"]
        public_key_file = "rsa.pub.pem"
        [jwt.key_sets.es]
        algorithms = ["ES256"]
        public_key_file = "ec.pub.pem"
        [jwt.key_sets.ed]
        algorithms = ["EdDSA"]
        public_key_file = "ed.pub.pem"
    "#;

    #[tokio::test]
    async fn each_family_verifies_its_own_tokens() {
        let v = fixed(SETS);
        let claims = json!({"sub": "alice", "exp": later()});
        for (set, alg, file) in [
            ("rs", Algorithm::RS256, "rsa.key"),
            ("es", Algorithm::ES256, "ec.key"),
            ("ed", Algorithm::EdDSA, "ed.key"),
        ] {
            let token = sign(alg, None, &private(file), claims.clone());
            let verified = v.verify(set, &token).await.expect(set);
            assert_eq!(verified["sub"], "alice");
        }
        let hs = json!({"sub": "bob", "exp": later(), "iss": "https://issuer.test", "aud": "api"});
        let key = EncodingKey::from_secret(&secret()).expect("secret");
        let token = sign(Algorithm::HS256, None, &key, hs);
        assert_eq!(v.verify("hs", &token).await.expect("hs")["sub"], "bob");
    }

    #[tokio::test]
    async fn the_key_set_not_the_token_chooses_the_algorithm() {
        let v = fixed(SETS);
        // HS256 signed with the RSA public key's bytes: classic key confusion.
        let public = std::fs::read(keys_dir().join("rsa.pub.pem")).expect("pem");
        let forged = sign(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(&public).expect("key"),
            json!({"sub": "mallory", "exp": later()}),
        );
        assert_eq!(
            v.verify("rs", &forged).await,
            Err(VerifyError::InvalidSignature)
        );
        let none =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo0MTAyNDQ0ODAwfQ.";
        // `none` is no algorithm the library knows: the header itself is refused.
        assert!(matches!(
            v.verify("rs", none).await,
            Err(VerifyError::Malformed(_))
        ));
        let other_key = sign(
            Algorithm::RS256,
            None,
            &private("rsa2.key"),
            json!({"exp": later()}),
        );
        assert_eq!(
            v.verify("rs", &other_key).await,
            Err(VerifyError::InvalidSignature)
        );
    }

    #[tokio::test]
    async fn claims_are_checked_after_the_signature() {
        let v = fixed(SETS);
        let key = private("rsa.key");
        let token = |claims: Value| sign(Algorithm::RS256, None, &key, claims);
        let now = crate::now();
        let cases = [
            (json!({"exp": now - 120}), VerifyError::Expired),
            (
                json!({"exp": later(), "nbf": now + 120}),
                VerifyError::NotYetValid,
            ),
        ];
        for (claims, expected) in cases {
            assert_eq!(v.verify("rs", &token(claims)).await, Err(expected));
        }
        for claims in [json!({"sub": "a"}), json!({"exp": later().to_string()})] {
            assert!(matches!(
                v.verify("rs", &token(claims)).await,
                Err(VerifyError::InvalidClaims(_))
            ));
        }
        let hs = EncodingKey::from_secret(&secret()).expect("secret");
        for claims in [
            json!({"exp": later(), "iss": "https://other.test", "aud": "api"}),
            json!({"exp": later(), "iss": "https://issuer.test", "aud": "other"}),
            json!({"exp": later(), "aud": "api"}),
        ] {
            let token = sign(Algorithm::HS256, None, &hs, claims);
            assert!(matches!(
                v.verify("hs", &token).await,
                Err(VerifyError::InvalidClaims(_))
            ));
        }
        let genuine = token(json!({"sub": "alice", "exp": later()}));
        let forged_claims = token(json!({"sub": "admin", "exp": later()}));
        let mut parts: Vec<&str> = genuine.split('.').collect();
        parts[1] = forged_claims.split('.').nth(1).expect("payload");
        let tampered = parts.join(".");
        assert_ne!(tampered, genuine);
        assert_eq!(
            v.verify("rs", &tampered).await,
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(
            v.verify("missing", &token(json!({}))).await,
            Err(VerifyError::UnknownKeySet("missing".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_jwks_url_is_fetched_on_an_unknown_kid_at_most_once_per_interval() {
        let jwks_server = Arc::new(Jwks::default());
        *jwks_server.body.lock().expect("lock") =
            Some(jwks(&[("rsa.key", "one", Algorithm::RS256)]));
        let v = verifier(
            r#"
            [jwt.key_sets.idp]
            algorithms = ["RS256", "ES256"]
            jwks_url = "http://127.0.0.1:1/jwks.json"
            jwks_min_refresh_seconds = 3600
            "#,
            Arc::new(jwks_server.clone()),
        );
        let claims = json!({"sub": "a", "exp": later()});
        let one = sign(
            Algorithm::RS256,
            Some("one"),
            &private("rsa.key"),
            claims.clone(),
        );
        let two = sign(Algorithm::ES256, Some("two"), &private("ec.key"), claims);
        let first = v.verify("idp", &one).await;
        assert!(first.is_ok(), "{first:?} {:?}", jwks_server.body.lock());
        assert_eq!(jwks_server.fetches.load(Ordering::SeqCst), 1);
        // Rotated on the issuer's side, but the interval has not passed: not fetched again.
        *jwks_server.body.lock().expect("lock") = Some(jwks(&[
            ("rsa.key", "one", Algorithm::RS256),
            ("ec.key", "two", Algorithm::ES256),
        ]));
        assert_eq!(
            v.verify("idp", &two).await,
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(jwks_server.fetches.load(Ordering::SeqCst), 1);
        // The issuer goes down: the cached key still verifies.
        *jwks_server.body.lock().expect("lock") = None;
        assert!(v.verify("idp", &one).await.is_ok());
    }

    #[test]
    fn bad_key_material_refuses_the_key_set_without_showing_it() {
        let fetch: Arc<dyn FetchJwks> = Arc::new(Arc::new(Jwks::default()));
        let load = |toml: &str| {
            let config = Config::from_toml_str(toml, &keys_dir()).expect("config");
            KeySets::load(&config.jwt, &KeySets::default(), &fetch).map(|_| ())
        };
        let wrong_family =
            load("[jwt.key_sets.k]\nalgorithms = [\"ES256\"]\npublic_key_file = \"rsa.pub.pem\"\n")
                .expect_err("an RSA key for ES256");
        assert!(
            wrong_family.to_string().contains("not a PEM Ec public key"),
            "{wrong_family}"
        );
        let unset = load(
            "[jwt.key_sets.k]\nalgorithms = [\"HS256\"]\nsecret_env = \"ARCHWAY_TEST_UNSET\"\n",
        );
        assert!(
            unset
                .expect_err("unset")
                .to_string()
                .contains("ARCHWAY_TEST_UNSET")
        );
        // A short secret is refused by its length, never shown.
        let dir = tempfile::tempdir().expect("temp dir");
        let short = dir.path().join("short.secret");
        std::fs::write(&short, "a-secret-of-31-bytes-xxxxxxxxxx\n").expect("written");
        let refused = load(&format!(
            "[jwt.key_sets.k]\nalgorithms = [\"HS256\"]\nsecret_file = {short:?}\n"
        ))
        .expect_err("31 bytes")
        .to_string();
        assert!(
            refused.contains("the secret is 31 bytes; HS256 needs at least 32"),
            "{refused}"
        );
        assert!(!refused.contains("a-secret"), "{refused}");
        std::fs::write(&short, [b'k'; 48]).expect("written");
        let hs512 =
            format!("[jwt.key_sets.k]\nalgorithms = [\"HS512\"]\nsecret_file = {short:?}\n");
        assert!(load(&hs512).is_err(), "HS512 needs 64 bytes");
        assert!(
            load(&hs512.replace("HS512", "HS384")).is_ok(),
            "HS384 needs 48"
        );
        let missing = load("[jwt.key_sets.k]\nalgorithms = [\"HS256\"]\nsecret_file = \"nope\"\n");
        assert!(
            missing
                .expect_err("no file")
                .to_string()
                .contains("cannot read secret_file")
        );
    }
}
