//! `services`: instances registered with a service through the admin API, keyed by their
//! `instance_id`, and their status as the load balancer sees it now.

use archway_config::{InstanceConfig, InstanceStatus};
use archway_runtime::AdminError;
use serde_json::{Map, Value, json};

use super::input::{self, Query};
use super::{AdminApi, not_found};
use crate::state::{InstanceRecord, Kind};
use archway_proxy::timestamp;

/// One registered instance.
pub(super) async fn get(api: &AdminApi, instance_id: &str) -> Result<Value, AdminError> {
    let record = record(api, instance_id).await?;
    item(api, &record)
}

/// The instances of the `service_name` the query must name, filtered by `status`; the
/// page carries `healthy` beside `total`: the service's instances taking requests now.
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let service = query
        .get("service_name")
        .ok_or_else(|| AdminError::invalid("service_name", "is required"))?;
    let status = query
        .get("status")
        .map(|status| {
            serde_json::from_value::<InstanceStatus>(Value::from(status)).map_err(|_| {
                AdminError::invalid(
                    "status",
                    format!("must be healthy, unhealthy or draining (got {status:?})"),
                )
            })
        })
        .transpose()?;
    let mut records: Vec<InstanceRecord> = api.state.list(Kind::Instance).await?;
    records.retain(|record| record.service_name == service);
    records.sort_by(|a, b| {
        (&a.registered_at, &a.instance.instance_id)
            .cmp(&(&b.registered_at, &b.instance.instance_id))
    });
    let items = records
        .iter()
        .map(|record| item(api, record))
        .collect::<Result<Vec<_>, _>>()?;
    let healthy = items
        .iter()
        .filter(|item| item["status"] == "healthy")
        .count();
    let wanted = |item: &Value| status.is_none_or(|status| item["status"] == json!(status));
    let (total, items) = query.page(items.into_iter().filter(wanted).collect())?;
    Ok(json!({ "total": total, "healthy": healthy, "items": items }))
}

/// Registers an instance; without an `instance_id` it gets a UUID.
pub(super) async fn register(
    api: &AdminApi,
    mut body: Map<String, Value>,
) -> Result<Value, AdminError> {
    input::refuse(&body, "id", "is assigned by the gateway")?;
    input::require(&body, "service_name")?;
    let service_name = match body.remove("service_name") {
        Some(Value::String(name)) => name,
        _ => return Err(AdminError::invalid("service_name", "must be a string")),
    };
    input::length("service_name", &service_name, 1, 100)?;
    for field in ["host", "port"] {
        input::require(&body, field)?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    body.entry("instance_id")
        .or_insert_with(|| Value::String(id.clone()));
    let instance: InstanceConfig = input::record(body)?;
    admit(api, &service_name, &instance)?;
    let record = InstanceRecord {
        id,
        service_name,
        instance,
        registered_at: timestamp::now(),
        updated_at: None,
    };
    let instance_id = &record.instance.instance_id;
    if !api
        .state
        .create(Kind::Instance, instance_id, &record)
        .await?
    {
        return Err(AdminError::Conflict(format!(
            "instance {instance_id} is already registered"
        )));
    }
    item(api, &record)
}

/// Changes the fields `body` names (`metadata` keys are merged), keeping the others.
pub(super) async fn update(
    api: &AdminApi,
    instance_id: &str,
    mut body: Map<String, Value>,
) -> Result<Value, AdminError> {
    for field in ["id", "instance_id", "service_name"] {
        input::refuse(&body, field, "cannot be changed")?;
    }
    let mut record = record(api, instance_id).await?;
    let mut fields = input::fields(&record.instance);
    if let Some(Value::Object(new)) = body.get("metadata").cloned() {
        body.remove("metadata");
        if let Value::Object(old) = fields
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
        {
            old.extend(new);
        }
    }
    fields.extend(body);
    record.instance = input::record(fields)?;
    admit(api, &record.service_name, &record.instance)?;
    record.updated_at = Some(timestamp::now());
    api.state.put(Kind::Instance, instance_id, &record).await?;
    item(api, &record)
}

/// Removes an instance: the load balancer stops choosing it at once.
pub(super) async fn deregister(api: &AdminApi, instance_id: &str) -> Result<Value, AdminError> {
    let record = record(api, instance_id).await?;
    api.state.delete(Kind::Instance, instance_id).await?;
    let mut item = item(api, &record)?;
    item["deregistered_at"] = Value::from(timestamp::now());
    Ok(item)
}

async fn record(api: &AdminApi, instance_id: &str) -> Result<InstanceRecord, AdminError> {
    api.state
        .get(Kind::Instance, instance_id)
        .await?
        .ok_or_else(|| not_found("instance", instance_id))
}

/// The contract's limits, and a service that takes registered instances.
fn admit(api: &AdminApi, service: &str, instance: &InstanceConfig) -> Result<(), AdminError> {
    input::length("instance_id", &instance.instance_id, 1, 100)?;
    input::length("host", &instance.host, 1, 255)?;
    input::range("port", instance.port.into(), 1, 65_535)?;
    input::range("weight", instance.weight.into(), 1, 1000)?;
    input::range(
        "health_check_interval_seconds",
        instance.health_check_interval_seconds,
        1,
        86_400,
    )?;
    if let Some(url) = &instance.health_check_url {
        input::length("health_check_url", url, 1, 500)?;
        if !url.starts_with('/') {
            return Err(AdminError::invalid("health_check_url", "must start with /"));
        }
    }
    let serving = api.serving()?;
    if serving
        .config()
        .service(service)
        .is_some_and(|declared| declared.url.is_some())
    {
        return Err(AdminError::Conflict(format!(
            "service {service} has a url in the config file and takes no registered instances"
        )));
    }
    Ok(())
}

/// An instance as the API shows it, with the status the load balancer acts on now: a
/// registered `healthy` one that health checks took out reads `unhealthy`.
fn item(api: &AdminApi, record: &InstanceRecord) -> Result<Value, AdminError> {
    let instance = &record.instance;
    let up = api
        .serving()?
        .services()
        .instance_up(&record.service_name, &instance.instance_id);
    let status = match (instance.status, up) {
        (InstanceStatus::Healthy, Some(false)) => InstanceStatus::Unhealthy,
        (registered, _) => registered,
    };
    let mut object = input::fields(instance);
    object.extend([
        ("id".to_owned(), Value::from(record.id.as_str())),
        (
            "service_name".to_owned(),
            Value::from(record.service_name.as_str()),
        ),
        ("endpoint".to_owned(), Value::from(instance.url())),
        ("status".to_owned(), json!(status)),
        ("last_health_check".to_owned(), Value::Null),
        (
            "registered_at".to_owned(),
            Value::from(record.registered_at.as_str()),
        ),
        (
            "updated_at".to_owned(),
            record
                .updated_at
                .as_deref()
                .map_or(Value::Null, Value::from),
        ),
    ]);
    Ok(Value::Object(object))
}
