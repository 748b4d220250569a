//! The `kv` and `streams` imports: plugin data in the gateway's store. Every key and
//! stream name is namespaced by plugin and, during a request that has one, by tenant, so
//! a plugin reaches neither another plugin's data nor another tenant's.

use std::time::Duration;

use archway_store::{Store, StoreError, StreamEntry, StreamId};

use crate::bindings::{kv, streams};
use crate::host::HostState;

/// What a guest gets back from the store.
type GuestResult<T> = Result<T, kv::StoreError>;

impl HostState {
    /// The prefix of this plugin's keys for the request in flight: its tenant's space,
    /// or the plugin's shared space outside tenant requests (`init`, `tick`, no tenant).
    fn namespace(&self) -> String {
        let plugin = escape(&self.plugin);
        match &self.request.tenant {
            Some(tenant) => format!("plugins/{plugin}/tenants/{}/", escape(tenant)),
            None => format!("plugins/{plugin}/shared/"),
        }
    }

    /// `name` inside this plugin's namespace.
    fn scoped(&self, name: &str) -> GuestResult<String> {
        if name.is_empty() {
            return Err(kv::StoreError::Invalid("the name is empty".to_owned()));
        }
        Ok(format!("{}{name}", self.namespace()))
    }

    /// The store, or `unavailable` when this gateway process has none.
    fn data(&self) -> GuestResult<&Store> {
        self.store.as_ref().ok_or_else(|| {
            kv::StoreError::Unavailable("this gateway process has no store".to_owned())
        })
    }
}

/// A store failure as the guest sees it.
fn guest_error(error: StoreError) -> kv::StoreError {
    let message = error.to_string();
    match error {
        StoreError::TooLarge { .. } => kv::StoreError::TooLarge(message),
        StoreError::NotAnInteger { .. }
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
        let namespace = self.namespace();
        let scope = format!("{namespace}{prefix}");
        let found = self
            .data()?
            .scan_prefix(&scope, limit as usize)
            .await
            .map_err(guest_error)?;
        Ok(found
            .into_iter()
            .map(|(key, value)| (key[namespace.len()..].to_owned(), value))
            .collect())
    }
}

impl streams::Host for HostState {
    async fn append(&mut self, name: String, fields: Vec<(String, String)>) -> GuestResult<String> {
        let payload = serde_json::to_vec(&fields).expect("string pairs always serialise");
        let stream = self.scoped(&name)?;
        let id = self
            .data()?
            .append(&stream, &payload)
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
            id => id.parse().map_err(|e: archway_store::ParseStreamIdError| {
                kv::StoreError::Invalid(e.to_string())
            })?,
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

/// A stored entry as the guest sees it; entries are only written by `append`, so their
/// payload is always the JSON of its fields.
fn guest_entry(entry: StreamEntry) -> streams::Entry {
    streams::Entry {
        id: entry.id.to_string(),
        fields: serde_json::from_slice(&entry.payload).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostImports;

    #[test]
    fn keys_are_private_to_the_plugin_and_the_requests_tenant() {
        let namespace = |plugin: &str, tenant: Option<&str>| {
            let mut state = HostState::new(plugin.into(), 1 << 20, HostImports::default());
            state.request.tenant = tenant.map(str::to_owned);
            state.namespace()
        };
        let spaces = [
            namespace("counter", None),
            namespace("counter", Some("acme")),
            namespace("counter", Some("globex")),
            namespace("other", Some("acme")),
            namespace("counter/tenants/acme", None),
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

    #[test]
    fn namespace_segments_cannot_contain_the_separator() {
        assert_eq!(escape("a/b%c"), "a%2Fb%25c");
    }
}
