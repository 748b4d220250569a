//! Example third-party plugin: accepts requests whose `x-api-key` header is one of the
//! configured keys, and names the caller after the key's owner. A request without the
//! header is not its business (`None`): the next authenticator, or the route's
//! `requires_auth`, decides.

use std::collections::HashMap;

use archway_sdk::{Authenticate, Deny, Plugin, Principal, Request};

/// Configured API keys: key -> owner.
pub struct HelloAuth {
    keys: HashMap<String, String>,
}

impl Plugin for HelloAuth {
    fn new(config: archway_sdk::serde_json::Value) -> Result<Self, String> {
        let keys = config["keys"]
            .as_object()
            .ok_or("config needs a `keys` table of key = owner")?;
        let keys = keys
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()));
        Ok(Self {
            keys: keys.collect(),
        })
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
        HelloAuth::new(json!({"keys": {"k-123": "alice"}})).expect("valid config")
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
