//! API keys for the `api-key-auth` plugin: `archway keys create | list | revoke`.
//!
//! A key is 256 random bits from the operating system, shown once when it is made; the
//! store keeps only its record, under the key's SHA-256 in the plugin's shared namespace
//! (`shared/<namespace>/<hex>`, the layout [`archway_runtime::shared_key`] defines), which
//! is exactly where the plugin reads it through `kv`. The record is the plugin's
//! `KeyRecord`: this module writes the same JSON.
//!
//! ```no_run
//! # async fn demo(config: &archway_config::Config) -> anyhow::Result<()> {
//! use archway::keys::{KeyStore, NewKey};
//!
//! let keys = KeyStore::open(config, None).await?;
//! let made = keys
//!     .create(&NewKey { per_minute: Some(60), ..NewKey::for_subject("alice") })
//!     .await?;
//! println!("{} {}", made.record.id, made.key);
//! keys.revoke(&made.record.id).await?;
//! # Ok(())
//! # }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use archway_config::{Config, PluginConfig, PluginSource};
use archway_runtime::shared_key;
use archway_store::Store;

/// The builtin the keys belong to.
pub const PLUGIN: &str = "api-key-auth";
/// The most records a listing reads.
const MAX_KEYS: usize = 100_000;
/// The longest subject, role, permission or tenant a principal may carry.
const MAX_NAME_BYTES: usize = 256;

/// What a key stands for: the plugin's own record type, which `archway keys` writes and
/// an admin API manages, so writer and reader cannot drift apart.
pub use api_key_auth::KeyRecord;

/// What `create` makes a key for.
#[derive(Clone, Debug, Default)]
pub struct NewKey {
    /// The principal's subject.
    pub subject: String,
    /// The principal's tenant.
    pub tenant: Option<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its own permissions.
    pub permissions: Vec<String>,
    /// How long the key works; forever when `None`.
    pub expires_in: Option<Duration>,
    /// Requests allowed per minute.
    pub per_minute: Option<u32>,
    /// Requests allowed per day.
    pub per_day: Option<u32>,
}

impl NewKey {
    /// A key for `subject` with nothing else.
    pub fn for_subject(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ..Self::default()
        }
    }
}

/// A key just made: the only time the key itself is known.
#[derive(Debug)]
pub struct CreatedKey {
    /// The key the caller sends.
    pub key: String,
    /// What it stands for, as stored.
    pub record: KeyRecord,
}

/// The API keys of one `api-key-auth` plugin, in the store its gateway config names.
#[derive(Debug)]
pub struct KeyStore {
    store: Store,
    namespace: String,
}

impl KeyStore {
    /// The keys of `store` in shared namespace `namespace`.
    pub fn new(store: Store, namespace: impl Into<String>) -> Self {
        Self {
            store,
            namespace: namespace.into(),
        }
    }

    /// The keys of `config`'s `api-key-auth` plugin (the one named `plugin` when given)
    /// in `store`.
    pub fn for_plugin(store: Store, config: &Config, plugin: Option<&str>) -> anyhow::Result<Self> {
        Ok(Self::new(store, namespace(config, plugin)?))
    }

    /// Opens the store `config` names, for the keys of its `api-key-auth` plugin (the one
    /// named `plugin` when given).
    pub async fn open(config: &Config, plugin: Option<&str>) -> anyhow::Result<Self> {
        let namespace = namespace(config, plugin)?;
        let store = crate::open_store_from_cli(config).await?;
        Ok(Self::new(store, namespace))
    }

