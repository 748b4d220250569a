//! The trading contract's error format, `{"error": true, "code", "message", "details",
//! "timestamp"}`, and its code table.

use archway_sdk::serde_json::{Value, json};
use archway_sdk::{Response, StoreError, log};

use crate::clock;

/// A failed call, as the client is told.
#[derive(Debug, PartialEq)]
pub struct Failure {
    /// The HTTP status.
    pub status: u16,
    /// The contract's code (`INVALID_PARAMETER`).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// The field and value at fault, or the subject of the failure.
    pub details: Value,
}

impl Failure {
    /// 400 `INVALID_PARAMETER`, naming the field and the value sent.
    pub fn invalid(field: &str, value: impl Into<Value>, message: &str) -> Self {
        Self {
            details: json!({ "field": field, "value": value.into() }),
            ..Self::new(
                400,
                "INVALID_PARAMETER",
                &format!("Parameter '{field}' {message}"),
            )
        }
    }

    /// 401 `UNAUTHORIZED`: no caller.
    pub fn unauthorized() -> Self {
        Self::new(401, "UNAUTHORIZED", "Authentication required")
    }

    /// 403 `FORBIDDEN`, naming the permission the call needs.
    pub fn forbidden(permission: &str) -> Self {
        Self {
            details: json!({ "required_permission": permission }),
            ..Self::new(
                403,
                "FORBIDDEN",
                &format!("Permission '{permission}' required"),
            )
        }
    }

    /// 404 `NOT_FOUND`: no such resource.
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self {
            details: json!({ format!("{kind}_id"): id }),
            ..Self::new(
                404,
                "NOT_FOUND",
                &format!("{} '{id}' not found", capitalised(kind)),
            )
        }
    }

    /// 404 `NOT_FOUND`: nothing at this path.
    pub fn no_endpoint(path: &str) -> Self {
        Self {
            details: json!({ "path": path }),
            ..Self::new(404, "NOT_FOUND", "No such endpoint")
        }
    }

    /// 405 `METHOD_NOT_ALLOWED`: the path exists, the method does not.
    pub fn method_not_allowed(method: &str) -> Self {
        Self {
            details: json!({ "method": method }),
            ..Self::new(
                405,
                "METHOD_NOT_ALLOWED",
                "Method not allowed on this endpoint",
            )
        }
    }

    /// 409 `CONFLICT`: the state does not allow the change now.
    pub fn conflict(message: &str, details: Value) -> Self {
        Self {
            details,
            ..Self::new(409, "CONFLICT", message)
        }
    }

    /// 500 `REDIS_ERROR` or `INTERNAL_ERROR`: the store failed while `doing`. What the
    /// store said goes to the log, not to the client.
    pub fn store(doing: &str, error: &StoreError) -> Self {
        log(
            archway_sdk::Level::Error,
            &format!("trading-control: {doing}: {error:?}"),
        );
        let (code, reason) = match error {
            StoreError::Unavailable(_) => ("REDIS_ERROR", "store unavailable"),
            StoreError::TooLarge(_) => ("INTERNAL_ERROR", "value too large for the store"),
            StoreError::Invalid(_) => ("INTERNAL_ERROR", "store refused the operation"),
        };
        Self {
            details: json!({ "reason": reason }),
            ..Self::new(500, code, &format!("Failed to {doing}"))
        }
    }

    /// 500 `INTERNAL_ERROR`: stored data that does not read back.
    pub fn corrupt(what: &str) -> Self {
        log(
            archway_sdk::Level::Error,
            &format!("trading-control: {what} does not parse"),
        );
        Self {
            details: json!({ "reason": format!("{what} is unreadable") }),
            ..Self::new(500, "INTERNAL_ERROR", "Stored data is unreadable")
        }
    }

    fn new(status: u16, code: &'static str, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
            details: json!({}),
        }
    }

    /// The failure as the client gets it.
    pub fn response(&self) -> Response {
        Response::json(self.status, &self.body())
    }

    /// The contract's error body.
    pub fn body(&self) -> Value {
        json!({
            "error": true,
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "timestamp": clock::rfc3339(clock::now_ms()),
        })
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::store("reach the store", &error)
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
