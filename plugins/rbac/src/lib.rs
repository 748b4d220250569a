//! First-party `authorize` plugin: lets a request through only when the principal has
//! the configured roles or permissions.
//!
//! Config: `permissions` (list), `roles` (list), `strategy` (`any`, the default, or `all`).

use archway_sdk::serde_json::Value;
use archway_sdk::{Authorize, Deny, Plugin, Request};

/// The policy: what the principal must hold, and whether any or all of it.
pub struct Rbac {
    permissions: Vec<String>,
    roles: Vec<String>,
    require_all: bool,
}

fn string_list(config: &Value, key: &str) -> Result<Vec<String>, String> {
    match &config[key] {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(format!("{key} must list strings"))
            })
            .collect(),
        _ => Err(format!("{key} must be a list of strings")),
    }
}

impl Plugin for Rbac {
    type Config = Value;

    fn new(config: Value) -> Result<Self, String> {
        let require_all = match config["strategy"].as_str() {
            None | Some("any") => false,
            Some("all") => true,
            Some(other) => {
                return Err(format!(
                    "strategy must be \"any\" or \"all\", not {other:?}"
                ));
            }
        };
        Ok(Self {
            permissions: string_list(&config, "permissions")?,
            roles: string_list(&config, "roles")?,
            require_all,
        })
    }
}

impl Authorize for Rbac {
    fn authorize(&self, request: &Request) -> Result<(), Deny> {
        let Some(principal) = request.principal() else {
            return Err(Deny::unauthorized("authentication required"));
        };
        let wanted = self
            .permissions
            .iter()
            .map(|p| principal.permissions.contains(p));
        let wanted = wanted.chain(self.roles.iter().map(|r| principal.roles.contains(r)));
        let granted: Vec<bool> = wanted.collect();
        let allowed = granted.is_empty()
            || if self.require_all {
                granted.iter().all(|g| *g)
            } else {
                granted.iter().any(|g| *g)
            };
        if allowed {
            Ok(())
        } else {
            Err(Deny::forbidden("insufficient permissions"))
        }
    }
}

archway_sdk::export!(Rbac: authorize);

#[cfg(test)]
mod tests {
    use archway_sdk::serde_json::json;
    use archway_sdk::{FakeRequest, Principal};

    use super::*;

    fn check(config: Value, principal: Option<Principal>) -> Result<(), u16> {
        let plugin = Rbac::new(config).expect("valid config");
        let mut fake = FakeRequest::new("GET", "/");
        if let Some(p) = principal {
            fake = fake.principal(p);
        }
        plugin.authorize(&fake.request()).map_err(|d| d.status)
    }

    #[test]
    fn any_strategy_needs_one_grant() {
        let p = Principal::subject("a").with_permissions(&["user.read"]);
        assert_eq!(
            check(json!({"permissions": ["user.read", "user.write"]}), Some(p)),
            Ok(())
        );
    }

    #[test]
    fn all_strategy_needs_every_grant() {
        let p = Principal::subject("a").with_permissions(&["user.read"]);
        let config = json!({"permissions": ["user.read", "user.write"], "strategy": "all"});
        assert_eq!(check(config, Some(p)), Err(403));
    }

    #[test]
    fn no_principal_is_unauthorized() {
        assert_eq!(check(json!({}), None), Err(401));
    }
}
