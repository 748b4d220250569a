//! First-party `authenticate` plugin: API keys. The caller sends its key in a header; the
//! plugin looks up the key's record in the gateway store by the key's SHA-256 (the store
//! never holds a key itself) and answers with the record's principal, which carries the
//! key's quotas for the gateway to count on every node.
//!
//! ```toml
//! [[plugins]]
//! name = "api-keys"
//! builtin = "api-key-auth"
//! capabilities = ["kv"]
//! share = ["api-keys"]                # the namespace below, joined
//! [plugins.config]
//! header = "x-api-key"                # default
//! namespace = "api-keys"              # default: the shared kv namespace of the records
//!
//! [[routes]]
//! id = "orders"
//! service_name = "orders"
//! path_pattern = "/orders/*"
//! authenticate = ["api-keys"]
//! ```
//!
//! Keys are made with `archway keys create --config archway.toml --subject alice
//! --per-minute 60` (which prints the key once), listed with `archway keys list` and
//! revoked with `archway keys revoke <id>`. A key's record is JSON at kv key
//! `shared/<namespace>/<sha256 of the key, lower-case hex>` ([`KeyRecord`]):
//!
//! ```json
//! {"id": "5f0c4d2a9b1e7c3a", "subject": "alice", "tenant": "acme",
//!  "roles": ["trader"], "permissions": ["orders.read"],
//!  "created_at": 1767225600, "expires_at": 1798761600, "revoked_at": null,
//!  "per_minute": 60, "per_day": 10000}
//! ```
//!
//! | request | answer |
//! |---|---|
//! | no key header | no principal: the next authenticator may answer, else `requires_auth` gives 401 |
//! | a key with no record, or a revoked one | 401 `invalid API key` |
//! | a key past `expires_at` | 401 `API key expired` |
//! | the store unavailable | 503 |
//! | the header twice | 400 |
//! | a valid key | subject, tenant, roles, permissions; quotas `key:<id>` of `per_minute` per 60 s and `per_day` per 86400 s; claims `{"key_id": <id>}` |
//!
//! The gateway refuses two copies of a credential header and keeps it from upstreams
//! (unless the route sets `forward_credentials`); for another `header` than `x-api-key`,
//! add it to `[identity] extra_credential_headers` so the gateway treats it the same way.
//!
//! A config that is not exactly this (an unknown field, a header or namespace name that
//! cannot be one) is refused at load, and so is a plugin that has not joined `namespace`.

use std::time::{SystemTime, UNIX_EPOCH};

use archway_sdk::{Authenticate, Deny, Plugin, Principal, Request, StoreError, kv};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The header the gateway itself treats as a credential.
const GATEWAY_CREDENTIAL: &str = "x-api-key";
/// The window of `per_minute`, in seconds.
pub const MINUTE: u32 = 60;
/// The shared kv namespace of the key records when the config names none.
pub const DEFAULT_NAMESPACE: &str = "api-keys";
/// The window of `per_day`, in seconds.
pub const DAY: u32 = 86_400;

/// The plugin's config.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The request header that carries the key (case-insensitive).
    pub header: String,
    /// The shared kv namespace that holds the key records.
    pub namespace: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            header: GATEWAY_CREDENTIAL.to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
        }
    }
}

/// What a key stands for, stored as JSON under the key's hash. `archway keys` writes it;
/// an admin API manages the same records. Unknown fields are ignored, so records may gain
/// fields before every plugin knows them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's public id: what quotas are counted under and what `revoke` names.
    pub id: String,
    /// The principal's subject.
    pub subject: String,
    /// The principal's tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The principal's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The principal's own permissions.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// When the key was made, in Unix seconds.
    pub created_at: u64,
    /// When the key stops working, in Unix seconds.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// When the key was revoked, in Unix seconds: a revoked key never works again.
    #[serde(default)]
    pub revoked_at: Option<u64>,
    /// Requests allowed per minute.
    #[serde(default)]
    pub per_minute: Option<u32>,
    /// Requests allowed per day.
    #[serde(default)]
    pub per_day: Option<u32>,
}

impl KeyRecord {
    /// The principal the key authenticates as.
    pub fn principal(&self) -> Principal {
        let mut principal = Principal::subject(&self.subject);
        principal.tenant = self.tenant.clone();
        principal.roles = self.roles.clone();
        principal.permissions = self.permissions.clone();
        principal.claims = serde_json::json!({ "key_id": self.id }).to_string();
        let quotas = [(self.per_minute, MINUTE), (self.per_day, DAY)];
        for (limit, window) in quotas {
            if let Some(limit) = limit.filter(|&limit| limit > 0) {
                principal = principal.with_quota(format!("key:{}", self.id), limit, window);
            }
        }
        principal
    }
}

