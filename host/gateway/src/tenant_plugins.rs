//! Tenants' policy plugins uploaded through the admin API: a record per plugin (its
//! options and the digest of its component) in the gateway state, the component in
//! chunks beside the other uploads. Every node loads them with the file's plugins, so
//! an upload serves everywhere, and a node that restarts serves it again.

use std::collections::BTreeMap;

use archway_config::{Config, PluginConfig, PluginSource, tenant_plugin_settings};
use archway_runtime::ComponentBytes;
use serde::{Deserialize, Serialize};

use crate::state::{Kind, StateError};
use crate::uploads::{UploadRecord, Uploads};

/// What a tenant's plugin is loaded with, besides its component.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantPluginOptions {
    /// Whether it reads the request body.
    #[serde(default)]
    pub read_body: bool,
    /// Passed to its `init` as JSON.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
}

/// One uploaded tenant plugin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TenantPluginRecord {
    /// The tenant.
    pub tenant: String,
    /// Its name within the tenant.
    pub name: String,
    /// What it loads with.
    pub options: TenantPluginOptions,
    /// Its component.
    pub upload: UploadRecord,
}

impl TenantPluginOptions {
    /// The settings tenant `tenant`'s uploaded plugin `name` loads with under `config`'s
    /// budgets for that tenant.
    pub(crate) fn settings(&self, tenant: &str, name: &str, config: &Config) -> PluginConfig {
        tenant_plugin_settings(
            tenant,
            name,
            PluginSource::Uploaded,
            config.tenant_budget(tenant),
            self.read_body,
            self.config.clone(),
        )
    }
}

impl TenantPluginRecord {
    /// The settings it loads with under `config`.
    pub(crate) fn settings(&self, config: &Config) -> PluginConfig {
        self.options.settings(&self.tenant, &self.name, config)
    }
}

/// The record id of tenant `tenant`'s plugin `name` (neither holds a `:`).
fn record_id(tenant: &str, name: &str) -> String {
    format!("{tenant}:{name}")
}

/// The name its chunks and its loaded plugin go by.
fn upload_name(tenant: &str, name: &str) -> String {
    format!("{tenant}/{name}")
}

impl Uploads {
    /// Every uploaded tenant plugin.
    pub(crate) async fn tenant_plugins(&self) -> Result<Vec<TenantPluginRecord>, StateError> {
        self.state().list(Kind::TenantPlugin).await
    }

    /// Tenant `tenant`'s uploaded plugin `name`, if there is one.
    pub(crate) async fn tenant_plugin(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<TenantPluginRecord>, StateError> {
        let id = record_id(tenant, name);
        self.state().get(Kind::TenantPlugin, &id).await
    }

    /// The component of tenant `tenant`'s uploaded plugin `name`.
    pub(crate) async fn tenant_component(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<ComponentBytes>, StateError> {
        let Some(record) = self.tenant_plugin(tenant, name).await? else {
            return Ok(None);
        };
        let upload = upload_name(tenant, name);
        Ok(Some(self.read_chunks(&upload, &record.upload).await?))
    }

    /// Stores `component` as tenant `tenant`'s plugin `name` and announces it to every
    /// node; the chunks of the version it replaces are dropped.
    pub(crate) async fn save_tenant_plugin(
        &self,
        tenant: &str,
        name: &str,
        options: TenantPluginOptions,
        component: &ComponentBytes,
        uploaded_by: Option<String>,
    ) -> Result<TenantPluginRecord, StateError> {
        let upload = upload_name(tenant, name);
        let record = TenantPluginRecord {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            options,
            upload: self.write_chunks(&upload, component, uploaded_by).await?,
        };
        let previous = self.tenant_plugin(tenant, name).await?;
        let id = record_id(tenant, name);
        self.state().put(Kind::TenantPlugin, &id, &record).await?;
        if let Some(previous) = previous.filter(|p| p.upload.digest != record.upload.digest) {
            self.drop_chunks(&upload, &previous.upload).await;
        }
        Ok(record)
    }

    /// Removes tenant `tenant`'s uploaded plugin `name` and announces it; the record
    /// removed, if there was one.
    pub(crate) async fn remove_tenant_plugin(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<TenantPluginRecord>, StateError> {
        let Some(record) = self.tenant_plugin(tenant, name).await? else {
            return Ok(None);
        };
        let id = record_id(tenant, name);
        self.state().delete(Kind::TenantPlugin, &id).await?;
        self.drop_chunks(&upload_name(tenant, name), &record.upload)
            .await;
        Ok(Some(record))
    }
}
