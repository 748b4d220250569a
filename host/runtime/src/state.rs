//! The `kv` and `streams` imports: plugin data in the gateway's store. A key or stream
//! name is private to its plugin and, during a request that has one, to that tenant, so
//! a plugin reaches neither another plugin's data nor another tenant's. The one way out
//! is a name `shared/<namespace>/<rest>`: it reaches the shared namespace `<namespace>`,
//! if the plugin joined it (`share` in its config), and is the same data for every
//! plugin that joined it, in every tenant's requests and outside them (a plugin that
//! keeps per-tenant data there puts the tenant in the name). The store holds a shared
//! name as it is, so other Redis clients reach it under the same words.

use std::time::Duration;

use archway_store::{Store, StoreError, StreamEntry, StreamId};

use crate::bindings::{kv, streams};
use crate::host::HostState;

/// What a guest gets back from the store.
type GuestResult<T> = Result<T, kv::StoreError>;

/// How guests name shared namespaces, and where the store keeps them.
const SHARED: &str = "shared/";

/// The store key under which a plugin that joined shared namespace `namespace` finds its
/// `kv` key `shared/<namespace>/<name>`: the one definition of that layout, for tools
/// outside plugins (such as `archway keys`) that write data plugins read.
///
/// ```
/// assert_eq!(archway_runtime::shared_key("api-keys", "ab12"), "shared/api-keys/ab12");
/// ```
pub fn shared_key(namespace: &str, name: &str) -> String {
    format!("{SHARED}{namespace}/{name}")
}

impl HostState {
    /// The prefix of this plugin's private keys for the request in flight: its owning
    /// tenant's space for a tenant's plugin; else its space in the request's tenant, or
    /// its own space outside tenant requests (`init`, `tick`, no tenant).
    fn private_space(&self) -> String {
        let plugin = escape(&self.plugin);
        match (&self.owner, &self.request.tenant) {
            (Some(owner), _) => format!("tenants/{}/plugins/{plugin}/", escape(owner)),
            (None, Some(tenant)) => format!("plugins/{plugin}/tenants/{}/", escape(tenant)),
            (None, None) => format!("plugins/{plugin}/global/"),
        }
    }

    /// Splits a guest's name into the store prefix of the space it addresses and the
    /// rest of the name, refusing a shared namespace the plugin has not joined.
    fn place<'n>(&self, name: &'n str) -> GuestResult<(String, &'n str)> {
        let Some(shared) = name.strip_prefix(SHARED) else {
            return Ok((self.private_space(), name));
        };
        let Some((namespace, rest)) = shared.split_once('/') else {
            return Err(invalid(format!(
                "{name:?} names no shared namespace: expected shared/<namespace>/<name>"
            )));
        };
        if !self.shared_namespaces.iter().any(|n| n == namespace) {
            return Err(invalid(format!(
                "plugin {} has not joined shared namespace {namespace:?}",
                self.plugin
            )));
        }
        Ok((shared_key(namespace, ""), rest))
    }

    /// The store key of a guest's key or stream name.
    fn scoped(&self, name: &str) -> GuestResult<String> {
        let (space, rest) = self.place(name)?;
        if rest.is_empty() {
            return Err(invalid(format!("the name {name:?} is empty in its space")));
        }
        Ok(space + rest)
    }

    /// The store, or `unavailable` when this gateway process has none.
    fn data(&self) -> GuestResult<&Store> {
        self.store.as_ref().ok_or_else(|| {
            kv::StoreError::Unavailable("this gateway process has no store".to_owned())
        })
    }
}

/// Arguments the guest should not have passed.
fn invalid(message: String) -> kv::StoreError {
    kv::StoreError::Invalid(message)
}

/// A store failure as the guest sees it.
fn guest_error(error: StoreError) -> kv::StoreError {
    let message = error.to_string();
    match error {
        StoreError::TooLarge { .. } => kv::StoreError::TooLarge(message),
        StoreError::NotAnInteger { .. }
        | StoreError::NoFields { .. }
        | StoreError::Overflow { .. }
        | StoreError::InvalidRateLimit { .. } => kv::StoreError::Invalid(message),
        _ => kv::StoreError::Unavailable(message),
    }
}