/// The lower-case hex SHA-256 of a key: the name its record is stored under.
///
/// ```
/// assert_eq!(
///     api_key_auth::key_hash("k"),
///     "8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a"
/// );
/// ```
pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The configured authenticator.
pub struct ApiKeyAuth {
    header: String,
    namespace: String,
}

impl Plugin for ApiKeyAuth {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let header = config.header.to_ascii_lowercase();
        let header_ok = !header.is_empty()
            && header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !header_ok {
            return Err(format!(
                "config: header {:?} must be a header name (letters, digits, - and _)",
                config.header
            ));
        }
        let namespace = config.namespace;
        let namespace_ok = (1..=64).contains(&namespace.len())
            && namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !namespace_ok {
            return Err(format!(
                "config: namespace {namespace:?} must be 1 to 64 ASCII letters, digits, -, _ or ."
            ));
        }
        // An empty name in the namespace never reaches the store: the host answers
        // whether the plugin joined the namespace, and then that the name is empty.
        if let Err(StoreError::Invalid(why)) = kv::get(&format!("shared/{namespace}/"))
            && why.contains("has not joined")
        {
            return Err(format!(
                "{why}: add share = [\"{namespace}\"] (with capability kv) to the plugin's config"
            ));
        }
        Ok(Self { header, namespace })
    }
}

impl Authenticate for ApiKeyAuth {
    fn authenticate(&self, request: &Request) -> Result<Option<Principal>, Deny> {
        let Some(key) = request.header(&self.header) else {
            return Ok(None);
        };
        // The gateway refuses a second x-api-key before plugins run; another header is ours.
        if self.header != GATEWAY_CREDENTIAL {
            let copies = request
                .headers()
                .into_iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(&self.header))
                .count();
            if copies > 1 {
                let message = format!("the request carries more than one {} header", self.header);
                return Err(Deny::bad_request(message));
            }
        }
        let invalid = || Deny::unauthorized("invalid API key");
        if key.is_empty() {
            return Err(invalid());
        }
        let stored = kv::get(&format!("shared/{}/{}", self.namespace, key_hash(&key)))
            .map_err(|_| Deny::auth_unavailable())?;
        let record: KeyRecord = serde_json::from_slice(&stored.ok_or_else(invalid)?)
            .map_err(|_| Deny::new(500, "the API key's record is unreadable"))?;
        if record.revoked_at.is_some() {
            return Err(invalid());
        }
        if record.expires_at.is_some_and(|at| at <= now()) {
            return Err(Deny::unauthorized("API key expired"));
        }
        Ok(Some(record.principal()))
    }
}

/// Unix time in seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

archway_sdk::export!(ApiKeyAuth: authenticate);

#[cfg(test)]
mod tests {
    use archway_sdk::{FakeRequest, Quota};

    use super::*;

    fn plugin(config: &str) -> ApiKeyAuth {
        ApiKeyAuth::from_json(config).expect("valid config")
    }

    fn record(id: &str) -> KeyRecord {
        KeyRecord {
            id: id.to_owned(),
            subject: "alice".to_owned(),
            tenant: Some("acme".to_owned()),
            roles: vec!["trader".to_owned()],
            permissions: vec!["orders.read".to_owned()],
            created_at: now(),
            expires_at: None,
            revoked_at: None,
            per_minute: Some(60),
            per_day: Some(10_000),
        }
    }

    fn store(namespace: &str, key: &str, record: &KeyRecord) {
        let json = serde_json::to_vec(record).expect("JSON");
        kv::set(
            &format!("shared/{namespace}/{}", key_hash(key)),
            &json,
            None,
        )
        .expect("stored");
    }

    fn ask(plugin: &ApiKeyAuth, headers: &[(&str, &str)]) -> Result<Option<Principal>, Deny> {
        let mut fake = FakeRequest::new("GET", "/orders");
        for (name, value) in headers {
            fake = fake.header(name, value);
        }
        plugin.authenticate(&fake.request())
    }

    fn quotas(principal: &Principal) -> Vec<(&str, u32, u32)> {
        fn quota(q: &Quota) -> (&str, u32, u32) {
            (q.key.as_str(), q.limit, q.window_seconds)
        }
        principal.quotas.iter().map(quota).collect()
    }

    fn refusal(answer: Result<Option<Principal>, Deny>) -> (u16, String) {
        let deny = answer.expect_err("refused");
        (deny.status, deny.message)
    }

