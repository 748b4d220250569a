//! The audit log: every change made through the admin API (who, what, when, and the item
//! before and after) is appended to a stream in the store, so every node writes to one
//! log and an operator reads it at `/admin/audit`.

use archway_runtime::{AdminError, Caller};
use archway_store::StreamId;
use serde_json::{Map, Value, json};

use super::input::Query;
use super::{AdminApi, store_unavailable};
use archway_proxy::timestamp;

/// The stream of audit entries.
const STREAM: &str = "archway:audit";
/// Fields an answer may carry that the log must not: an API key is shown once.
const SECRET_FIELDS: [&str; 1] = ["key"];
/// Entries per page when the query sets no `size`.
const DEFAULT_SIZE: usize = 100;
/// The most entries one page holds.
const MAX_SIZE: usize = 1000;

/// One change to record.
pub(super) struct Change<'a> {
    /// `create`, `update`, `delete` or `upload`.
    pub(super) action: &'static str,
    /// The collection changed.
    pub(super) collection: &'a str,
    /// The item before the change (none when it was created).
    pub(super) before: Option<&'a Value>,
    /// The item after it (the deleted item for a delete).
    pub(super) after: &'a Value,
}

/// Appends `change` made by `caller`. The change is already stored, so a failure here is
/// logged, never reported as the change failing.
pub(super) async fn record(api: &AdminApi, caller: &Caller, change: Change<'_>) {
    let id = change.after["instance_id"]
        .as_str()
        .or(change.after["permission_code"].as_str())
        .or(change.after["id"].as_str())
        .unwrap_or_default();
    let fields = [
        ("at", timestamp::now()),
        ("subject", caller.subject.clone().unwrap_or_default()),
        ("plugin", caller.plugin.clone()),
        ("action", change.action.to_owned()),
        ("collection", change.collection.to_owned()),
        ("item_id", id.to_owned()),
        (
            "before",
            change.before.map_or_else(String::new, Value::to_string),
        ),
        ("after", without_secrets(change.after).to_string()),
    ]
    .map(|(name, value)| (name.to_owned(), value));
    if let Err(error) = api.state.store().append(STREAM, &fields).await {
        tracing::error!(target: "archway.admin", %error, ?fields, "cannot write the audit log");
    }
}

fn without_secrets(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(object) = item.as_object_mut() {
        for field in SECRET_FIELDS {
            object.remove(field);
        }
    }
    item
}

/// Entries oldest first, after the entry id `after` (from the start without it), at most
/// `size`; `next` is the `after` of the following page.
pub(super) async fn list(api: &AdminApi, query: &Query) -> Result<Value, AdminError> {
    let after = match query.get("after") {
        None => StreamId::MIN,
        Some(id) => id.parse().map_err(|_| {
            AdminError::invalid(
                "after",
                format!("must be an entry id such as 1736418600000-0 (got {id:?})"),
            )
        })?,
    };
    let size = query.number("size", DEFAULT_SIZE, MAX_SIZE)?;
    let entries = api
        .state
        .store()
        .read_after(STREAM, after, size)
        .await
        .map_err(|error| store_unavailable(&error))?;
    let next = (entries.len() == size)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    let items: Vec<Value> = entries
        .into_iter()
        .map(|entry| {
            let mut item = Map::new();
            item.insert("id".to_owned(), Value::from(entry.id.to_string()));
            for (name, value) in entry.fields {
                let value = match name.as_str() {
                    "before" | "after" => serde_json::from_str(&value).unwrap_or(Value::Null),
                    "subject" if value.is_empty() => Value::Null,
                    _ => Value::from(value),
                };
                item.insert(name, value);
            }
            Value::Object(item)
        })
        .collect();
    Ok(json!({ "total": items.len(), "items": items, "next": next }))
}
