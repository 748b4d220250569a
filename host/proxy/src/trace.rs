//! Request ids and W3C trace context. A request keeps the `x-request-id` its client sent
//! (when it is 1-128 visible characters) or gets a new one; the upstream (and every
//! plugin) sees it and the client gets it back. A valid `traceparent` keeps its trace id
//! and flags with the gateway's own span as the new parent; without one, a trace starts
//! here (not sampled). The access log carries both ids.

use std::fmt::Write as _;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The request id header.
pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The W3C trace context header.
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The longest client request id kept.
const MAX_REQUEST_ID: usize = 128;

/// A request's ids, as it goes upstream and into the access log.
#[derive(Debug)]
pub(crate) struct RequestIds {
    /// The request id.
    pub(crate) request_id: HeaderValue,
    /// The trace id, 32 hex digits.
    pub(crate) trace_id: String,
}

impl RequestIds {
    /// Reads the client's ids from `headers` and writes the ones the upstream gets.
    pub(crate) fn stamp(headers: &mut HeaderMap) -> Self {
        let request_id = headers
            .get(&REQUEST_ID)
            .filter(|id| {
                let bytes = id.as_bytes();
                !bytes.is_empty()
                    && bytes.len() <= MAX_REQUEST_ID
                    && bytes.iter().all(|b| b.is_ascii_graphic())
            })
            .cloned()
            .unwrap_or_else(|| hex_value(&[fastrand::u64(..), fastrand::u64(..)]));
        headers.insert(REQUEST_ID.clone(), request_id.clone());
        let (trace_id, flags) = headers
            .get(&TRACEPARENT)
            .and_then(|value| parent(value.to_str().ok()?))
            .unwrap_or_else(|| {
                (
                    hex(&[fastrand::u64(1..), fastrand::u64(..)]),
                    "00".to_owned(),
                )
            });
        let span = hex(&[fastrand::u64(1..)]);
        let traceparent = format!("00-{trace_id}-{span}-{flags}");
        if let Ok(value) = HeaderValue::try_from(traceparent) {
            headers.insert(TRACEPARENT.clone(), value);
        }
        Self {
            request_id,
            trace_id,
        }
    }
}

/// The trace id and flags of a valid version-00 `traceparent`.
fn parent(value: &str) -> Option<(String, String)> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex_of = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = hex_of(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex_of(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex_of(span, 16)
        && span.bytes().any(|b| b != b'0')
        && hex_of(flags, 2);
    valid.then(|| (trace.to_owned(), flags.to_owned()))
}

fn hex(words: &[u64]) -> String {
    let mut text = String::with_capacity(words.len() * 16);
    for word in words {
        let _ = write!(text, "{word:016x}");
    }
    text
}

fn hex_value(words: &[u64]) -> HeaderValue {
    HeaderValue::try_from(hex(words)).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(pairs: &[(&str, &str)]) -> (RequestIds, HeaderMap) {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        (RequestIds::stamp(&mut headers), headers)
    }

    #[test]
    fn a_client_request_id_is_kept_and_a_missing_or_bad_one_replaced() {
        let (ids, headers) = stamped(&[("x-request-id", "abc-123")]);
        assert_eq!(ids.request_id, "abc-123");
        assert_eq!(headers["x-request-id"], "abc-123");
        let (ids, headers) = stamped(&[]);
        assert_eq!(ids.request_id.len(), 32);
        assert_eq!(headers["x-request-id"], ids.request_id);
        let long = "x".repeat(129);
        let (ids, _) = stamped(&[("x-request-id", &long)]);
        assert_ne!(ids.request_id, long.as_str());
    }

    #[test]
    fn a_valid_traceparent_keeps_its_trace_with_the_gateway_as_parent() {
        let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (ids, headers) = stamped(&[("traceparent", sent)]);
        assert_eq!(ids.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        let forwarded = headers["traceparent"].to_str().expect("text");
        assert!(
            forwarded.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{forwarded}"
        );
        assert!(forwarded.ends_with("-01"), "{forwarded}");
        assert_ne!(forwarded, sent, "a new parent span");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            let (ids, headers) = stamped(&[("traceparent", bad)]);
            assert_ne!(ids.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            let started = headers["traceparent"].to_str().expect("text").to_owned();
            assert!(
                started.ends_with("-00") && started.len() == 55,
                "{bad}: {started}"
            );
        }
    }
}
