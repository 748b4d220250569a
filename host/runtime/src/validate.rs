//! Every value a guest returns crosses here: checked against the HTTP rules and size
//! limits, then turned into host types, so nothing malformed reaches the proxy.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};

use crate::bindings::types::{Deny, Header, Quota, RequestEdit, Response, ResponseEdit};
use crate::{PluginError, Principal};

/// The largest body a plugin may return.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
const MAX_HEADERS: usize = 100;
const MAX_MESSAGE_BYTES: usize = 1024;
const MAX_NAME_BYTES: usize = 256;
const MAX_NAMES: usize = 256;
const MAX_CLAIMS_BYTES: usize = 64 * 1024;
const MAX_QUOTAS: usize = 8;

/// Headers that describe one connection, never forwarded (RFC 9110 7.6.1).
pub(crate) const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// Whether the host owns a header's value (framing and connection management), so no
/// plugin may set or remove it.
fn host_owned(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH || HOP_BY_HOP.contains(name)
}

/// A plugin's refusal, validated: what the client gets instead of the upstream's answer.
#[derive(Debug)]
pub struct Denial {
    /// 400-599.
    pub status: StatusCode,
    /// The reason for the error envelope.
    pub message: String,
    /// Extra headers.
    pub headers: HeaderMap,
    /// The plugin's own body; empty means the gateway writes its envelope.
    pub body: Bytes,
}

/// A complete response from a handler, validated.
#[derive(Debug)]
pub struct PluginResponse {
    /// 200-599.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
}

/// A transform's validated request changes.
#[derive(Debug, Default)]
pub struct RequestChanges {
    set_headers: Vec<(HeaderName, HeaderValue)>,
    remove_headers: Vec<HeaderName>,
    path: Option<String>,
    query: Option<String>,
    body: Option<Bytes>,
}

/// A transform's validated response changes.
#[derive(Debug, Default)]
pub struct ResponseChanges {
    /// A new status.
    pub status: Option<StatusCode>,
    set_headers: Vec<(HeaderName, HeaderValue)>,
    remove_headers: Vec<HeaderName>,
    /// A new body.
    pub body: Option<Bytes>,
}

impl RequestChanges {
    /// Whether the changes replace the path, which then goes upstream as it is (the
    /// route's `target_url` no longer applies).
    pub fn replaces_path(&self) -> bool {
        self.path.is_some()
    }

    /// Applies the changes to the request in flight.
    pub fn apply(self, request: &mut crate::RequestHead) {
        apply_headers(&mut request.headers, self.remove_headers, self.set_headers);
        if let Some(path) = self.path {
            request.path = path;
        }
        if let Some(query) = self.query {
            request.query = (!query.is_empty()).then_some(query);
        }
        if let Some(body) = self.body {
            request.body = Some(body);
        }
    }
}

impl ResponseChanges {
    /// Applies the header and status changes; the caller takes `body`.
    pub fn apply_head(&mut self, response: &mut crate::ResponseHead) {
        if let Some(status) = self.status {
            response.status = status;
        }
        apply_headers(
            &mut response.headers,
            std::mem::take(&mut self.remove_headers),
            std::mem::take(&mut self.set_headers),
        );
    }
}

fn apply_headers(
    headers: &mut HeaderMap,
    remove: Vec<HeaderName>,
    set: Vec<(HeaderName, HeaderValue)>,
) {
    for name in remove {
        headers.remove(name);
    }
    for (name, value) in set {
        headers.insert(name, value);
    }
}

/// Checks a guest's output, naming the plugin and the value on refusal.
pub(crate) struct Checker<'a> {
    pub(crate) plugin: &'a str,
}