    /// Makes a key and stores its record.
    pub async fn create(&self, new: &NewKey) -> anyhow::Result<CreatedKey> {
        check_new(new)?;
        let created_at = now();
        let expires_at = new.expires_in.map(|valid| created_at + valid.as_secs());
        let record = KeyRecord {
            id: hex_of::<8>()?,
            subject: new.subject.clone(),
            tenant: new.tenant.clone(),
            roles: new.roles.clone(),
            permissions: new.permissions.clone(),
            created_at,
            expires_at,
            revoked_at: None,
            per_minute: new.per_minute,
            per_day: new.per_day,
        };
        let key = format!("ak_{}", hex_of::<32>()?);
        let json = serde_json::to_vec(&record).expect("records serialise to JSON");
        let slot = self.slot(&key);
        let stored = self
            .store
            .compare_and_swap(&slot, None, Some(&json))
            .await
            .with_context(|| format!("cannot store API key {}", record.id))?;
        if !stored {
            bail!("a record is already stored under the new key's hash; try again");
        }
        Ok(CreatedKey { key, record })
    }

    /// Every key's record (revoked ones too), by id.
    pub async fn list(&self) -> anyhow::Result<Vec<KeyRecord>> {
        let mut records: Vec<KeyRecord> = self
            .stored()
            .await?
            .into_iter()
            .map(|(_, _, record)| record)
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// Revokes the key with this id; its record as it is now.
    pub async fn revoke(&self, id: &str) -> anyhow::Result<Revoked> {
        let found = self
            .stored()
            .await?
            .into_iter()
            .find(|(_, _, r)| r.id == id);
        let Some((slot, stored, mut record)) = found else {
            return Err(UnknownKey {
                id: id.to_owned(),
                namespace: self.namespace.clone(),
            }
            .into());
        };
        if record.revoked_at.is_some() {
            return Ok(Revoked::Already(record));
        }
        record.revoked_at = Some(now());
        let json = serde_json::to_vec(&record).expect("records serialise to JSON");
        let swapped = self
            .store
            .compare_and_swap(&slot, Some(&stored), Some(&json))
            .await
            .with_context(|| format!("cannot revoke API key {id}"))?;
        if !swapped {
            bail!("API key {id} changed while it was being revoked; try again");
        }
        Ok(Revoked::Now(record))
    }

    /// Every readable record with its store key and stored bytes; refuses rather than
    /// miss records past what one scan reads.
    async fn stored(&self) -> anyhow::Result<Vec<(String, Vec<u8>, KeyRecord)>> {
        let prefix = shared_key(&self.namespace, "");
        let found = self
            .store
            .scan_prefix(&prefix, MAX_KEYS)
            .await
            .with_context(|| format!("cannot read API keys in namespace {}", self.namespace))?;
        if found.len() >= MAX_KEYS {
            bail!(
                "namespace {} holds {MAX_KEYS} or more key records, more than this command reads; \
                 a key past them could not be found",
                self.namespace
            );
        }
        Ok(found
            .into_iter()
            .filter_map(|(slot, bytes)| {
                let record = serde_json::from_slice(&bytes).ok()?;
                Some((slot, bytes, record))
            })
            .collect())
    }

    /// Where the record of `key` lives.
    fn slot(&self, key: &str) -> String {
        shared_key(&self.namespace, &key_hash(key))
    }
}

/// What `revoke` did.
#[derive(Debug)]
pub enum Revoked {
    /// The key was revoked now.
    Now(KeyRecord),
    /// It had been revoked before.
    Already(KeyRecord),
}

/// The lower-case hex SHA-256 of a key: the name its record is stored under (the
/// plugin's own function).
pub use api_key_auth::key_hash;

/// The namespace of the config's `api-key-auth` plugin: the one named `plugin`, or the
/// only one (several are fine when they share one namespace).
fn namespace(config: &Config, plugin: Option<&str>) -> anyhow::Result<String> {
    let of = |p: &PluginConfig| -> anyhow::Result<String> {
        let namespace = match p.config.get("namespace") {
            None => api_key_auth::DEFAULT_NAMESPACE.to_owned(),
            Some(toml::Value::String(namespace)) => namespace.clone(),
            Some(_) => bail!("plugin {}: config namespace must be a string", p.name),
        };
        if !p.share.contains(&namespace) {
            bail!(
                "plugin {} reads keys in namespace {namespace:?} but has not joined it: add \
                 share = [\"{namespace}\"] to its config",
                p.name
            );
        }
        Ok(namespace)
    };
    if let Some(name) = plugin {
        let Some(found) = config.plugins.iter().find(|p| p.name == name) else {
            bail!("the config has no plugin {name}");
        };
        return of(found);
    }
    let candidates: Vec<&PluginConfig> = config
        .plugins
        .iter()
        .filter(|p| matches!(&p.source, PluginSource::Builtin(b) if b == PLUGIN))
        .collect();
    let namespaces = candidates
        .iter()
        .map(|p| of(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match namespaces.as_slice() {
        [] => bail!("the config has no plugin with builtin = \"{PLUGIN}\""),
        [first, rest @ ..] if rest.iter().all(|n| n == first) => Ok(first.clone()),
        _ => {
            let names: Vec<&str> = candidates.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "the config has several {PLUGIN} plugins with different namespaces ({}): \
                 choose one with --plugin",
                names.join(", ")
            )
        }
    }
}

/// Refuses what the gateway would refuse in a principal, before it is stored.
/// No key has the id given.
#[derive(Debug, thiserror::Error)]
#[error("no API key with id {id} in namespace {namespace}")]
pub struct UnknownKey {
    /// The id given.
    pub id: String,
    /// The namespace searched.
    pub namespace: String,
}

/// A new key's field that is not valid.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidKey {
    /// The field (`subject`, `tenant`, `roles`, `permissions`, `per_minute`, ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn check_new(new: &NewKey) -> Result<(), InvalidKey> {
    let fits = |name: &str| !name.is_empty() && name.len() <= MAX_NAME_BYTES;
    let invalid = |field, message: &str| {
        Err(InvalidKey {
            field,
            message: message.to_owned(),
        })
    };
    let names = format!("must be 1-{MAX_NAME_BYTES} bytes");
    if !fits(&new.subject) {
        return invalid("subject", &names);
    }
    if new.tenant.as_deref().is_some_and(|t| !fits(t)) {
        return invalid("tenant", &names);
    }
    if !new.roles.iter().all(|n| fits(n)) {
        return invalid("roles", &format!("each {names}"));
    }
    if !new.permissions.iter().all(|n| fits(n)) {
        return invalid("permissions", &format!("each {names}"));
    }
    if new.per_minute == Some(0) {
        return invalid("per_minute", "must allow at least one request");
    }
    if new.per_day == Some(0) {
        return invalid("per_day", "must allow at least one request");
    }
    if new.expires_in.is_some_and(|valid| valid.as_secs() == 0) {
        return invalid("expires_in_seconds", "must be at least a second");
    }
    Ok(())
}

/// `N` random bytes from the operating system, in hex.
fn hex_of<const N: usize>() -> anyhow::Result<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).context("the operating system gave no random bytes")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Unix time in seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// The `archway keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it (once: only its hash is stored).
    Create {
        /// The gateway config (its store and api-key-auth plugin).
        #[arg(long)]
        config: std::path::PathBuf,
        /// The principal's subject.
        #[arg(long)]
        subject: String,
        /// The principal's tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// A role (repeat for more).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A permission (repeat for more).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Days until the key stops working (default: never).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_500))]
        expires_in_days: Option<u32>,
        /// Requests allowed per minute.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        per_minute: Option<u32>,
        /// Requests allowed per day.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        per_day: Option<u32>,
        /// The api-key-auth plugin, by name, when the config has several.
        #[arg(long)]
        plugin: Option<String>,
    },
    /// Print every key's id, subject, tenant, expiry and quotas (never keys or hashes).
    List {
        /// The gateway config.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The api-key-auth plugin, by name, when the config has several.
        #[arg(long)]
        plugin: Option<String>,
    },
    /// Revoke a key by id: it never works again.
    Revoke {
        /// The gateway config.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The key's id.
        id: String,
        /// The api-key-auth plugin, by name, when the config has several.
        #[arg(long)]
        plugin: Option<String>,
    },
}

