//! JSON Web Key Sets: parsing one into keys, and the cache of a set fetched from a URL.
//! Fetched keys are fetched again when older than the set's max age, and at most once
//! per `jwks_min_refresh_seconds` when a token names a `kid` they lack; while the issuer
//! is down, the keys last fetched keep verifying.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use archway_config::KeySetConfig;
use bytes::Bytes;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use tokio::time::Instant;

use crate::VerifyError;
use crate::keys::Key;

/// How long one JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// While no keys were ever fetched, a fetch is retried at least this often.
const NO_KEYS_RETRY: Duration = Duration::from_secs(5);

/// The future of one JWKS fetch: the response body, or why there is none.
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>>;

/// Fetches a JWKS document over HTTP; the proxy implements it with its TLS clients.
pub trait FetchJwks: Send + Sync + 'static {
    /// GETs `url`, trusting the CA certificates in `ca_file` when given (else the
    /// system's roots), and returns the body of a 200 response.
    fn fetch(&self, url: &str, ca_file: Option<&Path>) -> FetchFuture;
}

/// The usable keys of a JWKS document; keys of unsupported types are skipped.
pub(crate) fn parse_jwks(text: &[u8]) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| format!("not a JWKS: {e}"))?;
    let keys: Vec<Key> = set
        .keys
        .iter()
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(jwk).ok()?;
            (key.family() != jsonwebtoken::AlgorithmFamily::Hmac).then(|| Key {
                kid: jwk.common.key_id.clone(),
                key,
            })
        })
        .collect();
    if keys.is_empty() {
        return Err("no usable public key".to_owned());
    }
    Ok(keys)
}

/// Keys fetched at one moment.
struct Fetched {
    keys: Arc<[Key]>,
    at: Instant,
}

impl Fetched {
    fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The cached keys of one JWKS URL.
pub(crate) struct RemoteKeys {
    name: String,
    url: String,
    ca_file: Option<PathBuf>,
    max_age: Duration,
    min_refresh: Duration,
    fetch: Arc<dyn FetchJwks>,
    current: ArcSwapOption<Fetched>,
    /// When the last fetch started; taken while fetching, so one fetch runs at a time.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    /// The last failure, logged once per change rather than per request.
    last_error: Mutex<Option<String>>,
}

impl RemoteKeys {
    pub(crate) fn new(
        name: &str,
        url: &str,
        config: &KeySetConfig,
        fetch: Arc<dyn FetchJwks>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            ca_file: config.jwks_ca_file.clone(),
            max_age: Duration::from_secs(config.jwks_max_age_seconds),
            min_refresh: Duration::from_secs(config.jwks_min_refresh_seconds),
            fetch,
            current: ArcSwapOption::empty(),
            last_attempt: tokio::sync::Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    /// The keys to verify a token naming `kid` with: fetched first when there are none
    /// yet or they lack `kid`, as far as the refresh interval allows; keys only older
    /// than the max age keep verifying while a fetch runs in the background.
    pub(crate) async fn keys(
        self: &Arc<Self>,
        kid: Option<&str>,
    ) -> Result<Arc<[Key]>, VerifyError> {
        match &*self.current.load() {
            Some(fetched) if kid.is_none_or(|kid| fetched.has(kid)) => {
                if fetched.at.elapsed() >= self.max_age {
                    let this = self.clone();
                    tokio::spawn(async move { this.refresh(None).await });
                }
                return Ok(fetched.keys.clone());
            }
            _ => self.refresh(kid).await,
        }
        self.current
            .load()
            .as_ref()
            .map(|fetched| fetched.keys.clone())
            .ok_or_else(|| {
                VerifyError::Unavailable(format!("the keys of {} cannot be fetched", self.name))
            })
    }

    fn wants_fetch(&self, kid: Option<&str>) -> bool {
        match &*self.current.load() {
            None => true,
            Some(fetched) => {
                fetched.at.elapsed() >= self.max_age || kid.is_some_and(|kid| !fetched.has(kid))
            }
        }
    }

    /// Fetches once, unless another caller fetched meanwhile or the last attempt was
    /// under `min_refresh` ago; on failure the keys already held stay. A background
    /// refresh finding one under way leaves it be.
    async fn refresh(&self, kid: Option<&str>) {
        let mut last_attempt = match kid {
            None if self.current.load().is_some() => match self.last_attempt.try_lock() {
                Ok(guard) => guard,
                Err(_) => return,
            },
            _ => self.last_attempt.lock().await,
        };
        let interval = match self.current.load().is_some() {
            true => self.min_refresh,
            false => self.min_refresh.min(NO_KEYS_RETRY),
        };
        if last_attempt.is_some_and(|at| at.elapsed() < interval) || !self.wants_fetch(kid) {
            return;
        }
        *last_attempt = Some(Instant::now());
        let fetched = tokio::time::timeout(
            FETCH_TIMEOUT,
            self.fetch.fetch(&self.url, self.ca_file.as_deref()),
        )
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {FETCH_TIMEOUT:?}")))
        .and_then(|body| parse_jwks(&body));
        match fetched {
            Ok(keys) => {
                tracing::info!(target: "archway.jwt", key_set = self.name, keys = keys.len(), "JWKS fetched");
                self.current.store(Some(Arc::new(Fetched {
                    keys: keys.into(),
                    at: Instant::now(),
                })));
                *self.last_error.lock().expect("jwks error lock") = None;
            }
            Err(error) => {
                let mut last = self.last_error.lock().expect("jwks error lock");
                if last.as_deref() != Some(error.as_str()) {
                    tracing::warn!(target: "archway.jwt", key_set = self.name, url = self.url, error, "JWKS fetch failed; cached keys (if any) keep verifying");
                    *last = Some(error);
                }
            }
        }
    }
}
