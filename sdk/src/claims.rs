//!
//! Shared by every token authenticator (JWT, OAuth 2.0 introspection), so one config
//! fragment and one reading of the values serve them all.
//!
//! [`ClaimNames`](crate::claims::ClaimNames) is a config fragment: embed it in a plugin's config with
//! `#[serde(flatten)]` so `subject_claim = "uid"` sits beside the plugin's own fields (an
//! outer `#[serde(deny_unknown_fields)]` still refuses typos).
//!
//! ```
//! use archway_sdk::claims::ClaimNames;
//! use archway_sdk::serde_json::json;
//!
//! let claims = json!({
//!     "sub": "alice",
//!     "tenant": "acme",
//!     "roles": ["trader"],
//!     "permissions": "orders.read orders.write",
//!     "scope": "profile",
//! });
//! let principal = ClaimNames::default().principal(&claims).expect("has a subject");
//! assert_eq!(principal.subject, "alice");
//! assert_eq!(principal.tenant.as_deref(), Some("acme"));
//! assert_eq!(principal.roles, ["trader"]);
//! assert_eq!(principal.permissions, ["orders.read", "orders.write", "profile"]);
//! assert_eq!(principal.claims, claims.to_string());
//! ```

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::Principal;

/// The standard OAuth 2.0 claim (RFC 8693 §4.2, RFC 7662 §2.2) whose space-separated
/// scopes are added to the permissions.
pub const SCOPE_CLAIM: &str = "scope";

/// The claims that name a principal's parts; each defaults to its common name.
///
/// ```
/// use archway_sdk::claims::ClaimNames;
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config {
///     issuer: String,
///     #[serde(flatten)]
///     claims: ClaimNames,
/// }
///
/// let config: Config = serde_json::from_str(r#"{"issuer": "idp", "subject_claim": "uid"}"#).unwrap();
/// assert_eq!((config.claims.subject_claim.as_str(), config.claims.roles_claim.as_str()), ("uid", "roles"));
/// assert!(serde_json::from_str::<Config>(r#"{"issuer": "idp", "subjet_claim": "uid"}"#).is_err());
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ClaimNames {
    /// The claim holding the subject, a non-empty string (default `sub`).
    pub subject_claim: String,
    /// The claim holding the tenant, a string (default `tenant`).
    pub tenant_claim: String,
    /// The claim holding the roles: a list of strings or one space-separated string
    /// (default `roles`).
    pub roles_claim: String,
    /// The claim holding the permissions, read like the roles (default `permissions`);
    /// the scopes of a `scope` claim are added to them.
    pub permissions_claim: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            subject_claim: "sub".to_owned(),
            tenant_claim: "tenant".to_owned(),
            roles_claim: "roles".to_owned(),
            permissions_claim: "permissions".to_owned(),
        }
    }
}

/// Why claims do not make a principal; the caller rejects the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimsError {
    /// The claims are not a JSON object.
    NotAnObject,
    /// No subject claim holds a non-empty string.
    MissingSubject,
    /// A claim has a value of the wrong type.
    Invalid {
        /// The claim's name.
        claim: String,
        /// What it should hold.
        expected: &'static str,
    },
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => write!(f, "the claims are not a JSON object"),
            Self::MissingSubject => write!(f, "no subject claim holds a non-empty string"),
            Self::Invalid { claim, expected } => write!(f, "claim {claim} must be {expected}"),
        }
    }
}

impl std::error::Error for ClaimsError {}

