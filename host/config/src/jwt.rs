//! The `[jwt]` section: named key sets that the host's `jwt` import verifies tokens
//! against. Key material never sits in the config text: secrets and keys come from files
//! or environment variables, so neither logs nor `archway check` can show them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The largest `leeway_seconds`: revocation entries outlive their token by this much.
pub const MAX_LEEWAY_SECONDS: u64 = 300;

/// The JWT algorithms a key set may pin, by their JOSE names.
const ALGORITHMS: [&str; 12] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// Token verification settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// Key sets by name; plugins are granted them by name (`key_sets = [...]`).
    pub key_sets: BTreeMap<String, KeySetConfig>,
}

/// One key set: where its keys come from, the algorithms it accepts, and the claims a
/// token must carry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeySetConfig {
    /// The only algorithms accepted: a token's `alg` never chooses the key type.
    pub algorithms: Vec<String>,
    /// A file holding an HMAC secret (its bytes, one trailing newline ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding an HMAC secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// A PEM file of one RSA, EC or Ed25519 public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS (JSON Web Key Set) file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL the host fetches and caches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// For an `https` JWKS URL: a PEM file of the CA certificates to trust instead of
    /// the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_ca_file: Option<PathBuf>,
    /// Fetched keys are fetched again when older than this (kept if that fails).
    #[serde(default = "default_jwks_max_age_seconds")]
    pub jwks_max_age_seconds: u64,
    /// A token with an unknown `kid` fetches the keys again at most this often.
    #[serde(default = "default_jwks_min_refresh_seconds")]
    pub jwks_min_refresh_seconds: u64,
    /// When set, a token's `iss` must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// When not empty, a token's `aud` must name one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    /// Clock skew allowed when checking `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway_seconds")]
    pub leeway_seconds: u64,
}

fn default_jwks_max_age_seconds() -> u64 {
    3600
}
fn default_jwks_min_refresh_seconds() -> u64 {
    60
}
fn default_leeway_seconds() -> u64 {
    30
}

/// Where a key set's keys come from: exactly one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource<'a> {
    /// An HMAC secret in a file.
    SecretFile(&'a Path),
    /// An HMAC secret in an environment variable.
    SecretEnv(&'a str),
    /// A PEM public key file.
    PublicKeyFile(&'a Path),
    /// A JWKS file.
    JwksFile(&'a Path),
    /// A JWKS URL.
    JwksUrl(&'a str),
}

impl KeySetConfig {
    /// The key set's one source; `None` when it names none or several (refused at load).
    pub fn source(&self) -> Option<KeySource<'_>> {
        let sources = [
            self.secret_file.as_deref().map(KeySource::SecretFile),
            self.secret_env.as_deref().map(KeySource::SecretEnv),
            self.public_key_file
                .as_deref()
                .map(KeySource::PublicKeyFile),
            self.jwks_file.as_deref().map(KeySource::JwksFile),
            self.jwks_url.as_deref().map(KeySource::JwksUrl),
        ];
        let mut named = sources.into_iter().flatten();
        match (named.next(), named.next()) {
            (Some(source), None) => Some(source),
            _ => None,
        }
    }

    /// Whether the set verifies with a shared secret (HMAC) rather than public keys.
    pub fn is_secret(&self) -> bool {
        matches!(
            self.source(),
            Some(KeySource::SecretFile(_) | KeySource::SecretEnv(_))
        )
    }

    pub(crate) fn resolve(&mut self, base: &Path) {
        for path in [
            &mut self.secret_file,
            &mut self.public_key_file,
            &mut self.jwks_file,
            &mut self.jwks_ca_file,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// What is wrong with the key set's settings, without reading any key.
    pub(crate) fn problems(&self, name: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut say = |problem: String| problems.push(format!("jwt key set {name}: {problem}"));
        if self.algorithms.is_empty() {
            say("algorithms must name at least one algorithm".to_owned());
        }
        for algorithm in &self.algorithms {
            if !ALGORITHMS.contains(&algorithm.as_str()) {
                say(format!(
                    "algorithm {algorithm:?} is not one of {}",
                    ALGORITHMS.join(", ")
                ));
            }
        }
        let hmac = self
            .algorithms
            .iter()
            .filter(|a| a.starts_with("HS"))
            .count();
        match self.source() {
            None => say(
                "name exactly one of secret_file, secret_env, public_key_file, jwks_file, jwks_url"
                    .to_owned(),
            ),
            Some(KeySource::SecretFile(_) | KeySource::SecretEnv(_))
                if hmac != self.algorithms.len() =>
            {
                say("a secret verifies HS256, HS384 or HS512 only".to_owned())
            }
            Some(KeySource::PublicKeyFile(_) | KeySource::JwksFile(_) | KeySource::JwksUrl(_))
                if hmac > 0 =>
            {
                say("public keys cannot verify HS* algorithms (that is key confusion)".to_owned())
            }
            Some(KeySource::JwksUrl(url))
                if !url.starts_with("https://") && !loopback_http(url) =>
            {
                say(format!(
                    "jwks_url {url:?} must be https:// (plain http:// only to 127.0.0.1, [::1] \
                     or localhost): keys fetched in the clear can be replaced on the way"
                ))
            }
            _ => {}
        }
        if self.jwks_ca_file.is_some()
            && !self
                .jwks_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        {
            say("jwks_ca_file is set but jwks_url is not https://".to_owned());
        }
        if self.jwks_min_refresh_seconds == 0 || self.jwks_max_age_seconds == 0 {
            say("jwks_max_age_seconds and jwks_min_refresh_seconds must be at least 1".to_owned());
        }
        if self.leeway_seconds > MAX_LEEWAY_SECONDS {
            say(format!(
                "leeway_seconds must be at most {MAX_LEEWAY_SECONDS}"
            ));
        }
        if self.issuer.as_deref() == Some("") || self.audience.iter().any(String::is_empty) {
            say("issuer and audience values must not be empty".to_owned());
        }
        problems
    }
}

/// Whether `url` is plain HTTP to this machine, where nobody sits on the way.
fn loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