/// Runs an `archway keys` subcommand, printing to stdout.
pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            KeysCommand::Create {
                config,
                subject,
                tenant,
                roles,
                permissions,
                expires_in_days,
                per_minute,
                per_day,
                plugin,
            } => {
                let keys = open(&config, plugin.as_deref()).await?;
                let new = NewKey {
                    subject,
                    tenant,
                    roles,
                    permissions,
                    expires_in: expires_in_days
                        .map(|days| Duration::from_secs(86_400 * u64::from(days))),
                    per_minute,
                    per_day,
                };
                let made = keys.create(&new).await?;
                println!("id:  {}", made.record.id);
                println!("key: {}", made.key);
                println!("Keep the key now: it is not stored and cannot be shown again.");
            }
            KeysCommand::List { config, plugin } => {
                let keys = open(&config, plugin.as_deref()).await?;
                print!("{}", table(&keys.list().await?, now()));
            }
            KeysCommand::Revoke { config, id, plugin } => {
                let keys = open(&config, plugin.as_deref()).await?;
                match keys.revoke(&id).await? {
                    Revoked::Now(_) => println!("revoked {id}"),
                    Revoked::Already(_) => println!("{id} was already revoked"),
                }
            }
        }
        Ok(())
    })
}

async fn open(path: &std::path::Path, plugin: Option<&str>) -> anyhow::Result<KeyStore> {
    let config = Config::load(path)?;
    KeyStore::open(&config, plugin).await
}

