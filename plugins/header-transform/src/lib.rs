//! First-party `transform` plugin: sets and removes headers on requests and responses.
//!
//! Config: `request_headers` / `response_headers` (tables of name = value to set) and
//! `remove_request_headers` / `remove_response_headers` (lists of names).

use archway_sdk::serde_json::Value;
use archway_sdk::{Deny, Plugin, Request, RequestEdit, ResponseEdit, ResponseView, Transform};

/// The configured header changes, applied to every request and response.
pub struct HeaderTransform {
    request: Changes,
    response: Changes,
}

#[derive(Default)]
struct Changes {
    set: Vec<(String, String)>,
    remove: Vec<String>,
}

impl Changes {
    fn from_config(config: &Value, set_key: &str, remove_key: &str) -> Result<Self, String> {
        let set = match &config[set_key] {
            Value::Null => Vec::new(),
            Value::Object(map) => map
                .iter()
                .map(|(name, value)| match value {
                    Value::String(value) => Ok((name.to_ascii_lowercase(), value.clone())),
                    _ => Err(format!("{set_key}.{name} must be a string")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(format!("{set_key} must be a table of header = value")),
        };
        let remove = match &config[remove_key] {
            Value::Null => Vec::new(),
            Value::Array(names) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_ascii_lowercase)
                        .ok_or(format!("{remove_key} must list strings"))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(format!("{remove_key} must be a list of header names")),
        };
        Ok(Self { set, remove })
    }
}

impl Plugin for HeaderTransform {
    type Config = Value;

    fn new(config: Value) -> Result<Self, String> {
        Ok(Self {
            request: Changes::from_config(&config, "request_headers", "remove_request_headers")?,
            response: Changes::from_config(&config, "response_headers", "remove_response_headers")?,
        })
    }
}

impl Transform for HeaderTransform {
    fn on_request(&self, _request: &Request) -> Result<RequestEdit, Deny> {
        Ok(RequestEdit {
            set_headers: self.request.set.clone(),
            remove_headers: self.request.remove.clone(),
            ..RequestEdit::default()
        })
    }

    fn on_response(
        &self,
        _request: &Request,
        _response: &ResponseView,
    ) -> Result<ResponseEdit, Deny> {
        Ok(ResponseEdit {
            set_headers: self.response.set.clone(),
            remove_headers: self.response.remove.clone(),
            ..ResponseEdit::default()
        })
    }
}

archway_sdk::export!(HeaderTransform: transform);

#[cfg(test)]
mod tests {
    use archway_sdk::serde_json::json;
    use archway_sdk::{FakeRequest, Response};

    use super::*;

    #[test]
    fn sets_and_removes_configured_headers() {
        let plugin = HeaderTransform::new(json!({
            "request_headers": {"X-From": "archway"},
            "remove_response_headers": ["server"],
            "response_headers": {"x-served-by": "archway"},
        }))
        .expect("valid config");
        let fake = FakeRequest::new("GET", "/");
        let edit = plugin.on_request(&fake.request()).expect("no deny");
        assert_eq!(
            edit.set_headers,
            vec![("x-from".to_owned(), "archway".to_owned())]
        );
        let upstream = Response::text(200, "hi");
        let edit = plugin
            .on_response(&fake.request(), &ResponseView::fake(&upstream))
            .expect("no deny");
        assert_eq!(edit.remove_headers, vec!["server".to_owned()]);
        assert_eq!(
            edit.set_headers,
            vec![("x-served-by".to_owned(), "archway".to_owned())]
        );
    }

    #[test]
    fn non_string_values_are_a_config_error() {
        let err = HeaderTransform::new(json!({"request_headers": {"x": 1}}))
            .err()
            .expect("refused");
        assert!(err.contains("request_headers.x"), "{err}");
    }
}
