//! First-party `authenticate` plugin: a Bearer JWT, verified by the host's `jwt` import
//! with one configured key set, becomes the principal; its claims name the subject,
//! tenant, roles and permissions (a space-separated `scope` adds permissions).
//!
//! ```toml
//! [[plugins]]
//! name = "jwt"
//! builtin = "jwt-auth"
//! capabilities = ["jwt", "log"]     # log: why a token was refused (debug)
//! key_sets = ["users"]               # the [jwt.key_sets] the plugin may use
//! [plugins.config]
//! key_set = "users"                  # required: the key set tokens verify with
//! subject_claim = "sub"              # these four are the defaults
//! tenant_claim = "tenant"
//! roles_claim = "roles"
//! permissions_claim = "permissions"
//! ```
//!
//! No `Authorization: Bearer` header, or a bearer token that is not shaped like a JWT
//! (an opaque OAuth token), gives `none`: the next authenticator may know it. A token
//! that fails gives 401 with `WWW-Authenticate: Bearer error="invalid_token"` and only
//! "invalid token" or "token expired"; the reason is logged at debug level, never sent.
//! When the keys or the revocation list cannot be read the answer is 503.

use archway_sdk::claims::ClaimNames;
use archway_sdk::jwt::{self, JwtError};
use archway_sdk::{Authenticate, Deny, Level, Plugin, Principal, Request, bearer_token, log};
use serde::Deserialize;

/// The plugin's config.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The key set tokens verify with; the plugin's `key_sets` must grant it.
    pub key_set: String,
    /// Which claims name the principal's parts.
    #[serde(flatten)]
    pub claims: ClaimNames,
}

/// Verifies Bearer JWTs with one key set.
pub struct JwtAuth {
    config: Config,
}

impl Plugin for JwtAuth {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.key_set.is_empty() {
            return Err("config: key_set must name a key set".to_owned());
        }
        config.claims.validate()?;
        Ok(Self { config })
    }
}

impl Authenticate for JwtAuth {
    fn authenticate(&self, request: &Request) -> Result<Option<Principal>, Deny> {
        let Some(token) = bearer_token(request)? else {
            return Ok(None);
        };
        if !jwt::looks_like_jwt(&token) {
            return Ok(None);
        }
        let claims = jwt::verify(&token, &self.config.key_set).map_err(refusal)?;
        self.config
            .claims
            .principal(&claims)
            .map(Some)
            .map_err(|error| {
                log(Level::Debug, &format!("token refused: {error}"));
                Deny::invalid_token()
            })
    }
}

/// What the client is told: expired, unavailable, or just invalid.
fn refusal(error: JwtError) -> Deny {
    log(Level::Debug, &format!("token refused: {error:?}"));
    match error {
        JwtError::Expired => Deny::token_expired(),
        JwtError::Unavailable(why) => {
            log(Level::Warn, &format!("cannot verify tokens: {why}"));
            Deny::auth_unavailable()
        }
        JwtError::UnknownKeySet(why) => {
            log(Level::Error, &format!("misconfigured: {why}"));
            Deny::auth_unavailable()
        }
        _ => Deny::invalid_token(),
    }
}

archway_sdk::export!(JwtAuth: authenticate);

#[cfg(test)]
mod tests {
    use archway_sdk::FakeRequest;
    use archway_sdk::serde_json::json;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";

    fn plugin() -> JwtAuth {
        jwt::fake::answer("users", |token| match token {
            TOKEN => Ok(
                json!({"sub": "alice", "tenant": "acme", "roles": ["admin"], "scope": "orders.read orders.write"}),
            ),
            "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln" => Err(JwtError::Expired),
            "eyJhbGciOiJIUzI1NiJ9.e30.c2ln" => Ok(json!({"exp": 1})),
            "eyJ0.eyJ1.down" => Err(JwtError::Unavailable("redis".into())),
            _ => Err(JwtError::InvalidSignature),
        });
        JwtAuth::from_json(r#"{"key_set": "users"}"#).expect("valid config")
    }

    fn ask(plugin: &JwtAuth, authorization: Option<&str>) -> Result<Option<Principal>, Deny> {
        let mut fake = FakeRequest::new("GET", "/");
        if let Some(value) = authorization {
            fake = fake.header("authorization", value);
        }
        plugin.authenticate(&fake.request())
    }

    #[test]
    fn a_verified_token_names_the_principal() {
        let principal = ask(&plugin(), Some(&format!("Bearer {TOKEN}")))
            .expect("accepted")
            .expect("a principal");
        assert_eq!(principal.subject, "alice");
        assert_eq!(principal.tenant.as_deref(), Some("acme"));
        assert_eq!(principal.roles, ["admin"]);
        assert_eq!(principal.permissions, ["orders.read", "orders.write"]);
    }

    #[test]
    fn other_credentials_are_left_to_the_next_authenticator() {
        let plugin = plugin();
        assert!(matches!(ask(&plugin, None), Ok(None)));
        assert!(matches!(ask(&plugin, Some("Basic dTpw")), Ok(None)));
        assert!(matches!(
            ask(&plugin, Some("Bearer opaque-token")),
            Ok(None)
        ));
    }

    #[test]
    fn refusals_say_only_invalid_expired_or_unavailable() {
        let plugin = plugin();
        let refused = |authorization: &str| ask(&plugin, Some(authorization)).expect_err("refused");
        let forged = refused("Bearer eyJ0.eyJ1.forged");
        assert_eq!(
            (forged.status, forged.message.as_str()),
            (401, "invalid token")
        );
        assert!(forged.headers[0].1.contains(r#"error="invalid_token""#));
        let expired = refused("Bearer eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln");
        assert_eq!(
            (expired.status, expired.message.as_str()),
            (401, "token expired")
        );
        let no_subject = refused("Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln");
        assert_eq!(no_subject.message, "invalid token");
        assert_eq!(refused("Bearer eyJ0.eyJ1.down").status, 503);
    }

    #[test]
    fn a_config_without_a_key_set_is_refused() {
        assert!(JwtAuth::from_json("{}").is_err());
        assert!(JwtAuth::from_json(r#"{"key_set": ""}"#).is_err());
        assert!(JwtAuth::from_json(r#"{"key_set": "k", "subject": "x"}"#).is_err());
    }
}
