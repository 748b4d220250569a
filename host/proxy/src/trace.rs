//! Request ids and W3C trace context. A request keeps the `x-request-id` its client sent
//! (when it is 1-128 visible characters) or gets a new one; the upstream (and every
//! plugin) sees it and the client gets it back. A valid `traceparent` keeps its trace id
//! and flags with the gateway's own span as the new parent; without one, a trace starts
//! here, sampled at the `[tracing]` ratio when traces are exported (else not sampled).
//! Only versions `00` are continued; a later version starts afresh. The access log
//! carries both ids, and a sampled request's spans use them.

use bytes::Bytes;
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
    /// The trace id, 32 lower-case hex digits.
    pub(crate) trace_id: [u8; 32],
    /// The gateway's span, 16 hex digits: the parent the upstream sees.
    pub(crate) span_id: [u8; 16],
    /// The client's span, when it sent a `traceparent`.
    pub(crate) parent_span_id: Option<[u8; 16]>,
    /// Whether the trace is sampled: its spans are exported.
    pub(crate) sampled: bool,
}

impl RequestIds {
    /// Reads the client's ids from `headers` and writes the ones the upstream gets; a
    /// trace that starts here is sampled at `sample_ratio` (none: traces are not exported).
    pub(crate) fn stamp(headers: &mut HeaderMap, sample_ratio: Option<f64>) -> Self {
        let request_id = match headers.get(&REQUEST_ID) {
            Some(id) if is_request_id(id.as_bytes()) => id.clone(),
            _ => {
                let mut id = [0; 32];
                hex(&mut id, fastrand::u128(..));
                header_value(&id)
            }
        };
        headers.insert(REQUEST_ID.clone(), request_id.clone());
        // `00-` trace id `-` span id `-` flags: 55 bytes.
        let mut traceparent = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let mut parent_span_id = None;
        match headers
            .get(&TRACEPARENT)
            .map(HeaderValue::as_bytes)
            .filter(|v| is_parent(v))
        {
            Some(parent) => {
                traceparent[3..35].copy_from_slice(&parent[3..35]);
                traceparent[53..55].copy_from_slice(&parent[53..55]);
                parent_span_id = parent[36..52].try_into().ok();
            }
            None => {
                hex(&mut traceparent[3..35], fastrand::u128(1..));
                if sample_ratio.is_some_and(|ratio| fastrand::f64() < ratio) {
                    traceparent[54] = b'1';
                }
            }
        }
        hex(&mut traceparent[36..52], u128::from(fastrand::u64(1..)));
        headers.insert(TRACEPARENT.clone(), header_value(&traceparent));
        // The sampled flag is the flags' lowest bit: their last hex digit is odd.
        let sampled_flag = matches!(
            traceparent[54],
            b'1' | b'3' | b'5' | b'7' | b'9' | b'b' | b'd' | b'f'
        );
        Self {
            request_id,
            trace_id: traceparent[3..35].try_into().expect("32 digits"),
            span_id: traceparent[36..52].try_into().expect("16 digits"),
            parent_span_id,
            sampled: sample_ratio.is_some() && sampled_flag,
        }
    }

    /// The trace id, for the access log.
    pub(crate) fn trace_id(&self) -> &str {
        std::str::from_utf8(&self.trace_id).expect("hex digits")
    }
}

/// A fresh span id, 16 lower-case hex digits.
pub(crate) fn new_span_id() -> [u8; 16] {
    let mut id = [0; 16];
    hex(&mut id, u128::from(fastrand::u64(1..)));
    id
}

/// Whether a client's request id is kept: 1-128 visible characters.
fn is_request_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.iter().all(u8::is_ascii_graphic)
}

/// Whether `value` is a valid version-00 `traceparent` (no trailing fields), whose trace
/// id and flags are kept.
fn is_parent(value: &[u8]) -> bool {
    let hex = |part: &[u8]| part.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let not_zero = |part: &[u8]| part.iter().any(|b| *b != b'0');
    value.len() == 55
        && value.starts_with(b"00-")
        && value[35] == b'-'
        && value[52] == b'-'
        && hex(&value[3..35])
        && not_zero(&value[3..35])
        && hex(&value[36..52])
        && not_zero(&value[36..52])
        && hex(&value[53..55])
}

/// Writes the low `out.len() / 2` bytes of `value` as lower-case hex into `out`.
fn hex(out: &mut [u8], mut value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

fn header_value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::copy_from_slice(bytes))
        .expect("hex digits and dashes are a valid header value")
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
        (RequestIds::stamp(&mut headers, None), headers)
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
    fn traces_started_here_are_sampled_at_the_ratio_and_a_clients_flag_decides_its_own() {
        let mut headers = HeaderMap::new();
        let all = RequestIds::stamp(&mut headers, Some(1.0));
        assert!(all.sampled && all.parent_span_id.is_none());
        assert!(
            headers["traceparent"]
                .to_str()
                .expect("text")
                .ends_with("-01")
        );
        let mut headers = HeaderMap::new();
        assert!(!RequestIds::stamp(&mut headers, Some(0.0)).sampled);
        let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT.clone(), HeaderValue::from_static(sent));
        let ids = RequestIds::stamp(&mut headers, Some(1.0));
        assert!(!ids.sampled, "the client did not sample it");
        assert_eq!(ids.parent_span_id, Some(*b"00f067aa0ba902b7"));
    }

    #[test]
    fn a_valid_traceparent_keeps_its_trace_with_the_gateway_as_parent() {
        let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (ids, headers) = stamped(&[("traceparent", sent)]);
        assert_eq!(ids.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
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
            assert_ne!(ids.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736", "{bad}");
            let started = headers["traceparent"].to_str().expect("text").to_owned();
            assert!(
                started.ends_with("-00") && started.len() == 55,
                "{bad}: {started}"
            );
        }
    }
}