impl ClaimNames {
    /// Checks that every name is non-empty; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (field, name) in [
            ("subject_claim", &self.subject_claim),
            ("tenant_claim", &self.tenant_claim),
            ("roles_claim", &self.roles_claim),
            ("permissions_claim", &self.permissions_claim),
        ] {
            if name.is_empty() {
                return Err(format!("{field} must name a claim"));
            }
        }
        Ok(())
    }

    /// The principal these claims describe; the subject comes from the subject claim.
    pub fn principal(&self, claims: &Value) -> Result<Principal, ClaimsError> {
        self.principal_with_fallbacks(claims, &[])
    }

    /// Like [`principal`](Self::principal), taking the subject from the first of
    /// `fallbacks` that holds one when the subject claim does not (token introspection
    /// names a client credential's owner `username` or `client_id`).
    ///
    /// ```
    /// use archway_sdk::claims::ClaimNames;
    ///
    /// let claims = serde_json::json!({"active": true, "client_id": "billing"});
    /// let names = ClaimNames::default();
    /// assert!(names.principal(&claims).is_err());
    /// let principal = names.principal_with_fallbacks(&claims, &["username", "client_id"]).unwrap();
    /// assert_eq!(principal.subject, "billing");
    /// ```
    pub fn principal_with_fallbacks(
        &self,
        claims: &Value,
        fallbacks: &[&str],
    ) -> Result<Principal, ClaimsError> {
        let object = claims.as_object().ok_or(ClaimsError::NotAnObject)?;
        let mut subject = None;
        for claim in std::iter::once(self.subject_claim.as_str()).chain(fallbacks.iter().copied()) {
            match object.get(claim) {
                None | Some(Value::Null) => {}
                Some(Value::String(value)) if value.is_empty() => {}
                Some(Value::String(value)) => {
                    subject = Some(value.clone());
                    break;
                }
                Some(_) => return Err(invalid(claim, "a string")),
            }
        }
        let subject = subject.ok_or(ClaimsError::MissingSubject)?;
        let tenant = match object.get(&self.tenant_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(tenant)) if tenant.is_empty() => None,
            Some(Value::String(tenant)) => Some(tenant.clone()),
            Some(_) => return Err(invalid(&self.tenant_claim, "a string")),
        };
        let roles = names(object.get(&self.roles_claim), &self.roles_claim)?;
        let mut permissions = names(object.get(&self.permissions_claim), &self.permissions_claim)?;
        for scope in names(object.get(SCOPE_CLAIM), SCOPE_CLAIM)? {
            if !permissions.contains(&scope) {
                permissions.push(scope);
            }
        }
        Ok(Principal {
            subject,
            tenant,
            roles,
            permissions,
            claims: claims.to_string(),
            quotas: Vec::new(),
        })
    }
}

fn invalid(claim: &str, expected: &'static str) -> ClaimsError {
    ClaimsError::Invalid {
        claim: claim.to_owned(),
        expected,
    }
}

