//! What plugins hand back: denials, whole responses, edits, and the view of an upstream
//! response a transform reads.

use crate::bindings::types::{Deny, RequestEdit, Response, ResponseEdit, ResponseHead};

impl Deny {
    /// A denial with this status and message; the gateway wraps the message in its error envelope.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 401: the caller is not authenticated.
    ///
    /// ```
    /// let deny = archway_sdk::Deny::unauthorized("missing API key");
    /// assert_eq!((deny.status, deny.message.as_str()), (401, "missing API key"));
    /// ```
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// Adds a response header (`www-authenticate`, ...).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl Response {
    /// A response with a JSON body and `content-type: application/json`.
    ///
    /// ```
    /// let response = archway_sdk::Response::json(200, &serde_json::json!({"ok": true}));
    /// assert_eq!(response.body, br#"{"ok":true}"#);
    /// ```
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".to_owned(),
                "text/plain; charset=utf-8".to_owned(),
            )],
            body: body.into().into_bytes(),
        }
    }
}

impl RequestEdit {
    /// Sets a request header, replacing earlier values.
    pub fn set_header(mut self, name: &str, value: &str) -> Self {
        self.set_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes a request header.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.remove_headers.push(name.to_owned());
        self
    }
}

impl ResponseEdit {
    /// Sets a response header, replacing earlier values.
    ///
    /// ```
    /// let edit = archway_sdk::ResponseEdit::default().set_header("x-served-by", "archway");
    /// assert_eq!(edit.set_headers, vec![("x-served-by".to_owned(), "archway".to_owned())]);
    /// ```
    pub fn set_header(mut self, name: &str, value: &str) -> Self {
        self.set_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes a response header.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.remove_headers.push(name.to_owned());
        self
    }
}

impl Default for RequestEdit {
    fn default() -> Self {
        Self {
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
            path: None,
            query: None,
            body: None,
        }
    }
}

impl Default for ResponseEdit {
    fn default() -> Self {
        Self {
            status: None,
            set_headers: Vec::new(),
            remove_headers: Vec::new(),
            body: None,
        }
    }
}

/// The response a transform sees on the way back: the host's lazy handle, or a fake.
pub struct ResponseView<'a> {
    source: Source<'a>,
}

enum Source<'a> {
    Host(&'a ResponseHead),
    Fake(&'a Response),
}

impl<'a> ResponseView<'a> {
    pub(crate) fn from_host(head: &'a ResponseHead) -> Self {
        Self {
            source: Source::Host(head),
        }
    }

    /// A view of a response built in a native unit test.
    pub fn fake(response: &'a Response) -> Self {
        Self {
            source: Source::Fake(response),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        match &self.source {
            Source::Host(h) => h.status(),
            Source::Fake(r) => r.status,
        }
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        match &self.source {
            Source::Host(h) => h.header(name),
            Source::Fake(r) => r
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone()),
        }
    }

    /// Every header, in order.
    pub fn headers(&self) -> Vec<(String, String)> {
        match &self.source {
            Source::Host(h) => h.headers(),
            Source::Fake(r) => r.headers.clone(),
        }
    }
}