/// Keeps `/` (the namespace separator) and `%` out of a namespace segment.
fn escape(segment: &str) -> String {
    segment.replace('%', "%25").replace('/', "%2F")
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> GuestResult<Option<Vec<u8>>> {
        let key = self.scoped(&key)?;
        self.data()?.get(&key).await.map_err(guest_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> GuestResult<()> {
        let ttl = ttl_ms.map(Duration::from_millis);
        let key = self.scoped(&key)?;
        self.data()?
            .set(&key, &value, ttl)
            .await
            .map_err(guest_error)
    }

    async fn delete(&mut self, key: String) -> GuestResult<bool> {
        let key = self.scoped(&key)?;
        self.data()?.delete(&key).await.map_err(guest_error)
    }

    async fn incr(&mut self, key: String, delta: i64) -> GuestResult<i64> {
        let key = self.scoped(&key)?;
        self.data()?
            .increment(&key, delta)
            .await
            .map_err(guest_error)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> GuestResult<bool> {
        let key = self.scoped(&key)?;
        self.data()?
            .compare_and_swap(&key, expected.as_deref(), Some(&value))
            .await
            .map_err(guest_error)
    }

    async fn scan(&mut self, prefix: String, limit: u32) -> GuestResult<Vec<(String, Vec<u8>)>> {
        let (space, rest) = self.place(&prefix)?;
        // Found keys go back named as the guest names them: `shared/<namespace>/...`
        // stays, a private space's store prefix goes.
        let addressed = &prefix[..prefix.len() - rest.len()];
        let found = self
            .data()?
            .scan_prefix(&format!("{space}{rest}"), limit as usize)
            .await
            .map_err(guest_error)?;
        Ok(found
            .into_iter()
            .map(|(key, value)| (format!("{addressed}{}", &key[space.len()..]), value))
            .collect())
    }
}

impl streams::Host for HostState {
    async fn append(&mut self, name: String, fields: Vec<(String, String)>) -> GuestResult<String> {
        let stream = self.scoped(&name)?;
        let id = self
            .data()?
            .append(&stream, &fields)
            .await
            .map_err(guest_error)?;
        Ok(id.to_string())
    }

    async fn range(
        &mut self,
        name: String,
        start_ms: u64,
        end_ms: u64,
        limit: u32,
    ) -> GuestResult<Vec<streams::Entry>> {
        let stream = self.scoped(&name)?;
        let entries = self
            .data()?
            .range(&stream, start_ms, end_ms, limit as usize)
            .await
            .map_err(guest_error)?;
        Ok(entries.into_iter().map(guest_entry).collect())
    }

    async fn read_after(
        &mut self,
        name: String,
        after_id: String,
        limit: u32,
    ) -> GuestResult<Vec<streams::Entry>> {
        let after = match after_id.as_str() {
            "0" => StreamId::MIN,
            id => id
                .parse()
                .map_err(|e: archway_store::ParseStreamIdError| invalid(e.to_string()))?,
        };
        let stream = self.scoped(&name)?;
        let entries = self
            .data()?
            .read_after(&stream, after, limit as usize)
            .await
            .map_err(guest_error)?;
        Ok(entries.into_iter().map(guest_entry).collect())
    }
}

/// A stored entry as the guest sees it.
fn guest_entry(entry: StreamEntry) -> streams::Entry {
    streams::Entry {
        id: entry.id.to_string(),
        fields: entry.fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostImports;

    /// A plugin's state during a request of `tenant`, having joined `share`.
    fn state(plugin: &str, tenant: Option<&str>, share: &[&str]) -> HostState {
        let imports = HostImports {
            shared_namespaces: share.iter().map(|n| (*n).to_owned()).collect(),
            ..HostImports::default()
        };
        let mut state = HostState::new(plugin.into(), 1 << 20, imports);
        state.request.tenant = tenant.map(str::to_owned);
        state
    }

    #[test]
    fn keys_are_private_to_the_plugin_and_the_requests_tenant() {
        let spaces = [
            state("counter", None, &[]).private_space(),
            state("counter", Some("acme"), &[]).private_space(),
            state("counter", Some("globex"), &[]).private_space(),
            state("other", Some("acme"), &[]).private_space(),
            state("counter/tenants/acme", None, &[]).private_space(),
            owned("acme", "acme/policy", Some("acme")).private_space(),
            owned("globex", "globex/policy", Some("globex")).private_space(),
            SHARED.to_owned(),
        ];
        for (i, a) in spaces.iter().enumerate() {
            for b in &spaces[i + 1..] {
                assert!(
                    !a.starts_with(b.as_str()) && !b.starts_with(a.as_str()),
                    "{a} and {b} overlap"
                );
            }
        }
    }

    /// The state of tenant `owner`'s plugin during a request of `tenant`.
    fn owned(owner: &str, plugin: &str, tenant: Option<&str>) -> HostState {
        let mut state = state(plugin, tenant, &[]);
        state.owner = Some(owner.into());
        state
    }

    #[test]
    fn a_tenants_plugin_keeps_its_data_in_its_tenants_space_whatever_the_request() {
        let space = "tenants/acme/plugins/acme%2Fpolicy/";
        for tenant in [Some("acme"), None] {
            assert_eq!(owned("acme", "acme/policy", tenant).private_space(), space);
        }
    }

    #[test]
    fn a_joined_namespace_is_one_space_for_every_plugin_and_tenant() {
        for (plugin, tenant) in [("control", None), ("worker", Some("acme"))] {
            let state = state(plugin, tenant, &["risk", "trading"]);
            assert_eq!(
                state.scoped("shared/trading/price").expect("joined"),
                "shared/trading/price"
            );
            assert_eq!(
                state.place("shared/trading/").expect("joined"),
                ("shared/trading/".to_owned(), ""),
                "a scan of the whole namespace"
            );
        }
        let worker = state("worker", Some("acme"), &["trading"]);
        assert_eq!(
            worker.scoped("price").expect("private"),
            "plugins/worker/tenants/acme/price"
        );
    }

    #[test]
    fn a_namespace_not_joined_or_not_named_is_invalid() {
        let outsider = state("outsider", None, &["other"]);
        let refused = |name: &str| match outsider.scoped(name) {
            Err(kv::StoreError::Invalid(message)) => message,
            other => panic!("{name}: expected invalid, got {other:?}"),
        };
        assert_eq!(
            refused("shared/trading/price"),
            "plugin outsider has not joined shared namespace \"trading\""
        );
        assert!(refused("shared/trading").contains("names no shared namespace"));
        assert!(refused("shared/other/").contains("is empty"));
        assert!(refused("").contains("is empty"));
    }

    #[test]
    fn namespace_segments_cannot_contain_the_separator() {
        assert_eq!(escape("a/b%c"), "a%2Fb%25c");
    }
}
