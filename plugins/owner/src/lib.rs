//! First-party `authorize` plugin: an ownership policy the host's permission check cannot
//! express. A caller reaches only the resources named after itself: the route's path
//! parameter `param` must equal the principal's subject (or tenant, with
//! `owner = "tenant"`), unless the principal holds one of `bypass_permissions`.
//!
//! ```toml
//! [plugins.config]
//! param = "user"                      # required: /users/{user}/... must be the caller
//! owner = "subject"                   # or "tenant"
//! bypass_permissions = ["users.admin"]
//! ```
//!
//! A config without `param` is refused at load, so a misconfigured policy never lets
//! everyone through; a request without a principal or without the parameter is refused.

use archway_sdk::{Authorize, Deny, Plugin, Request, percent_decode};
use serde::Deserialize;

/// Which of the principal's names must match.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// The principal's subject.
    #[default]
    Subject,
    /// The principal's tenant.
    Tenant,
}

/// The policy, from the plugin's config.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The path parameter that names the resource's owner.
    pub param: String,
    /// Whom it must name.
    #[serde(default)]
    pub owner: Owner,
    /// Permissions that reach every owner's resources.
    #[serde(default)]
    pub bypass_permissions: Vec<String>,
}

/// The configured ownership policy.
pub struct OwnerPolicy {
    config: Config,
}

impl Plugin for OwnerPolicy {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.param.is_empty() {
            return Err("config: param must name a path parameter".to_owned());
        }
        Ok(Self { config })
    }
}

impl Authorize for OwnerPolicy {
    fn authorize(&self, request: &Request) -> Result<(), Deny> {
        let Some(principal) = request.principal() else {
            return Err(Deny::unauthorized("authentication required"));
        };
        let bypass = &self.config.bypass_permissions;
        if principal.permissions.iter().any(|p| bypass.contains(p)) {
            return Ok(());
        }
        let caller = match self.config.owner {
            Owner::Subject => Some(principal.subject.as_str()),
            Owner::Tenant => principal.tenant.as_deref(),
        };
        let named = request
            .param(&self.config.param)
            .map(|value| percent_decode(&value));
        match (caller, named) {
            (Some(caller), Some(named)) if caller == named => Ok(()),
            _ => Err(Deny::forbidden("this resource belongs to someone else")),
        }
    }
}

archway_sdk::export!(OwnerPolicy: authorize);

#[cfg(test)]
mod tests {
    use archway_sdk::{FakeRequest, Principal};

    use super::*;

    fn policy(config: &str) -> OwnerPolicy {
        OwnerPolicy::from_json(config).expect("valid config")
    }

    fn ask(policy: &OwnerPolicy, param: &str, principal: Option<Principal>) -> Result<(), u16> {
        let mut fake = FakeRequest::new("GET", "/users/x").param("user", param);
        if let Some(principal) = principal {
            fake = fake.principal(principal);
        }
        policy
            .authorize(&fake.request())
            .map_err(|deny| deny.status)
    }

    #[test]
    fn a_caller_reaches_only_its_own_resources() {
        let policy = policy(r#"{"param": "user", "bypass_permissions": ["users.admin"]}"#);
        assert_eq!(
            ask(&policy, "alice", Some(Principal::subject("alice"))),
            Ok(())
        );
        assert_eq!(
            ask(&policy, "bob", Some(Principal::subject("alice"))),
            Err(403)
        );
        let admin = Principal::subject("carol").with_permissions(&["users.admin"]);
        assert_eq!(ask(&policy, "bob", Some(admin)), Ok(()));
        assert_eq!(ask(&policy, "alice", None), Err(401));
    }

    #[test]
    fn tenants_own_their_resources_when_configured() {
        let policy = policy(r#"{"param": "user", "owner": "tenant"}"#);
        let member = Principal::subject("alice").with_tenant("acme");
        assert_eq!(ask(&policy, "acme", Some(member.clone())), Ok(()));
        assert_eq!(ask(&policy, "alice", Some(member)), Err(403));
        assert_eq!(
            ask(&policy, "acme", Some(Principal::subject("loner"))),
            Err(403)
        );
    }

    #[test]
    fn a_config_that_names_no_parameter_is_refused() {
        assert!(OwnerPolicy::from_json("{}").is_err(), "param is required");
        assert!(OwnerPolicy::from_json(r#"{"param": ""}"#).is_err());
        assert!(OwnerPolicy::from_json(r#"{"param": "user", "roles": []}"#).is_err());
    }
}
