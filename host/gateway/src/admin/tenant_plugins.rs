//! `tenant-plugins`: each tenant's policy plugins serving now (the file's and the
//! uploaded ones) with their reload status, under the id `<tenant>/<name>`; uploads,
//! checked like a hot reload before they are stored and served by every node; and
//! removal of an uploaded one.

use archway_config::{MAX_TENANT_NAME_BYTES, is_tenant_name};
use archway_runtime::{AdminError, ComponentBytes};
use serde_json::{Value, json};

use super::input::Query;
use super::{AdminApi, not_found, page, plugins, tenants};
use crate::tenant_plugins::TenantPluginOptions;
use crate::uploads::MAX_COMPONENT_BYTES;

/// One tenant plugin, by `<tenant>/<name>`.
pub(super) async fn get(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let (tenant, _) = split(id)?;
    items(api, tenant)
        .await?
        .into_iter()
        .find(|item| item["id"] == id)
        .ok_or_else(|| not_found("tenant plugin", id))
}

/// The plugins of the tenant `tenant` names, in the order they run (`page`, `size`).
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let tenant = query
        .get("tenant")
        .ok_or_else(|| AdminError::invalid("tenant", "is required"))?;
    known(api, tenant).await?;
    let (total, items) = query.page(items(api, tenant).await?)?;
    Ok(page(total, items))
}

/// Serves `component` as tenant `tenant`'s policy plugin `name` on every node, once it
/// has passed the checks of a hot reload (it loads within the tenant's budgets and
/// exports `authorize`); a version that fails is refused and the serving one stays.
pub(super) async fn upload(
    api: &AdminApi,
    tenant: &str,
    name: &str,
    options: &str,
    component: Vec<u8>,
    uploaded_by: Option<String>,
) -> Result<Value, AdminError> {
    known(api, tenant).await?;
    if !is_tenant_name(name) {
        return Err(AdminError::invalid(
            "name",
            format!("must be 1-{MAX_TENANT_NAME_BYTES} letters, digits, - or _"),
        ));
    }
    let serving = api.serving()?;
    let config = serving.config();
    let declared = config
        .tenants
        .iter()
        .filter(|t| t.id == tenant)
        .flat_map(|t| &t.plugins)
        .any(|p| p.name == name);
    if declared {
        return Err(AdminError::Conflict(format!(
            "tenant {tenant:?} has plugin {name:?} in the config file, which serves it"
        )));
    }
    let options: TenantPluginOptions =
        serde_json::from_str(options).map_err(|e| AdminError::invalid("options", e.to_string()))?;
    if component.len() > MAX_COMPONENT_BYTES {
        let size = component.len();
        let most = format!("is {size} bytes; the most is {MAX_COMPONENT_BYTES}");
        return Err(AdminError::invalid("component", most));
    }
    let component = ComponentBytes::new(component);
    let reloader = api.reloader()?;
    let uploads = reloader.uploads();
    reloader
        .check_version(&options.settings(tenant, name, config), &component)
        .await
        .map_err(|error| AdminError::invalid("component", format!("{error:#}")))?;
    uploads
        .save_tenant_plugin(tenant, name, options, &component, uploaded_by)
        .await?;
    reloader.reload().await;
    get(api, &format!("{tenant}/{name}")).await
}

/// Stops serving tenant plugin `<tenant>/<name>`, which must have been uploaded.
pub(super) async fn remove(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let (tenant, name) = split(id)?;
    let before = get(api, id).await?;
    let reloader = api.reloader()?;
    if reloader
        .uploads()
        .remove_tenant_plugin(tenant, name)
        .await?
        .is_none()
    {
        return Err(AdminError::Conflict(format!(
            "tenant plugin {id:?} comes from the config file: remove it there"
        )));
    }
    reloader.reload().await;
    Ok(before)
}

/// `<tenant>/<name>` split in two.
fn split(id: &str) -> Result<(&str, &str), AdminError> {
    id.split_once('/')
        .ok_or_else(|| not_found("tenant plugin", id))
}

/// Fails unless tenant `tenant` is in the config file or the tenant catalogue.
async fn known(api: &AdminApi, tenant: &str) -> Result<(), AdminError> {
    let in_file = api
        .serving()?
        .config()
        .tenants
        .iter()
        .any(|t| t.id == tenant);
    match in_file || tenants::exists(api, tenant).await? {
        true => Ok(()),
        false => Err(not_found("tenant", tenant)),
    }
}

/// Tenant `tenant`'s plugins serving now, in the order they run.
async fn items(api: &AdminApi, tenant: &str) -> Result<Vec<Value>, AdminError> {
    let serving = api.serving()?;
    let statuses = api.reloader()?.plugin_status();
    let uploads = api.reloader()?.uploads().tenant_plugins().await?;
    Ok(serving
        .tenant_plugins(tenant)
        .iter()
        .map(|plugin| {
            let short = &plugin.name()[tenant.len() + 1..];
            let status = statuses.iter().find(|s| s.name == plugin.name());
            let upload = uploads
                .iter()
                .find(|u| u.tenant == tenant && u.name == short);
            let mut item = plugins::item(plugin, status, None);
            item["tenant_id"] = json!(tenant);
            item["name"] = json!(short);
            item["read_body"] = json!(plugin.settings().read_body);
            item["upload"] = json!(upload.map(|u| &u.upload));
            item
        })
        .collect())
}
