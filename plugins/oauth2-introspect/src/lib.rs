//! First-party `authenticate` plugin: validates opaque OAuth 2.0 Bearer tokens by asking
//! the authorization server (RFC 7662 token introspection) through a named service, and
//! caches active answers in the plugin's store.
//!
//! ```toml
//! [[plugins]]
//! name = "oauth2"
//! builtin = "oauth2-introspect"
//! capabilities = ["upstream", "kv", "log"]   # all three are required
//! upstreams = ["idp"]
//! [plugins.config]
//! service = "idp"                  # required: the [[services]] entry of the authorization server
//! path = "/oauth2/introspect"      # default "/introspect"
//! client_id = "gateway"            # optional, with client_secret: HTTP Basic to the endpoint
//! client_secret = "s3cret"
//! cache_ttl_seconds = 60           # default 60; 0 = ask on every request; at most 86400
//! timeout_ms = 500                 # optional: the introspection call's deadline
//! subject_claim = "sub"            # the claim names (archway_sdk::claims::ClaimNames),
//! tenant_claim = "tenant"          #   each shown with its default
//! roles_claim = "roles"
//! permissions_claim = "permissions"
//!
//! [[services]]
//! name = "idp"
//! url = "https://idp.example.com"
//!
//! [[routes]]
//! id = "orders"
//! service_name = "orders"
//! path_pattern = "/orders/*"
//! authenticate = ["oauth2"]
//! required_permissions = ["orders.read"]    # an OAuth scope grants it
//! ```
//!
//! On each request:
//!
//! - no `Authorization: Bearer` header: no principal (`Ok(None)`), so a later
//!   authenticator or the route's `requires_auth` decides; a Bearer header without a
//!   well-formed token is 401 `invalid_token`;
//! - the token's SHA-256 is looked up in the plugin's `kv`; an answer cached there is used
//!   as long as its `exp` has not passed;
//! - otherwise `POST {path}` on the service, `content-type:
//!   application/x-www-form-urlencoded`, body `token=...&token_type_hint=access_token`;
//! - `{"active": true, ...}` becomes the principal: subject from the subject claim, else
//!   `username`, else `client_id`; tenant, roles and permissions from their claims, and
//!   the `scope` claim's scopes added to the permissions; the whole answer is the
//!   principal's claims. It is cached under the token's SHA-256 (never the token) for
//!   `cache_ttl_seconds`, but never past its `exp`;
//! - `active: false`, an answer without a subject, one with unusable claims, or an `nbf`
//!   still ahead: 401
//!   `www-authenticate: Bearer error="invalid_token"`; an `exp` already past: 401 with
//!   `error_description="token expired"`;
//! - the service unreachable or timing out, a status other than 200, or an answer that
//!   is not an introspection response: 503 (fail closed), and a warning in the gateway's
//!   log naming the service and the cause (never the token).
//!
//! A config with an unknown field, an empty `service`, a `path` not starting with `/`,
//! only one of `client_id`/`client_secret`, `timeout_ms = 0`, an empty claim name or a
//! `cache_ttl_seconds` over a day is refused at load with a message naming the field.

mod encoding;

use std::time::{SystemTime, UNIX_EPOCH};

use archway_sdk::claims::ClaimNames;
use archway_sdk::serde_json::{self, Value};
use archway_sdk::upstream::{self, Call};
use archway_sdk::{Authenticate, Deny, Level, Plugin, Principal, Request, bearer_token, kv, log};
use serde::Deserialize;

/// The longest `cache_ttl_seconds`: a day. Longer would let a revoked token in for days.
const MAX_CACHE_TTL_SECONDS: u64 = 86_400;

/// Claims that name the subject when the configured subject claim is absent (RFC 7662
/// §2.2: a client-credentials token may carry only the client).
const SUBJECT_FALLBACKS: [&str; 2] = ["username", "client_id"];

/// The plugin's `[plugins.config]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The service (in the plugin's `upstreams`) that answers introspection requests.
    pub service: String,
    /// The introspection endpoint's path on that service.
    #[serde(default = "default_path")]
    pub path: String,
    /// The gateway's client id at the authorization server, sent with `client_secret` as
    /// HTTP Basic credentials.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The gateway's client secret.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// How long an active answer is reused; 0 asks on every request.
    #[serde(default = "default_cache_ttl_seconds")]
    pub cache_ttl_seconds: u64,
    /// The introspection call's deadline (the route's remaining time caps it).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// Which claims name the principal's subject, tenant, roles and permissions.
    #[serde(flatten)]
    pub claims: ClaimNames,
}

fn default_path() -> String {
    "/introspect".to_owned()
}

fn default_cache_ttl_seconds() -> u64 {
    60
}

/// The configured introspection client.
pub struct Introspect {
    config: Config,
    /// The `Authorization` header for the endpoint, when client credentials are set.
    authorization: Option<String>,
}

impl Plugin for Introspect {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.service.is_empty() {
            return Err("config: service must name a service in the plugin's upstreams".into());
        }
        if !config.path.starts_with('/') {
            return Err(format!(
                "config: path must start with /, not {:?}",
                config.path
            ));
        }
        if config.timeout_ms == Some(0) {
            return Err("config: timeout_ms must be at least 1".into());
        }
        if config.cache_ttl_seconds > MAX_CACHE_TTL_SECONDS {
            return Err(format!(
                "config: cache_ttl_seconds must be at most {MAX_CACHE_TTL_SECONDS}, not {}",
                config.cache_ttl_seconds
            ));
        }
        config
            .claims
            .validate()
            .map_err(|error| format!("config: {error}"))?;
        let authorization = match (&config.client_id, &config.client_secret) {
            (Some(id), Some(secret)) => Some(encoding::basic_auth(id, secret)),
            (None, None) => None,
            _ => {
                return Err("config: client_id and client_secret must be set together".into());
            }
        };
        Ok(Self {
            config,
            authorization,
        })
    }
}