impl Checker<'_> {
    fn invalid(&self, what: &'static str, reason: impl Into<String>) -> PluginError {
        PluginError::InvalidOutput {
            plugin: self.plugin.to_owned(),
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn deny(&self, deny: Deny) -> Result<Denial, PluginError> {
        let status = StatusCode::from_u16(deny.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .ok_or_else(|| {
                self.invalid("deny", format!("status {} is not 400-599", deny.status))
            })?;
        if deny.message.len() > MAX_MESSAGE_BYTES {
            return Err(self.invalid("deny", format!("message is over {MAX_MESSAGE_BYTES} bytes")));
        }
        Ok(Denial {
            status,
            message: deny.message,
            headers: self.header_map("deny", deny.headers)?,
            body: self.body("deny", deny.body)?,
        })
    }

    pub(crate) fn principal(&self, principal: Principal) -> Result<Principal, PluginError> {
        let what = "principal";
        if principal.subject.is_empty() || principal.subject.len() > MAX_NAME_BYTES {
            return Err(self.invalid(what, format!("subject must be 1-{MAX_NAME_BYTES} bytes")));
        }
        for list in [&principal.roles, &principal.permissions] {
            if list.len() > MAX_NAMES || list.iter().any(|n| n.len() > MAX_NAME_BYTES) {
                return Err(self.invalid(
                    what,
                    format!("at most {MAX_NAMES} roles/permissions of {MAX_NAME_BYTES} bytes"),
                ));
            }
        }
        if principal.claims.len() > MAX_CLAIMS_BYTES {
            return Err(self.invalid(what, format!("claims are over {MAX_CLAIMS_BYTES} bytes")));
        }
        let quota_ok = |q: &Quota| {
            !q.key.is_empty()
                && q.key.len() <= MAX_NAME_BYTES
                && q.limit > 0
                && q.window_seconds > 0
        };
        if principal.quotas.len() > MAX_QUOTAS || !principal.quotas.iter().all(quota_ok) {
            return Err(self.invalid(
                what,
                format!(
                    "at most {MAX_QUOTAS} quotas, each with a 1-{MAX_NAME_BYTES} byte key, a limit and a window of at least 1"
                ),
            ));
        }
        if is_json_object(&principal.claims) {
            Ok(principal)
        } else {
            Err(self.invalid(what, "claims must be a JSON object"))
        }
    }

    pub(crate) fn response(&self, response: Response) -> Result<PluginResponse, PluginError> {
        Ok(PluginResponse {
            status: self.final_status("response", response.status)?,
            headers: self.header_map("response", response.headers)?,
            body: self.body("response", response.body)?,
        })
    }

    pub(crate) fn request_edit(&self, edit: RequestEdit) -> Result<RequestChanges, PluginError> {
        let what = "request edit";
        if let Some(path) = &edit.path
            && (!path.starts_with('/')
                || path
                    .parse::<http::uri::PathAndQuery>()
                    .map(|p| p.query().is_some())
                    .unwrap_or(true))
        {
            return Err(self.invalid(what, format!("path {path:?} is not an absolute URL path")));
        }
        if let Some(query) = &edit.query
            && format!("/?{query}")
                .parse::<http::uri::PathAndQuery>()
                .is_err()
        {
            return Err(self.invalid(what, format!("query {query:?} is not a valid query string")));
        }
        Ok(RequestChanges {
            set_headers: self.headers(what, edit.set_headers)?,
            remove_headers: self.names(what, edit.remove_headers)?,
            path: edit.path,
            query: edit.query,
            body: edit.body.map(|b| self.body(what, b)).transpose()?,
        })
    }

    pub(crate) fn response_edit(&self, edit: ResponseEdit) -> Result<ResponseChanges, PluginError> {
        let what = "response edit";
        Ok(ResponseChanges {
            status: edit
                .status
                .map(|s| self.final_status(what, s))
                .transpose()?,
            set_headers: self.headers(what, edit.set_headers)?,
            remove_headers: self.names(what, edit.remove_headers)?,
            body: edit.body.map(|b| self.body(what, b)).transpose()?,
        })
    }

    fn final_status(&self, what: &'static str, status: u16) -> Result<StatusCode, PluginError> {
        StatusCode::from_u16(status)
            .ok()
            .filter(|s| !s.is_informational())
            .ok_or_else(|| self.invalid(what, format!("status {status} is not 200-599")))
    }

    fn body(&self, what: &'static str, body: Vec<u8>) -> Result<Bytes, PluginError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(self.invalid(
                what,
                format!("body of {} bytes is over {MAX_BODY_BYTES}", body.len()),
            ));
        }
        Ok(Bytes::from(body))
    }

    fn name(&self, what: &'static str, name: &str) -> Result<HeaderName, PluginError> {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| self.invalid(what, format!("header name {name:?} is not valid")))?;
        if host_owned(&header) {
            return Err(self.invalid(what, format!("header {header} is managed by the gateway")));
        }
        Ok(header)
    }

    fn names(
        &self,
        what: &'static str,
        names: Vec<String>,
    ) -> Result<Vec<HeaderName>, PluginError> {
        if names.len() > MAX_HEADERS {
            return Err(self.invalid(what, format!("more than {MAX_HEADERS} headers")));
        }
        names.iter().map(|n| self.name(what, n)).collect()
    }

    fn headers(
        &self,
        what: &'static str,
        headers: Vec<Header>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, PluginError> {
        if headers.len() > MAX_HEADERS {
            return Err(self.invalid(what, format!("more than {MAX_HEADERS} headers")));
        }
        headers
            .into_iter()
            .map(|(name, value)| {
                let name = self.name(what, &name)?;
                let value = HeaderValue::try_from(value).map_err(|_| {
                    self.invalid(what, format!("value of header {name} is not valid"))
                })?;
                Ok((name, value))
            })
            .collect()
    }

    fn header_map(
        &self,
        what: &'static str,
        headers: Vec<Header>,
    ) -> Result<HeaderMap, PluginError> {
        let mut map = HeaderMap::with_capacity(headers.len());
        for (name, value) in self.headers(what, headers)? {
            map.append(name, value);
        }
        Ok(map)
    }
}

