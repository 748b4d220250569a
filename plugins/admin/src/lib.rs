//! First-party `handle` plugin: the admin REST API of `../shared/contracts/gateway-admin-api.md`
//! (routes, batch routes, service instances, permissions) and, in the same envelope,
//! roles, API keys, token revocation and the audit log of every change, over the
//! privileged `admin` import, so what it writes is live on every node's
//! data path at once.
//!
//! Every call needs a principal (the route's authenticate plugins give it): reads need
//! `gateway.read` or `gateway.admin`, writes `gateway.admin`. Answers use the contract's
//! envelope; see the README for each endpoint and the contract notes.

mod collection;
mod envelope;
mod routes;
mod services;
mod tenant_plugins;

use archway_sdk::admin::AdminError;
#[cfg(test)]
use archway_sdk::serde_json::json;
use archway_sdk::serde_json::{self, Map, Value};
use archway_sdk::{Deny, Handle, Plugin, Request, Response, percent_decode};
use serde::Deserialize;

use collection::Collection;
pub use envelope::Failure;

/// The permission every write needs.
pub const ADMIN_PERMISSION: &str = "gateway.admin";
/// The permission that is enough for reads.
pub const READ_PERMISSION: &str = "gateway.read";

/// Where the API is mounted.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The path prefix the admin route serves (`/admin`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_prefix() -> String {
    "/admin".to_owned()
}

/// The admin API.
pub struct Admin {
    prefix: String,
}

impl Plugin for Admin {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !config.prefix.starts_with('/') || config.prefix.ends_with('/') {
            return Err("config: prefix must start with / and not end with one".to_owned());
        }
        Ok(Self {
            prefix: config.prefix,
        })
    }
}

impl Handle for Admin {
    fn handle(&self, request: &Request) -> Result<Response, Deny> {
        Ok(self
            .answer(request)
            .unwrap_or_else(|failure| failure.response()))
    }
}

/// Whether a call reads or changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl Admin {
    fn answer(&self, request: &Request) -> Result<Response, Failure> {
        let path = request.path();
        let rest = path
            .strip_prefix(&self.prefix)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .ok_or_else(|| Failure::not_found("no admin endpoint at this path"))?;
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method();
        let access = match method.as_str() {
            "GET" | "HEAD" => Access::Read,
            _ => Access::Write,
        };
        let endpoint = endpoint(&method, &segments)?;
        check_access(request, access)?;
        let query = request.query().unwrap_or_default();
        match endpoint {
            Endpoint::ListRoutes => routes::list(&query),
            Endpoint::CreateRoute => routes::create(&body(request)?),
            Endpoint::GetRoute(id) => routes::get(id),
            Endpoint::UpdateRoute(id) => routes::update(id, &body(request)?),
            Endpoint::DeleteRoute(id) => routes::delete(id),
            Endpoint::BatchRoutes => routes::batch(&body(request)?),
            Endpoint::ListInstances => services::list(&query),
            Endpoint::Register => services::register(&body(request)?),
            Endpoint::GetInstance(id) => services::get(id),
            Endpoint::UpdateInstance(id) => services::update(id, &body(request)?),
            Endpoint::Deregister(id) => services::deregister(id),
            Endpoint::RevokeToken => tokens(&body(request)?),
            Endpoint::Reload => reload(),
            Endpoint::Upload(name) => upload(name, request),
            Endpoint::Canary(name, action) => canary(name, action),
            Endpoint::TenantPlugins(tenant) => tenant_plugins::list(tenant, &query),
            Endpoint::TenantPlugin(tenant, name) => tenant_plugins::get(tenant, name),
            Endpoint::UploadTenantPlugin(tenant, name) => {
                tenant_plugins::upload(tenant, name, request)
            }
            Endpoint::RemoveTenantPlugin(tenant, name) => tenant_plugins::delete(tenant, name),
            Endpoint::List(collection) => collection.list(&query),
            Endpoint::Create(collection) => collection.create(&body(request)?),
            Endpoint::Get(collection, id) => collection.get(id),
            Endpoint::Update(collection, id) => collection.update(id, &body(request)?),
            Endpoint::Delete(collection, id) => collection.delete(id),
        }
    }
}