/// A list of names from a JSON list of strings or a space-separated string, in order,
/// without empties or repeats; an absent claim is an empty list.
fn names(value: Option<&Value>, claim: &str) -> Result<Vec<String>, ClaimsError> {
    const EXPECTED: &str = "a list of strings or a space-separated string";
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => text.split_ascii_whitespace().for_each(&mut add),
        Some(Value::Array(items)) => {
            for item in items {
                add(item.as_str().ok_or_else(|| invalid(claim, EXPECTED))?);
            }
        }
        Some(_) => return Err(invalid(claim, EXPECTED)),
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_and_space_separated_strings_both_name_roles_and_permissions() {
        let names = ClaimNames::default();
        let principal = names
            .principal(&json!({
                "sub": "alice",
                "roles": "trader  viewer trader",
                "permissions": ["orders.read", "orders.write"],
            }))
            .expect("valid");
        assert_eq!(principal.roles, ["trader", "viewer"]);
        assert_eq!(principal.permissions, ["orders.read", "orders.write"]);
        assert_eq!(principal.tenant, None);
    }

    #[test]
    fn scopes_add_to_the_permissions_once() {
        let principal = ClaimNames::default()
            .principal(&json!({
                "sub": "alice",
                "permissions": "orders.read",
                "scope": "orders.read profile email",
            }))
            .expect("valid");
        assert_eq!(
            principal.permissions,
            ["orders.read", "profile", "email"],
            "the scope already granted is not repeated"
        );
    }

    #[test]
    fn configured_claim_names_are_read() {
        let names: ClaimNames = serde_json::from_value(json!({
            "subject_claim": "uid",
            "tenant_claim": "org",
            "roles_claim": "groups",
            "permissions_claim": "perms",
        }))
        .expect("valid names");
        let principal = names
            .principal(&json!({
                "sub": "ignored",
                "uid": "u-7",
                "org": "acme",
                "groups": ["admins"],
                "perms": "a b",
                "roles": ["ignored"],
            }))
            .expect("valid");
        assert_eq!(principal.subject, "u-7");
        assert_eq!(principal.tenant.as_deref(), Some("acme"));
        assert_eq!(principal.roles, ["admins"]);
        assert_eq!(principal.permissions, ["a", "b"]);
    }

    #[test]
    fn a_missing_or_empty_subject_is_refused() {
        let error = |claims| ClaimNames::default().principal(&claims).err();
        assert_eq!(
            error(json!({"tenant": "acme"})),
            Some(ClaimsError::MissingSubject)
        );
        assert_eq!(error(json!({"sub": ""})), Some(ClaimsError::MissingSubject));
        assert_eq!(
            error(json!({"sub": null})),
            Some(ClaimsError::MissingSubject)
        );
        assert_eq!(error(json!(["sub"])), Some(ClaimsError::NotAnObject));
    }

    #[test]
    fn fallbacks_name_the_subject_only_when_the_subject_claim_does_not() {
        let names = ClaimNames::default();
        let fallbacks = ["username", "client_id"];
        let subject = |claims| {
            names
                .principal_with_fallbacks(&claims, &fallbacks)
                .map(|p| p.subject)
        };
        assert_eq!(
            subject(json!({"sub": "a", "username": "b", "client_id": "c"})),
            Ok("a".to_owned())
        );
        assert_eq!(
            subject(json!({"sub": "", "username": "b", "client_id": "c"})),
            Ok("b".to_owned())
        );
        assert_eq!(subject(json!({"client_id": "c"})), Ok("c".to_owned()));
        assert_eq!(subject(json!({})), Err(ClaimsError::MissingSubject));
    }

    #[test]
    fn claims_of_the_wrong_type_are_refused_naming_the_claim() {
        let names = ClaimNames::default();
        for (claims, claim) in [
            (json!({"sub": 7}), "sub"),
            (json!({"sub": "a", "tenant": ["acme"]}), "tenant"),
            (json!({"sub": "a", "roles": {"admin": true}}), "roles"),
            (json!({"sub": "a", "permissions": ["ok", 1]}), "permissions"),
            (json!({"sub": "a", "scope": 3}), "scope"),
        ] {
            match names.principal(&claims) {
                Err(ClaimsError::Invalid { claim: named, .. }) => assert_eq!(named, claim),
                other => panic!("{claims}: {other:?}"),
            }
        }
        let error = names
            .principal(&json!({"sub": "a", "roles": 1}))
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "claim roles must be a list of strings or a space-separated string"
        );
    }

    #[test]
    fn the_whole_claims_object_travels_as_json_text() {
        let claims = json!({"sub": "a", "exp": 1_700_000_000, "nested": {"k": [1, 2]}});
        let principal = ClaimNames::default().principal(&claims).expect("valid");
        let travelled: Value = serde_json::from_str(&principal.claims).expect("JSON");
        assert_eq!(travelled, claims);
        assert!(principal.quotas.is_empty());
    }

    #[test]
    fn flattened_into_a_strict_config_the_names_default_and_typos_are_refused() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Config {
            #[expect(dead_code, reason = "only the claims are asserted")]
            service: String,
            #[serde(flatten)]
            claims: ClaimNames,
        }
        let config: Config = serde_json::from_value(json!({"service": "idp"})).expect("valid");
        assert_eq!(config.claims, ClaimNames::default());
        let config: Config =
            serde_json::from_value(json!({"service": "idp", "tenant_claim": "org"}))
                .expect("valid");
        assert_eq!(config.claims.tenant_claim, "org");
        let error = serde_json::from_value::<Config>(json!({"service": "idp", "tenant": "x"}))
            .expect_err("unknown field");
        assert!(
            error.to_string().contains("unknown field `tenant`"),
            "{error}"
        );
    }

    #[test]
    fn empty_claim_names_are_refused_naming_the_field() {
        let names = ClaimNames {
            roles_claim: String::new(),
            ..ClaimNames::default()
        };
        assert_eq!(
            names.validate(),
            Err("roles_claim must name a claim".to_owned())
        );
        assert_eq!(ClaimNames::default().validate(), Ok(()));
    }
}
