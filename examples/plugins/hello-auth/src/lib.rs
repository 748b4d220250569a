//! Example third-party plugin: accepts requests whose `x-api-key` header is one of the
//! configured keys, and names the caller after the key's owner. A request without the
//! header is not its business (`None`): the next authenticator, or the route's
//! `requires_auth`, decides.

use std::collections::HashMap;

use archway_sdk::{Authenticate, Deny, Plugin, Principal, Request};

/// Configured API keys: key -> owner.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloAuth {
    keys: HashMap<String, String>,
}

impl Plugin for HelloAuth {
    type Config = HelloAuth;

    fn new(config: HelloAuth) -> Result<Self, String> {
        Ok(config)
    }
}

impl Authenticate for HelloAuth {
    fn authenticate(&self, request: &Request) -> Result<Option<Principal>, Deny> {
        let Some(key) = request.header("x-api-key") else {
            return Ok(None);
        };
        match self.keys.get(&key) {
            Some(owner) => Ok(Some(
                Principal::subject(owner).with_permissions(&["hello.read"]),
            )),
            None => Err(Deny::unauthorized("unknown API key")),
        }
    }
}

archway_sdk::export!(HelloAuth: authenticate);

#[cfg(test)]
mod tests {
    use archway_sdk::FakeRequest;
    use archway_sdk::serde_json::json;

    use super::*;

    fn plugin() -> HelloAuth {
        HelloAuth::from_json(&json!({"keys": {"k-123": "alice"}}).to_string())
            .expect("valid config")
    }

    #[test]
    fn a_config_that_does_not_fit_names_the_field() {
        let error = HelloAuth::from_json(r#"{"keys": {"k-1": 7}}"#)
            .err()
            .expect("an owner must be a string");
        assert!(
            error.starts_with("config: keys.k-1: invalid type: integer"),
            "{error}"
        );
        let error = HelloAuth::from_json(r#"{"kyes": {}}"#).err().expect("typo");
        assert!(error.contains("unknown field `kyes`"), "{error}");
    }

    #[test]
    fn known_key_names_its_owner() {
        let fake = FakeRequest::new("GET", "/").header("X-Api-Key", "k-123");
        let principal = plugin()
            .authenticate(&fake.request())
            .expect("allowed")
            .expect("principal");
        assert_eq!(principal.subject, "alice");
    }

    #[test]
    fn missing_key_is_left_to_the_next_authenticator() {
        let fake = FakeRequest::new("GET", "/");
        assert!(matches!(plugin().authenticate(&fake.request()), Ok(None)));
    }

    #[test]
    fn unknown_key_is_401() {
        let fake = FakeRequest::new("GET", "/").header("x-api-key", "nope");
        assert_eq!(
            plugin()
                .authenticate(&fake.request())
                .expect_err("denied")
                .status,
            401
        );
    }
}