/// What a method and path ask for.
enum Endpoint<'a> {
    ListRoutes,
    CreateRoute,
    GetRoute(&'a str),
    UpdateRoute(&'a str),
    DeleteRoute(&'a str),
    BatchRoutes,
    ListInstances,
    Register,
    GetInstance(&'a str),
    UpdateInstance(&'a str),
    Deregister(&'a str),
    RevokeToken,
    Reload,
    Upload(&'a str),
    Canary(&'a str, &'a str),
    TenantPlugins(&'a str),
    TenantPlugin(&'a str, &'a str),
    UploadTenantPlugin(&'a str, &'a str),
    RemoveTenantPlugin(&'a str, &'a str),
    List(&'static Collection),
    Create(&'static Collection),
    Get(&'static Collection, &'a str),
    Update(&'static Collection, &'a str),
    Delete(&'static Collection, &'a str),
}

fn endpoint<'a>(method: &str, segments: &[&'a str]) -> Result<Endpoint<'a>, Failure> {
    let found = match (segments, method) {
        (["routes"], "GET") => Endpoint::ListRoutes,
        (["routes"], "POST") => Endpoint::CreateRoute,
        (["routes", id], "GET") => Endpoint::GetRoute(id),
        (["routes", id], "PUT") => Endpoint::UpdateRoute(id),
        (["routes", id], "DELETE") => Endpoint::DeleteRoute(id),
        (["batch", "routes"], "POST") => Endpoint::BatchRoutes,
        (["services"], "GET") => Endpoint::ListInstances,
        (["services"], "POST") => Endpoint::Register,
        (["services", id], "GET") => Endpoint::GetInstance(id),
        (["services", id], "PUT") => Endpoint::UpdateInstance(id),
        (["services", id], "DELETE") => Endpoint::Deregister(id),
        (["tokens", "revoke"], "POST") => Endpoint::RevokeToken,
        (["plugins", "reload"], "POST") => Endpoint::Reload,
        (["plugins", name], "PUT") => Endpoint::Upload(name),
        (["plugins", name, "canary", action @ ("rollback" | "promote")], "POST") => {
            Endpoint::Canary(name, action)
        }
        (["plugins", _, "canary", "rollback" | "promote"], _) => {
            return Err(Failure::method_not_allowed());
        }
        (["tenants", tenant, "plugins"], "GET") => Endpoint::TenantPlugins(tenant),
        (["tenants", tenant, "plugins", name], "GET") => Endpoint::TenantPlugin(tenant, name),
        (["tenants", tenant, "plugins", name], "PUT") => Endpoint::UploadTenantPlugin(tenant, name),
        (["tenants", tenant, "plugins", name], "DELETE") => {
            Endpoint::RemoveTenantPlugin(tenant, name)
        }
        (["tenants", _, "plugins"] | ["tenants", _, "plugins", _], _) => {
            return Err(Failure::method_not_allowed());
        }
        ([name, rest @ ..], method) if rest.len() <= 1 && collection::named(name).is_some() => {
            let collection = collection::named(name).expect("just found");
            let [create, update, delete] = collection.writes;
            match (rest, method) {
                ([], "GET") => Endpoint::List(collection),
                ([], "POST") if create => Endpoint::Create(collection),
                ([id], "GET") => Endpoint::Get(collection, id),
                ([id], "PUT") if update => Endpoint::Update(collection, id),
                ([id], "DELETE") if delete => Endpoint::Delete(collection, id),
                _ => return Err(Failure::method_not_allowed()),
            }
        }
        (["routes" | "services"] | ["routes" | "services", _], _)
        | (["batch", "routes"] | ["tokens", "revoke"] | ["plugins", "reload"], _) => {
            return Err(Failure::method_not_allowed());
        }
        _ => return Err(Failure::not_found("no admin endpoint at this path")),
    };
    Ok(found)
}

/// `POST /admin/plugins/reload`: applies what changed on disk now.
fn reload() -> Result<Response, Failure> {
    let outcome = answer(archway_sdk::admin::put("reloads", None, "{}"))?;
    Ok(envelope::success(200, "重新加載完成", outcome))
}

/// `PUT /admin/plugins/{name}`: the body is a new version of the plugin's component.
fn upload(name: &str, request: &Request) -> Result<Response, Failure> {
    let component = request.body().unwrap_or_default();
    if component.is_empty() {
        return Err(Failure::invalid(
            "component",
            "the body must be the plugin's WebAssembly component",
        ));
    }
    let plugin = answer(archway_sdk::admin::upload(name, &component))?;
    Ok(envelope::success(200, "上傳插件成功", plugin))
}

/// `POST /admin/plugins/{name}/canary/{rollback|promote}`: ends a plugin's canary on
/// every node, or makes it the serving version.
fn canary(name: &str, action: &str) -> Result<Response, Failure> {
    let body = archway_sdk::serde_json::json!({ "action": action }).to_string();
    let plugin = answer(archway_sdk::admin::put("canaries", Some(name), &body))?;
    let message = match action {
        "promote" => "金絲雀版本已推廣",
        _ => "金絲雀版本已回滾",
    };
    Ok(envelope::success(200, message, plugin))
}

/// `POST /admin/tokens/revoke`: a JWT by its `token`, or its `jti` and `expires_at`.
fn tokens(body: &Map<String, Value>) -> Result<Response, Failure> {
    let revoked = answer(archway_sdk::admin::put(
        "revoked-tokens",
        None,
        &Value::Object(body.clone()).to_string(),
    ))?;
    Ok(envelope::success(200, "撤銷令牌成功", revoked))
}

/// Reads need `gateway.read` or `gateway.admin`; writes need `gateway.admin`.
fn check_access(request: &Request, access: Access) -> Result<(), Failure> {
    let principal = request.principal().ok_or_else(Failure::unauthorized)?;
    let holds = |permission: &str| principal.permissions.iter().any(|p| p == permission);
    let allowed = holds(ADMIN_PERMISSION) || (access == Access::Read && holds(READ_PERMISSION));
    match allowed {
        true => Ok(()),
        false => Err(Failure::forbidden(match access {
            Access::Read => READ_PERMISSION,
            Access::Write => ADMIN_PERMISSION,
        })),
    }
}

/// The request body as a JSON object.
fn body(request: &Request) -> Result<Map<String, Value>, Failure> {
    let bytes = request.body().unwrap_or_default();
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Failure::invalid("body", "must be a JSON object")),
        Err(e) => Err(Failure::invalid("body", &format!("is not valid JSON: {e}"))),
    }
}

/// An admin import answer as JSON.
fn answer(reply: Result<String, AdminError>) -> Result<Value, Failure> {
    let text = reply?;
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The named fields of an item, in this order (absent ones as null).
fn pick(item: &Value, fields: &[&str]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|field| {
                (
                    (*field).to_owned(),
                    item.get(field).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}

archway_sdk::export!(Admin: handle);

#[cfg(test)]
mod tests {
    use archway_sdk::admin::{self, Call, FieldError};
    use archway_sdk::{FakeRequest, Principal};

    use super::*;

    fn plugin() -> Admin {
        Admin::from_json("{}").expect("default config")
    }

    fn with(permissions: &[&str]) -> Principal {
        Principal::subject("ops").with_permissions(permissions)
    }

    fn answer_of(request: FakeRequest) -> (u16, Value) {
        let response = plugin().handle(&request.request()).expect("always answers");
        let body = serde_json::from_slice(&response.body).expect("JSON body");
        (response.status, body)
    }

    #[test]
    fn reads_need_read_or_admin_and_writes_need_admin() {
        admin::fake::answer(|_| Ok(r#"{"total": 0, "items": []}"#.to_owned()));
        let cases = [
            ("GET", None, 401, "F40001"),
            ("GET", Some(with(&["user.read"])), 403, "F40003"),
            ("GET", Some(with(&[READ_PERMISSION])), 200, "S10000"),
            ("GET", Some(with(&[ADMIN_PERMISSION])), 200, "S10000"),
            ("POST", Some(with(&[READ_PERMISSION])), 403, "F40003"),
        ];
        for (method, principal, status, code) in cases {
            let mut request = FakeRequest::new(method, "/admin/permissions");
            if let Some(principal) = principal {
                request = request.principal(principal);
            }
            let (got, body) = answer_of(request);
            assert_eq!(
                (got, body["code"].as_str()),
                (status, Some(code)),
                "{method} {body}"
            );
        }
    }

    #[test]
    fn admin_errors_become_the_contract_codes() {
        admin::fake::answer(|call| match call {
            Call::Put { .. } => Err(admin::AdminError::Invalid(FieldError {
                field: "method".to_owned(),
                message: "must be one of GET, POST, PUT, DELETE, PATCH, ANY".to_owned(),
            })),
            Call::Delete { .. } => Err(admin::AdminError::Conflict("read-only".to_owned())),
            _ => Err(admin::AdminError::NotFound("no route".to_owned())),
        });
        let admin = with(&[ADMIN_PERMISSION]);
        let (status, body) = answer_of(
            FakeRequest::new("POST", "/admin/routes")
                .principal(admin.clone())
                .body(br#"{"method": "HEAD"}"#.to_vec()),
        );
        assert_eq!((status, &body["code"]), (400, &json!("F40000")));
        assert_eq!(body["content"]["field"], "method");
        let (status, body) =
            answer_of(FakeRequest::new("DELETE", "/admin/routes/file").principal(admin.clone()));
        assert_eq!((status, &body["code"]), (409, &json!("F40900")));
        let (status, body) =
            answer_of(FakeRequest::new("GET", "/admin/routes/x").principal(admin.clone()));
        assert_eq!((status, &body["code"]), (404, &json!("F40400")));
        let (status, body) = answer_of(
            FakeRequest::new("POST", "/admin/routes")
                .principal(admin)
                .body(b"[]".to_vec()),
        );
        assert_eq!((status, &body["content"]["field"]), (400, &json!("body")));
    }

    #[test]
    fn an_update_reports_the_fields_it_was_sent() {
        admin::fake::answer(|call| match call {
            Call::Put {
                id: Some(id), body, ..
            } => {
                assert_eq!(body, r#"{"rate_limit_rpm":100,"timeout_seconds":10}"#);
                Ok(json!({"id": id, "updated_at": "2025-01-09 11:00:00"}).to_string())
            }
            other => panic!("unexpected call {other:?}"),
        });
        let (status, body) = answer_of(
            FakeRequest::new("PUT", "/admin/routes/r1")
                .principal(with(&[ADMIN_PERMISSION]))
                .body(br#"{"timeout_seconds": 10, "rate_limit_rpm": 100}"#.to_vec()),
        );
        assert_eq!(status, 200);
        assert_eq!(
            body["content"],
            json!({
                "route_id": "r1",
                "updated_fields": ["rate_limit_rpm", "timeout_seconds"],
                "updated_at": "2025-01-09 11:00:00",
            })
        );
    }

    #[test]
    fn paths_outside_the_api_and_other_methods_are_refused() {
        let admin = with(&[ADMIN_PERMISSION]);
        for (method, path, status) in [
            ("GET", "/admin/unknown", 404),
            ("GET", "/administrator/routes", 404),
            ("PATCH", "/admin/routes/r1", 405),
            ("GET", "/admin/batch/routes", 405),
        ] {
            let (got, body) = answer_of(FakeRequest::new(method, path).principal(admin.clone()));
            assert_eq!(got, status, "{method} {path}: {body}");
        }
    }
}
