//! Key sets as loaded from config: secrets and public keys read from their files or
//! environment variables, each set pinned to its algorithms and claim rules.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use archway_config::{JwtConfig, KeySetConfig, KeySource};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::KeyError;
use crate::jwks::{FetchJwks, RemoteKeys, parse_jwks};

/// One verification key, with the `kid` it is published under (if any).
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
}

/// Where a set's keys are: read once at load, or fetched and cached.
pub(crate) enum Keys {
    Fixed(Arc<[Key]>),
    Remote(Arc<RemoteKeys>),
}

/// One named key set, ready to verify.
pub struct KeySet {
    pub(crate) config: KeySetConfig,
    pub(crate) keys: Keys,
    /// The claim rules for each pinned algorithm (the library checks one family at a time).
    validations: Vec<(Algorithm, Validation)>,
}

impl fmt::Debug for KeySet {
    /// Names the settings, never the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("algorithms", &self.config.algorithms)
            .field("source", &self.config.source())
            .finish_non_exhaustive()
    }
}

/// Every key set of one config, by name.
#[derive(Debug, Default)]
pub struct KeySets {
    sets: HashMap<String, Arc<KeySet>>,
}

impl KeySets {
    /// Loads every key set of `config`. A JWKS URL set whose settings did not change
    /// since `previous` keeps its cached keys; nothing is fetched here.
    pub fn load(
        config: &JwtConfig,
        previous: &KeySets,
        fetch: &Arc<dyn FetchJwks>,
    ) -> Result<KeySets, KeyError> {
        let mut sets = HashMap::new();
        for (name, settings) in &config.key_sets {
            let reused = previous
                .sets
                .get(name)
                .filter(|set| set.config == *settings && matches!(set.keys, Keys::Remote(_)));
            let set = match reused {
                Some(set) => set.clone(),
                None => Arc::new(KeySet::load(name, settings, fetch)?),
            };
            sets.insert(name.clone(), set);
        }
        Ok(KeySets { sets })
    }

    /// The key set of this name.
    pub fn get(&self, name: &str) -> Option<&Arc<KeySet>> {
        self.sets.get(name)
    }
}

impl KeySet {
    fn load(
        name: &str,
        config: &KeySetConfig,
        fetch: &Arc<dyn FetchJwks>,
    ) -> Result<Self, KeyError> {
        let error = |reason: String| KeyError {
            key_set: name.to_owned(),
            reason,
        };
        let algorithms = config
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| error(format!("unknown algorithm {a}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match config.source() {
            Some(KeySource::JwksUrl(url)) => {
                Keys::Remote(Arc::new(RemoteKeys::new(name, url, config, fetch.clone())))
            }
            Some(source) => Keys::Fixed(fixed_keys(source, &algorithms).map_err(error)?.into()),
            None => return Err(error("no single key source".to_owned())),
        };
        Ok(Self {
            config: config.clone(),
            validations: algorithms
                .iter()
                .map(|&algorithm| (algorithm, validation(config, algorithm)))
                .collect(),
            keys,
        })
    }

    /// The claim rules for tokens signed with `algorithm`; `None` when the set does not
    /// accept it.
    pub(crate) fn validation(&self, algorithm: Algorithm) -> Option<&Validation> {
        self.validations
            .iter()
            .find(|(pinned, _)| *pinned == algorithm)
            .map(|(_, validation)| validation)
    }
}

/// The claim rules: `exp` always required; `nbf` checked when present; `iss` and `aud`
/// required and checked when configured.
fn validation(config: &KeySetConfig, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = config.leeway_seconds;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    if config.audience.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(&config.audience);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Keys read from a secret, a PEM file or a JWKS file.
fn fixed_keys(source: KeySource<'_>, algorithms: &[Algorithm]) -> Result<Vec<Key>, String> {
    let unnamed = |key: DecodingKey| vec![Key { kid: None, key }];
    match source {
        KeySource::SecretFile(_) | KeySource::SecretEnv(_) => {
            let secret = read_secret(source, algorithms)?;
            DecodingKey::from_secret(&secret)
                .map(unnamed)
                .map_err(|_| "the secret is not usable".to_owned())
        }
        KeySource::PublicKeyFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read public_key_file {}: {e}", path.display()))?;
            let family = algorithms[0].family();
            if algorithms.iter().any(|a| a.family() != family) {
                return Err("one public key verifies one family of algorithms".to_owned());
            }
            let key = match family {
                jsonwebtoken::AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
                jsonwebtoken::AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
                jsonwebtoken::AlgorithmFamily::Ed => DecodingKey::from_ed_pem(&pem),
                _ => return Err("public keys cannot verify HS* algorithms".to_owned()),
            };
            key.map(unnamed).map_err(|_| {
                format!(
                    "public_key_file {} is not a PEM {family:?} public key",
                    path.display()
                )
            })
        }
        KeySource::JwksFile(path) => {
            let text = std::fs::read(path)
                .map_err(|e| format!("cannot read jwks_file {}: {e}", path.display()))?;
            parse_jwks(&text).map_err(|e| format!("jwks_file {}: {e}", path.display()))
        }
        KeySource::JwksUrl(_) => Err("a JWKS URL is fetched, not read".to_owned()),
    }
}

/// An HMAC secret from its file (one trailing newline ignored) or environment variable,
/// at least as long as the digest of every algorithm it signs for (RFC 7518 3.2).
pub(crate) fn read_secret(
    source: KeySource<'_>,
    algorithms: &[Algorithm],
) -> Result<Vec<u8>, String> {
    let mut secret = match source {
        KeySource::SecretFile(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read secret_file {}: {e}", path.display()))?,
        KeySource::SecretEnv(name) => std::env::var_os(name)
            .ok_or_else(|| format!("environment variable {name} (secret_env) is not set"))?
            .into_encoded_bytes(),
        _ => return Err("the key set has no secret".to_owned()),
    };
    for end in [b"\n".as_slice(), b"\r"] {
        if secret.ends_with(end) {
            secret.pop();
        }
    }
    let needed = algorithms
        .iter()
        .map(|algorithm| match algorithm {
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 32,
        })
        .max()
        .unwrap_or(32);
    if secret.len() < needed {
        return Err(format!(
            "the secret is {} bytes; {} needs at least {needed}",
            secret.len(),
            algorithms
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    Ok(secret)
}