/// The listing: one line per key, columns aligned.
fn table(records: &[KeyRecord], now: u64) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "SUBJECT".to_owned(),
        "TENANT".to_owned(),
        "EXPIRES".to_owned(),
        "QUOTAS".to_owned(),
        "STATUS".to_owned(),
    ]];
    for record in records {
        let quotas = [(record.per_minute, "min"), (record.per_day, "day")]
            .into_iter()
            .filter_map(|(limit, per)| limit.map(|limit| format!("{limit}/{per}")))
            .collect::<Vec<_>>();
        let status = match (record.revoked_at, record.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(at)) if at <= now => "expired",
            _ => "active",
        };
        rows.push([
            record.id.clone(),
            record.subject.clone(),
            record.tenant.clone().unwrap_or_else(|| "-".to_owned()),
            record.expires_at.map_or_else(
                || "never".to_owned(),
                |at| archway_proxy::timestamp::rfc3339(UNIX_EPOCH + Duration::from_secs(at)),
            ),
            if quotas.is_empty() {
                "-".to_owned()
            } else {
                quotas.join(" ")
            },
            status.to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use archway_store::StoreConfig;

    use super::*;

    async fn keys() -> (KeyStore, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.redb");
        let store = Store::open(&StoreConfig::Embedded { path })
            .await
            .expect("store opens");
        (KeyStore::new(store.clone(), "api-keys"), store, dir)
    }

    fn config(plugins: &str) -> Config {
        Config::from_toml_str(plugins, std::path::Path::new(".")).expect("valid config")
    }

    #[test]
    fn the_hash_is_the_one_the_plugin_computes() {
        assert_eq!(
            key_hash("k"),
            "8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a"
        );
    }

    #[tokio::test]
    async fn a_key_is_stored_only_as_its_hash_where_the_plugin_reads() {
        let (keys, store, _dir) = keys().await;
        let made = keys
            .create(&NewKey {
                tenant: Some("acme".to_owned()),
                roles: vec!["trader".to_owned()],
                expires_in: Some(Duration::from_secs(86_400)),
                per_minute: Some(60),
                ..NewKey::for_subject("alice")
            })
            .await
            .expect("created");
        assert!(
            made.key.starts_with("ak_") && made.key.len() == 67,
            "{}",
            made.key
        );
        assert_eq!(made.record.id.len(), 16);
        let slot = format!("shared/api-keys/{}", key_hash(&made.key));
        let stored = store.get(&slot).await.expect("read").expect("stored");
        let json: serde_json::Value = serde_json::from_slice(&stored).expect("JSON");
        assert_eq!(json["subject"], "alice");
        assert_eq!(json["per_minute"], 60);
        assert_eq!(
            json["expires_at"].as_u64(),
            Some(made.record.created_at + 86_400)
        );
        let everything = store.scan_prefix("", 100).await.expect("scan");
        assert!(
            everything
                .iter()
                .all(|(key, value)| !key.contains(&made.key)
                    && !String::from_utf8_lossy(value).contains(&made.key)),
            "the key itself is stored nowhere"
        );
        let other = keys
            .create(&NewKey::for_subject("bob"))
            .await
            .expect("created");
        assert_ne!(other.key, made.key);
        assert_ne!(other.record.id, made.record.id);
    }

    #[tokio::test]
    async fn revoked_keys_stay_listed_as_revoked() {
        let (keys, _store, _dir) = keys().await;
        let made = keys
            .create(&NewKey::for_subject("alice"))
            .await
            .expect("created");
        assert!(matches!(
            keys.revoke(&made.record.id).await,
            Ok(Revoked::Now(_))
        ));
        assert!(matches!(
            keys.revoke(&made.record.id).await,
            Ok(Revoked::Already(_))
        ));
        let unknown = keys.revoke("nope").await.expect_err("no such key");
        assert_eq!(
            unknown.to_string(),
            "no API key with id nope in namespace api-keys"
        );
        let listed = keys.list().await.expect("listed");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked_at.is_some());
        assert!(
            table(&listed, now())
                .lines()
                .nth(1)
                .expect("a row")
                .ends_with("revoked")
        );
    }

    #[tokio::test]
    async fn what_the_gateway_would_refuse_is_not_stored() {
        let (keys, _store, _dir) = keys().await;
        for new in [
            NewKey::for_subject(""),
            NewKey {
                per_day: Some(0),
                ..NewKey::for_subject("a")
            },
            NewKey {
                roles: vec![String::new()],
                ..NewKey::for_subject("a")
            },
        ] {
            assert!(keys.create(&new).await.is_err(), "{new:?}");
        }
        assert_eq!(keys.list().await.expect("listed"), []);
    }

    #[test]
    fn the_listing_shows_no_secrets_and_aligns() {
        let record = KeyRecord {
            id: "5f0c4d2a9b1e7c3a".to_owned(),
            subject: "alice".to_owned(),
            tenant: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            created_at: 0,
            expires_at: Some(1_767_520_800),
            revoked_at: None,
            per_minute: Some(60),
            per_day: Some(10_000),
        };
        assert_eq!(
            table(&[record], 0),
            "ID                SUBJECT  TENANT  EXPIRES               QUOTAS            STATUS\n\
             5f0c4d2a9b1e7c3a  alice    -       2026-01-04T10:00:00Z  60/min 10000/day  active\n"
        );
    }

    #[test]
    fn the_plugin_is_found_in_the_config() {
        let plugin = |name: &str, namespace: &str| {
            format!(
                "[[plugins]]\nname = \"{name}\"\nbuiltin = \"api-key-auth\"\ncapabilities = [\"kv\"]\n\
                 share = [\"{namespace}\"]\n[plugins.config]\nnamespace = \"{namespace}\"\n"
            )
        };
        let one = config(&plugin("keys", "api-keys"));
        assert_eq!(namespace(&one, None).expect("found"), "api-keys");
        let two = config(&(plugin("a", "ns-a") + &plugin("b", "ns-b")));
        let error = namespace(&two, None).expect_err("ambiguous");
        assert!(
            error
                .to_string()
                .contains("(a, b): choose one with --plugin"),
            "{error}"
        );
        assert_eq!(namespace(&two, Some("b")).expect("chosen"), "ns-b");
        let error = namespace(&config("[log]"), None).expect_err("none");
        assert!(
            error.to_string().contains("builtin = \"api-key-auth\""),
            "{error}"
        );
        let unjoined = config(
            "[[plugins]]\nname = \"k\"\nbuiltin = \"api-key-auth\"\ncapabilities = [\"kv\"]\n",
        );
        let error = namespace(&unjoined, None).expect_err("not joined");
        assert!(
            error.to_string().contains("share = [\"api-keys\"]"),
            "{error}"
        );
    }
}