    #[test]
    fn a_valid_key_is_its_records_principal_with_its_quotas() {
        let plugin = plugin("{}");
        store("api-keys", "ak_secret", &record("k1"));
        let principal = ask(&plugin, &[("x-api-key", "ak_secret")])
            .expect("allowed")
            .expect("a principal");
        assert_eq!(principal.subject, "alice");
        assert_eq!(principal.tenant.as_deref(), Some("acme"));
        assert_eq!(principal.roles, ["trader"]);
        assert_eq!(principal.permissions, ["orders.read"]);
        assert_eq!(principal.claims, r#"{"key_id":"k1"}"#);
        assert_eq!(
            quotas(&principal),
            [("key:k1", 60, 60), ("key:k1", 10_000, 86_400)]
        );
    }

    #[test]
    fn a_key_without_quotas_has_none() {
        let plugin = plugin("{}");
        let free = KeyRecord {
            per_minute: None,
            per_day: None,
            ..record("k2")
        };
        store("api-keys", "ak_free", &free);
        let principal = ask(&plugin, &[("x-api-key", "ak_free")]).expect("allowed");
        assert_eq!(quotas(&principal.expect("a principal")), []);
    }

    #[test]
    fn no_header_leaves_the_decision_to_others() {
        assert!(ask(&plugin("{}"), &[]).expect("no deny").is_none());
    }

    #[test]
    fn unknown_revoked_and_expired_keys_are_refused() {
        let plugin = plugin("{}");
        let unknown = (401, "invalid API key".to_owned());
        assert_eq!(refusal(ask(&plugin, &[("x-api-key", "ak_nope")])), unknown);
        assert_eq!(refusal(ask(&plugin, &[("x-api-key", "")])), unknown);
        let revoked = KeyRecord {
            revoked_at: Some(now()),
            ..record("k3")
        };
        store("api-keys", "ak_revoked", &revoked);
        assert_eq!(
            refusal(ask(&plugin, &[("x-api-key", "ak_revoked")])),
            unknown
        );
        let expired = KeyRecord {
            expires_at: Some(now() - 1),
            ..record("k4")
        };
        store("api-keys", "ak_expired", &expired);
        assert_eq!(
            refusal(ask(&plugin, &[("x-api-key", "ak_expired")])),
            (401, "API key expired".to_owned())
        );
        let later = KeyRecord {
            expires_at: Some(now() + 3600),
            ..record("k5")
        };
        store("api-keys", "ak_later", &later);
        assert!(ask(&plugin, &[("x-api-key", "ak_later")]).is_ok());
    }

    #[test]
    fn a_custom_header_and_namespace_are_used_and_a_second_copy_refused() {
        let plugin = plugin(r#"{"header": "X-Partner-Key", "namespace": "partners"}"#);
        store("partners", "pk_1", &record("p1"));
        let found = ask(&plugin, &[("x-partner-key", "pk_1")]).expect("allowed");
        assert_eq!(found.expect("a principal").subject, "alice");
        assert!(
            ask(&plugin, &[("x-api-key", "pk_1")])
                .expect("not ours")
                .is_none()
        );
        let twice = ask(
            &plugin,
            &[("x-partner-key", "pk_1"), ("x-partner-key", "x")],
        );
        assert_eq!(refusal(twice).0, 400);
    }

    #[test]
    fn an_unreadable_record_fails_closed() {
        let plugin = plugin("{}");
        kv::set(
            &format!("shared/api-keys/{}", key_hash("ak_bad")),
            b"{",
            None,
        )
        .expect("stored");
        assert_eq!(refusal(ask(&plugin, &[("x-api-key", "ak_bad")])).0, 500);
    }

    #[test]
    fn the_documented_record_format_parses() {
        let documented = r#"{"id": "5f0c4d2a9b1e7c3a", "subject": "alice", "tenant": "acme",
            "roles": ["trader"], "permissions": ["orders.read"],
            "created_at": 1767225600, "expires_at": 1798761600, "revoked_at": null,
            "per_minute": 60, "per_day": 10000, "note": "fields a newer writer adds"}"#;
        let record: KeyRecord = serde_json::from_str(documented).expect("parses");
        assert_eq!(record.per_day, Some(10_000));
        let minimal: KeyRecord =
            serde_json::from_str(r#"{"id": "a", "subject": "b", "created_at": 0}"#)
                .expect("optional fields may be absent");
        assert_eq!(quotas(&minimal.principal()), []);
    }

    #[test]
    fn configs_that_cannot_work_are_refused() {
        for (config, says) in [
            (r#"{"headers": "x"}"#, "unknown field `headers`"),
            (r#"{"header": ""}"#, "header \"\""),
            (r#"{"header": "x key"}"#, "must be a header name"),
            (r#"{"namespace": "a/b"}"#, "namespace \"a/b\""),
            (r#"{"namespace": 7}"#, "namespace: invalid type"),
        ] {
            let error = ApiKeyAuth::from_json(config).err().expect("refused");
            assert!(error.contains(says), "{config}: {error}");
        }
    }
}
