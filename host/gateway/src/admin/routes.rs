//! `routes`: the file's routes (read-only) and those created through the admin API, which
//! are stored with their history and soft-deleted.

use std::sync::Arc;

use archway_config::{Config, ConfigError, Method, RouteConfig};
use archway_proxy::SnapshotError;
use archway_runtime::AdminError;
use serde_json::{Map, Value};

use super::input::{self, Query};
use super::{AdminApi, not_found, page};
use crate::state::{Kind, RouteRecord};
use crate::sync::fitting;
use archway_proxy::timestamp;

/// One route, live or deleted.
pub(super) async fn get(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let serving = api.serving()?;
    if let Some(route) = file_route(serving.config(), id) {
        return Ok(file_item(route));
    }
    let record: RouteRecord = api
        .state
        .get(Kind::Route, id)
        .await?
        .ok_or_else(|| not_found("route", id))?;
    Ok(item(&record))
}

/// File routes, then managed ones oldest first; filtered by `service_name` and
/// `is_active`; deleted ones only with `include_deleted=true`.
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let serving = api.serving()?;
    let service = query.get("service_name");
    let active = query.flag("is_active")?;
    let deleted = query.flag("include_deleted")?.unwrap_or(false);
    let mut records: Vec<RouteRecord> = api.state.list(Kind::Route).await?;
    records.sort_by(|a, b| (&a.created_at, &a.route.id).cmp(&(&b.created_at, &b.route.id)));
    let wanted = |route: &RouteConfig| {
        service.is_none_or(|s| route.service_name == s)
            && active.is_none_or(|a| route.is_active == a)
    };
    let items = serving
        .config()
        .routes
        .iter()
        .filter(|route| wanted(route))
        .map(file_item)
        .chain(
            records
                .iter()
                .filter(|r| wanted(&r.route) && (deleted || r.deleted_at.is_none()))
                .map(item),
        )
        .collect();
    let (total, items) = query.page(items)?;
    Ok(page(total, items))
}

/// Creates a route from the contract's fields; the gateway gives it its id.
pub(super) async fn create(api: &AdminApi, body: Map<String, Value>) -> Result<Value, AdminError> {
    input::refuse(&body, "id", "is assigned by the gateway")?;
    for field in ["service_name", "path_pattern", "target_url", "method"] {
        input::require(&body, field)?;
    }
    let mut body = body;
    let id = uuid::Uuid::new_v4().to_string();
    body.insert("id".to_owned(), Value::String(id.clone()));
    let route: RouteConfig = input::record(body)?;
    admit(api, &route).await?;
    let record = RouteRecord::new(route);
    if !api.state.create(Kind::Route, &id, &record).await? {
        return Err(AdminError::Conflict(format!("route {id} exists")));
    }
    Ok(item(&record))
}

/// Changes the fields `body` names, keeping the others.
pub(super) async fn update(
    api: &AdminApi,
    id: &str,
    body: Map<String, Value>,
) -> Result<Value, AdminError> {
    input::refuse(&body, "id", "cannot be changed")?;
    let mut record = live_record(api, id).await?;
    let mut fields = input::fields(&record.route);
    fields.extend(body);
    record.route = input::record(fields)?;
    admit(api, &record.route).await?;
    record.updated_at = Some(timestamp::now());
    api.state.put(Kind::Route, id, &record).await?;
    Ok(item(&record))
}

/// Marks a route deleted: it stops matching at once and is listed only when asked.
pub(super) async fn delete(api: &AdminApi, id: &str) -> Result<Value, AdminError> {
    let mut record = live_record(api, id).await?;
    record.deleted_at = Some(timestamp::now());
    api.state.put(Kind::Route, id, &record).await?;
    Ok(item(&record))
}

/// A managed route that is not deleted; a file route is read-only.
async fn live_record(api: &AdminApi, id: &str) -> Result<RouteRecord, AdminError> {
    if file_route(api.serving()?.config(), id).is_some() {
        return Err(read_only(id));
    }
    api.state
        .get::<RouteRecord>(Kind::Route, id)
        .await?
        .filter(|record| record.deleted_at.is_none())
        .ok_or_else(|| not_found("route", id))
}