impl Authenticate for Introspect {
    fn authenticate(&self, request: &Request) -> Result<Option<Principal>, Deny> {
        let Some(token) = bearer_token(request)? else {
            return Ok(None);
        };
        let key = cache_key(&token);
        let now_ms = now_ms();
        if let Some(answer) = self.cached(&key) {
            return self.judge(&answer, now_ms).map(Some);
        }
        let answer = self.introspect(&token)?;
        let principal = self.judge(&answer, now_ms)?;
        self.remember(&key, &answer, now_ms);
        Ok(Some(principal))
    }
}

archway_sdk::export!(Introspect: authenticate);

impl Introspect {
    /// Asks the authorization server about the token; its JSON object answer, or 503.
    fn introspect(&self, token: &str) -> Result<Value, Deny> {
        let service = &self.config.service;
        let mut call = Call::new("POST", service, &self.config.path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(format!(
                "token={}&token_type_hint=access_token",
                encoding::form_encode(token)
            ));
        if let Some(authorization) = &self.authorization {
            call = call.header("authorization", authorization);
        }
        if let Some(ms) = self.config.timeout_ms {
            call = call.timeout_ms(ms);
        }
        let unavailable = |cause: String| {
            log(
                Level::Warn,
                &format!("token introspection at service {service} failed: {cause}"),
            );
            Deny::auth_unavailable()
        };
        let response = upstream::send(&call).map_err(|error| unavailable(format!("{error:?}")))?;
        if response.status != 200 {
            return Err(unavailable(format!("status {}", response.status)));
        }
        let answer: Value = response
            .json_body()
            .map_err(|error| unavailable(format!("the answer is not JSON: {error}")))?;
        if !matches!(answer.get("active"), Some(Value::Bool(_))) {
            return Err(unavailable(
                "the answer is not an object with a boolean `active`".into(),
            ));
        }
        if expires_ms(&answer) == Expiry::Invalid {
            return Err(unavailable(
                "the answer's `exp` is not a number of seconds".into(),
            ));
        }
        Ok(answer)
    }

    /// The principal an introspection answer describes, or why the token is refused.
    fn judge(&self, answer: &Value, now_ms: u64) -> Result<Principal, Deny> {
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err(Deny::invalid_token());
        }
        match expires_ms(answer) {
            Expiry::Invalid => return Err(Deny::invalid_token()),
            Expiry::At(at) if at <= now_ms => return Err(Deny::token_expired()),
            Expiry::At(_) | Expiry::Never => {}
        }
        let not_before_ms = answer
            .get("nbf")
            .and_then(Value::as_u64)
            .map(|s| s.saturating_mul(1000));
        if not_before_ms.is_some_and(|nbf| nbf > now_ms) {
            return Err(Deny::invalid_token());
        }
        self.config
            .claims
            .principal_with_fallbacks(answer, &SUBJECT_FALLBACKS)
            .map_err(|error| {
                log(
                    Level::Debug,
                    &format!("an active token was refused: {error}"),
                );
                Deny::invalid_token()
            })
    }

    /// A cached answer; a store that cannot answer is logged and treated as a miss.
    fn cached(&self, key: &str) -> Option<Value> {
        if self.config.cache_ttl_seconds == 0 {
            return None;
        }
        match kv::get(key) {
            Ok(bytes) => bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok()),
            Err(error) => {
                log(
                    Level::Warn,
                    &format!("token cache unreadable, asking the service: {error:?}"),
                );
                None
            }
        }
    }

    /// Caches an accepted answer for `cache_ttl_seconds`, never past its `exp`.
    fn remember(&self, key: &str, answer: &Value, now_ms: u64) {
        let Some(ttl_ms) = self.cache_ttl_ms(answer, now_ms) else {
            return;
        };
        if let Err(error) = kv::set(key, answer.to_string().as_bytes(), Some(ttl_ms)) {
            log(Level::Warn, &format!("token cache unwritable: {error:?}"));
        }
    }

    /// How long an accepted answer may be reused: `None` when not at all.
    fn cache_ttl_ms(&self, answer: &Value, now_ms: u64) -> Option<u64> {
        let configured = self.config.cache_ttl_seconds.saturating_mul(1000);
        let ttl = match expires_ms(answer) {
            Expiry::At(at) => configured.min(at.saturating_sub(now_ms)),
            Expiry::Never => configured,
            Expiry::Invalid => 0,
        };
        (ttl > 0).then_some(ttl)
    }
}

/// When an answer's token expires.
#[derive(Debug, PartialEq)]
enum Expiry {
    /// No `exp`: the authorization server set no lifetime.
    Never,
    /// At this Unix time in milliseconds.
    At(u64),
    /// An `exp` that is not a non-negative number of seconds.
    Invalid,
}

fn expires_ms(answer: &Value) -> Expiry {
    match answer.get("exp") {
        None | Some(Value::Null) => Expiry::Never,
        Some(exp) => match exp.as_u64() {
            Some(seconds) => Expiry::At(seconds.saturating_mul(1000)),
            // RFC 7519 NumericDate may carry a fraction.
            None => match exp.as_f64() {
                Some(seconds) if seconds >= 0.0 => Expiry::At((seconds * 1000.0) as u64),
                _ => Expiry::Invalid,
            },
        },
    }
}

/// The store key for a token: its SHA-256, so the store never holds a usable token.
fn cache_key(token: &str) -> String {
    format!("token/{}", encoding::sha256_hex(token))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
