//! Plugin versions uploaded through the admin API. A component is larger than one store
//! value, so it is kept in chunks under its digest, and a plugin record names the digest
//! serving now: every node loads the same bytes, and a node that restarts serves them
//! again. The record is written last, so a reader never sees a version half stored.
//! Tenants' plugins (see `tenant_plugins`) keep their chunks the same way, under
//! `<tenant>/<plugin>`.

use archway_runtime::ComponentBytes;
use archway_store::MAX_VALUE_BYTES;
use serde::{Deserialize, Serialize};

use crate::state::{GatewayState, Kind, StateError};
use crate::status::hex;

/// Where the chunks live, under `<plugin>/<digest>/<n>`.
const CHUNKS: &str = "archway:uploads/";

/// The largest component accepted.
pub(crate) const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// The uploaded version of a plugin that serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    /// The SHA-256 of the component, in hex.
    pub digest: String,
    /// The component's size in bytes.
    pub size: usize,
    /// When it was uploaded (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub uploaded_at: String,
    /// The subject of the principal who uploaded it.
    pub uploaded_by: Option<String>,
}

impl UploadRecord {
    fn chunk_keys(&self, plugin: &str) -> impl Iterator<Item = String> + use<'_> {
        let prefix = format!("{CHUNKS}{plugin}/{}/", self.digest);
        (0..self.size.div_ceil(MAX_VALUE_BYTES)).map(move |n| format!("{prefix}{n}"))
    }
}

/// Uploaded plugin versions in the gateway's store.
#[derive(Clone, Debug)]
pub(crate) struct Uploads {
    state: GatewayState,
}

impl Uploads {
    /// Uploads kept in `state`'s store.
    pub(crate) fn new(state: GatewayState) -> Self {
        Self { state }
    }

    /// The uploaded version of `plugin` that serves, if any.
    pub(crate) async fn record(&self, plugin: &str) -> Result<Option<UploadRecord>, StateError> {
        self.state.get(Kind::Plugin, plugin).await
    }

    /// The uploaded component of `plugin`, checked against its digest.
    pub(crate) async fn component(
        &self,
        plugin: &str,
    ) -> Result<Option<ComponentBytes>, StateError> {
        match self.record(plugin).await? {
            Some(record) => Ok(Some(self.read_chunks(plugin, &record).await?)),
            None => Ok(None),
        }
    }

    /// Stores `component` as the version of `plugin` that serves, announces it to every
    /// node, and drops the chunks of the version it replaces.
    pub(crate) async fn save(
        &self,
        plugin: &str,
        component: &ComponentBytes,
        uploaded_by: Option<String>,
    ) -> Result<UploadRecord, StateError> {
        let record = self.write_chunks(plugin, component, uploaded_by).await?;
        let previous = self.record(plugin).await?;
        self.state.put(Kind::Plugin, plugin, &record).await?;
        if let Some(previous) = previous.filter(|p| p.digest != record.digest) {
            self.drop_chunks(plugin, &previous).await;
        }
        Ok(record)
    }

    /// Forgets the uploaded version of `plugin` (its configured source serves again) and
    /// announces it; the version forgotten, if there was one.
    pub(crate) async fn remove(&self, plugin: &str) -> Result<Option<UploadRecord>, StateError> {
        let Some(record) = self.record(plugin).await? else {
            return Ok(None);
        };
        self.state.delete(Kind::Plugin, plugin).await?;
        self.drop_chunks(plugin, &record).await;
        Ok(Some(record))
    }

    /// The component upload `name` stored under `record`, checked against its digest.
    pub(crate) async fn read_chunks(
        &self,
        name: &str,
        record: &UploadRecord,
    ) -> Result<ComponentBytes, StateError> {
        let mut bytes = Vec::with_capacity(record.size);
        for key in record.chunk_keys(name) {
            let chunk = self.state.store().get(&key).await?;
            bytes.extend(chunk.ok_or_else(|| corrupt(&key, "a chunk is missing"))?);
        }
        let component = ComponentBytes::new(bytes);
        if hex(&component.hash()) != record.digest {
            return Err(corrupt(name, "the chunks do not match the digest"));
        }
        Ok(component)
    }

    /// Stores the chunks of `component` for upload `name`; the record that names them,
    /// which the caller writes last.
    pub(crate) async fn write_chunks(
        &self,
        name: &str,
        component: &ComponentBytes,
        uploaded_by: Option<String>,
    ) -> Result<UploadRecord, StateError> {
        let record = UploadRecord {
            digest: hex(&component.hash()),
            size: component.bytes().len(),
            uploaded_at: archway_proxy::timestamp::now(),
            uploaded_by,
        };
        let chunks = component.bytes().chunks(MAX_VALUE_BYTES);
        for (key, chunk) in record.chunk_keys(name).zip(chunks) {
            self.state.store().set(&key, chunk, None).await?;
        }
        Ok(record)
    }

    /// Deletes the chunks of a version no record names any more; a failure leaves
    /// unreachable bytes behind, which is logged, not an error.
    pub(crate) async fn drop_chunks(&self, name: &str, record: &UploadRecord) {
        for key in record.chunk_keys(name) {
            if let Err(error) = self.state.store().delete(&key).await {
                tracing::warn!(target: "archway.admin", %error, key, "cannot delete an old upload chunk");
            }
        }
    }

    /// The gateway state the records live in.
    pub(crate) fn state(&self) -> &GatewayState {
        &self.state
    }
}

fn corrupt(key: &str, reason: &str) -> StateError {
    StateError::Corrupt {
        kind: "plugins",
        key: key.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use archway_store::{Store, StoreConfig};

    use super::*;

    #[tokio::test]
    async fn a_component_larger_than_a_store_value_round_trips_and_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&StoreConfig::Embedded {
            path: dir.path().join("state.redb"),
        })
        .await
        .expect("store opens");
        let uploads = Uploads::new(GatewayState::new(store.clone()));
        let first: Vec<u8> = (0..MAX_VALUE_BYTES * 2 + 7).map(|i| i as u8).collect();
        let saved = uploads
            .save(
                "policy",
                &ComponentBytes::new(first.clone()),
                Some("ops".into()),
            )
            .await
            .expect("saved");
        assert_eq!(saved.size, first.len());
        let loaded = uploads.component("policy").await.expect("read");
        assert_eq!(loaded.expect("uploaded").bytes(), &first[..]);

        let second = ComponentBytes::new(vec![1, 2, 3]);
        uploads.save("policy", &second, None).await.expect("saved");
        let old_chunks = store
            .scan_prefix(&format!("{CHUNKS}policy/{}/", saved.digest), 10)
            .await
            .expect("scan");
        assert!(
            old_chunks.is_empty(),
            "the replaced version's chunks are gone"
        );

        assert!(uploads.remove("policy").await.expect("removed").is_some());
        assert!(uploads.component("policy").await.expect("read").is_none());
        assert!(
            store
                .scan_prefix(CHUNKS, 10)
                .await
                .expect("scan")
                .is_empty()
        );
    }
}