/// Checks a route created or changed through the API: the contract's limits, no other
/// live route on the same method, path and version, and a snapshot that builds with it.
async fn admit(api: &AdminApi, route: &RouteConfig) -> Result<(), AdminError> {
    contract_limits(route)?;
    let serving = api.serving()?;
    let managed = fitting(&serving, api.state.managed().await?);
    let others = serving
        .config()
        .routes
        .iter()
        .chain(&managed.routes)
        .filter(|other| other.id != route.id);
    if let Some(other) = others.clone().find(|other| same_match(other, route)) {
        return Err(AdminError::Conflict(format!(
            "route {} already serves {:?} {} (version {})",
            other.id, route.method, route.path_pattern, route.version
        )));
    }
    let mut candidate = managed;
    candidate.routes.retain(|other| other.id != route.id);
    candidate.routes.push(route.clone());
    match serving.with_managed(Arc::new(candidate)) {
        Ok(_) => Ok(()),
        Err(SnapshotError::Managed(ConfigError::Invalid { problems, .. })) => {
            let problem = problems
                .iter()
                .find(|problem| problem.contains(&route.id))
                .or(problems.first())
                .map_or("does not fit the config", String::as_str);
            Err(whole_config_error(route, problem))
        }
        Err(error) => Err(whole_config_error(route, &error.to_string())),
    }
}

/// The contract's lengths and methods.
fn contract_limits(route: &RouteConfig) -> Result<(), AdminError> {
    input::length("service_name", &route.service_name, 1, 100)?;
    input::length("path_pattern", &route.path_pattern, 1, 500)?;
    input::length("target_url", &route.target_url, 1, 500)?;
    input::length("version", &route.version, 1, 20)?;
    if matches!(route.method, Method::Head | Method::Options) {
        return Err(AdminError::invalid(
            "method",
            "must be one of GET, POST, PUT, DELETE, PATCH, ANY",
        ));
    }
    input::range("rate_limit_rpm", route.rate_limit_rpm.into(), 0, 1_000_000)?;
    input::range("retry_count", route.retry_count.into(), 0, 10)
}

/// Whether two routes would answer the same requests.
fn same_match(a: &RouteConfig, b: &RouteConfig) -> bool {
    a.path_pattern == b.path_pattern
        && a.version == b.version
        && (a.method == b.method || a.method == Method::Any || b.method == Method::Any)
}

/// The config's verdict on a route, naming the route field it mentions.
fn whole_config_error(route: &RouteConfig, message: &str) -> AdminError {
    let fields = input::fields(route);
    let field = fields
        .keys()
        .filter(|name| message.contains(name.as_str()))
        .max_by_key(|name| name.len())
        .map_or("route", String::as_str);
    let message = message
        .split_once(": ")
        .map_or(message, |(_, reason)| reason)
        .to_owned();
    AdminError::invalid(field, message)
}

fn file_route<'a>(config: &'a Config, id: &str) -> Option<&'a RouteConfig> {
    config.routes.iter().find(|route| route.id == id)
}

fn read_only(id: &str) -> AdminError {
    AdminError::Conflict(format!(
        "route {id} is declared in the config file and is read-only through the admin API"
    ))
}

/// A file route as the API shows it.
fn file_item(route: &RouteConfig) -> Value {
    with_fields(
        route,
        "file",
        [
            ("created_at", None),
            ("updated_at", None),
            ("deleted_at", None),
        ],
    )
}

/// A managed route as the API shows it.
fn item(record: &RouteRecord) -> Value {
    with_fields(
        &record.route,
        "admin",
        [
            ("created_at", Some(&record.created_at)),
            ("updated_at", record.updated_at.as_ref()),
            ("deleted_at", record.deleted_at.as_ref()),
        ],
    )
}

fn with_fields(route: &RouteConfig, source: &str, times: [(&str, Option<&String>); 3]) -> Value {
    let mut object = input::fields(route);
    object.insert("source".to_owned(), Value::from(source));
    for (name, time) in times {
        object.insert(
            name.to_owned(),
            time.map_or(Value::Null, |t| Value::from(t.as_str())),
        );
    }
    Value::Object(object)
}