/// Whether `text` is one JSON object, checked without building it: every authenticate
/// call returns claims, most of them `{}`.
fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(
            headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            vec!["x-kept"]
        );
    }

    const CHECK: Checker<'static> = Checker { plugin: "p" };

    fn deny(status: u16, headers: Vec<Header>) -> Deny {
        Deny {
            status,
            message: "no".into(),
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn deny_status_must_be_an_error_status() {
        assert!(CHECK.deny(deny(401, vec![])).is_ok());
        let err = CHECK.deny(deny(200, vec![])).expect_err("200 is no denial");
        assert!(
            err.to_string()
                .contains("plugin p returned an invalid deny"),
            "{err}"
        );
    }

    #[test]
    fn framing_headers_stay_with_the_host() {
        let err = CHECK
            .deny(deny(401, vec![("Content-Length".into(), "5".into())]))
            .expect_err("host-owned");
        assert!(err.to_string().contains("content-length"), "{err}");
    }

    #[test]
    fn malformed_header_values_are_refused() {
        assert!(
            CHECK
                .deny(deny(401, vec![("x-a".into(), "line\nbreak".into())]))
                .is_err()
        );
        assert!(
            CHECK
                .deny(deny(401, vec![("bad name".into(), "v".into())]))
                .is_err()
        );
    }

    #[test]
    fn principal_claims_must_be_a_json_object() {
        let mut p = Principal {
            subject: "a".into(),
            tenant: None,
            roles: vec![],
            permissions: vec![],
            claims: "[]".into(),
            quotas: vec![],
        };
        assert!(CHECK.principal(p.clone()).is_err());
        for broken in ["{", r#"{"k":}"#, "{} {}", "{}x", " 7"] {
            p.claims = broken.into();
            assert!(CHECK.principal(p.clone()).is_err(), "{broken}");
        }
        p.claims = " {}\n".into();
        assert!(CHECK.principal(p.clone()).is_ok());
        p.claims = r#"{"k":1}"#.into();
        assert!(CHECK.principal(p.clone()).is_ok());
        p.quotas = vec![Quota {
            key: "key:1".into(),
            limit: 0,
            window_seconds: 60,
        }];
        assert!(CHECK.principal(p).is_err());
    }

    #[test]
    fn edited_path_must_be_absolute_and_query_free() {
        let edit = |path: &str| RequestEdit {
            set_headers: vec![],
            remove_headers: vec![],
            path: Some(path.into()),
            query: None,
            body: None,
        };
        assert!(CHECK.request_edit(edit("/ok/path")).is_ok());
        assert!(CHECK.request_edit(edit("relative")).is_err());
        assert!(CHECK.request_edit(edit("/a?b=c")).is_err());
    }
}
