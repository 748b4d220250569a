//! Edits of a JSON body by JSON pointer, applied in order: move (rename), copy, remove,
//! set, and default (set only when absent).

use archway_sdk::serde_json::{Map, Value};
use serde::Deserialize;

/// One edit.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Moves the value at `from` to `to` (a rename when both share a parent).
    Move {
        /// Where the value is.
        from: String,
        /// Where it goes.
        to: String,
    },
    /// Copies the value at `from` to `to`.
    Copy {
        /// Where the value is.
        from: String,
        /// Where the copy goes.
        to: String,
    },
    /// Removes the value at `path`.
    Remove {
        /// What to remove.
        path: String,
    },
    /// Sets `path` to `value`.
    Set {
        /// Where.
        path: String,
        /// What.
        value: Value,
    },
    /// Sets `path` to `value` unless a value is there.
    Default {
        /// Where.
        path: String,
        /// What.
        value: Value,
    },
}

impl Edit {
    /// Refuses pointers that do not start with `/` (the root cannot be moved or removed).
    pub fn check(&self) -> Result<(), String> {
        let pointers: Vec<&str> = match self {
            Self::Move { from, to } | Self::Copy { from, to } => vec![from, to],
            Self::Remove { path } | Self::Set { path, .. } | Self::Default { path, .. } => {
                vec![path]
            }
        };
        match pointers.iter().all(|p| p.starts_with('/')) {
            true => Ok(()),
            false => Err(format!("{self:?}: pointers start with /")),
        }
    }

    /// Applies the edit; one whose source is missing changes nothing.
    pub fn apply(&self, body: &mut Value) {
        match self {
            Self::Move { from, to } => {
                if let Some(value) = take(body, from) {
                    put(body, to, value);
                }
            }
            Self::Copy { from, to } => {
                if let Some(value) = body.pointer(from).cloned() {
                    put(body, to, value);
                }
            }
            Self::Remove { path } => {
                take(body, path);
            }
            Self::Set { path, value } => put(body, path, value.clone()),
            Self::Default { path, value } => {
                if body.pointer(path).is_none() {
                    put(body, path, value.clone());
                }
            }
        }
    }
}

/// The pointer's parent and last token (`~1` and `~0` unescaped).
fn split(pointer: &str) -> (&str, String) {
    let at = pointer.rfind('/').unwrap_or(0);
    let token = pointer[at + 1..].replace("~1", "/").replace("~0", "~");
    (&pointer[..at], token)
}

/// Removes and returns the value at `pointer`.
fn take(body: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, token) = split(pointer);
    match body.pointer_mut(parent)? {
        Value::Object(map) => map.remove(&token),
        Value::Array(items) => {
            let index = token.parse::<usize>().ok().filter(|i| *i < items.len())?;
            Some(items.remove(index))
        }
        _ => None,
    }
}

/// Writes `value` at `pointer`, making the objects on the way; a parent that is not an
/// object or array is left alone.
fn put(body: &mut Value, pointer: &str, value: Value) {
    let (parent, token) = split(pointer);
    if body.pointer(parent).is_none() && !parent.is_empty() {
        put(body, parent, Value::Object(Map::new()));
    }
    match body.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
        }
        Some(Value::Array(items)) => match token.parse::<usize>() {
            Ok(i) if i < items.len() => items[i] = value,
            _ if token == "-" || token.parse::<usize>() == Ok(items.len()) => items.push(value),
            _ => {}
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use archway_sdk::serde_json::json;

    use super::*;

    fn run(edits: Value, body: Value) -> Value {
        let edits: Vec<Edit> = archway_sdk::serde_json::from_value(edits).expect("edits");
        let mut body = body;
        for edit in &edits {
            edit.check().expect("valid");
            edit.apply(&mut body);
        }
        body
    }

    #[test]
    fn edits_apply_in_order_by_pointer() {
        let out = run(
            json!([
                {"op": "move", "from": "/user_name", "to": "/user/name"},
                {"op": "copy", "from": "/user/name", "to": "/display"},
                {"op": "remove", "path": "/secret"},
                {"op": "set", "path": "/version", "value": 2},
                {"op": "default", "path": "/user/plan", "value": "free"},
                {"op": "default", "path": "/display", "value": "ignored"},
                {"op": "remove", "path": "/items/0"},
                {"op": "set", "path": "/items/-", "value": "c"},
                {"op": "move", "from": "/missing", "to": "/nowhere"},
            ]),
            json!({"user_name": "ann", "secret": "x", "items": ["a", "b"]}),
        );
        assert_eq!(
            out,
            json!({"user": {"name": "ann", "plan": "free"}, "display": "ann", "version": 2,
                   "items": ["b", "c"]})
        );
    }
}
