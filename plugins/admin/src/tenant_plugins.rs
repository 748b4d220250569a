//! `/tenants/{id}/plugins`: a tenant's policy plugins. Uploads take the component as the
//! body, and its options from the query: `read_body=true` and `config=<JSON object>`.

use archway_sdk::serde_json::{self, Map, Value};
use archway_sdk::{Request, Response, admin, percent_encode};

use crate::answer;
use crate::collection::Collection;
use crate::envelope::{Failure, success};

/// The tenant plugins, as the admin import's collection `tenant-plugins` (ids
/// `<tenant>/<name>`).
const TENANT_PLUGINS: Collection = Collection {
    path: "tenant-plugins",
    import: "tenant-plugins",
    items: "plugins",
    noun: "租戶插件",
    writes: [false, false, true],
};

/// `GET /tenants/{id}/plugins`: the tenant's plugins in the order they run.
pub fn list(tenant: &str, query: &str) -> Result<Response, Failure> {
    let query = match query {
        "" => format!("tenant={}", percent_encode(tenant)),
        query => format!("tenant={}&{query}", percent_encode(tenant)),
    };
    TENANT_PLUGINS.list(&query)
}

/// `GET /tenants/{id}/plugins/{name}`.
pub fn get(tenant: &str, name: &str) -> Result<Response, Failure> {
    TENANT_PLUGINS.get(&format!("{tenant}/{name}"))
}

/// `DELETE /tenants/{id}/plugins/{name}`: stops serving an uploaded plugin.
pub fn delete(tenant: &str, name: &str) -> Result<Response, Failure> {
    TENANT_PLUGINS.delete(&format!("{tenant}/{name}"))
}

/// `PUT /tenants/{id}/plugins/{name}`: the body is the plugin's component.
pub fn upload(tenant: &str, name: &str, request: &Request) -> Result<Response, Failure> {
    let component = request.body().unwrap_or_default();
    if component.is_empty() {
        return Err(Failure::invalid(
            "component",
            "the body must be the plugin's WebAssembly component",
        ));
    }
    let mut options = Map::new();
    if let Some(read_body) = request.query_param("read_body") {
        let flag = match read_body.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(Failure::invalid("read_body", "must be true or false")),
        };
        options.insert("read_body".to_owned(), Value::Bool(flag));
    }
    if let Some(config) = request.query_param("config") {
        match serde_json::from_str(&config) {
            Ok(Value::Object(config)) => {
                options.insert("config".to_owned(), Value::Object(config));
            }
            _ => return Err(Failure::invalid("config", "must be a JSON object")),
        }
    }
    let options = Value::Object(options).to_string();
    let plugin = answer(admin::upload_tenant_plugin(
        tenant, name, &options, &component,
    ))?;
    Ok(success(200, "上傳租戶插件成功", plugin))
}
