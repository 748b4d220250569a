//! A cache entry as it is kept: in memory on this node, and as bytes in the shared tier
//! (a small versioned binary layout; one that does not decode is a miss).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The layout version written first; entries of another version are misses.
const LAYOUT: u8 = 1;

/// A header's slot in a `HeaderMap` besides its bytes: its name and value handles, the
/// slot's hash and links, and its index.
const HEADER_SLOT: usize = size_of::<HeaderName>() + size_of::<HeaderValue>() + 32;

/// What keeping one entry costs besides the entry: the cache's key, map slot, order
/// queues and expiry timer, the `Arc`, and the allocator's rounding of each. Measured
/// with small responses (three headers, 376 bytes of body): each 64 MiB of the bound
/// takes about 60 MB of resident memory with it counted, 162 MB without.
const BOOKKEEPING: usize = 512;

/// One entry, with when it was stored and when it expires (Unix milliseconds).
#[derive(Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) stored_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) content: Content,
}

/// What an entry holds.
#[derive(Debug, PartialEq)]
pub(crate) enum Content {
    /// The responses under this key vary by these request headers: each variant has its
    /// own key.
    Varies(Vec<HeaderName>),
    /// A response.
    Response {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
}

/// `headers` with every value in an allocation of its own. A value hyper parsed is a
/// slice of its connection's read buffer (8 KiB or more), so a cached response holding it
/// would keep that whole buffer alive, many times the size the cache's bound counts.
pub(crate) fn detached(headers: &HeaderMap) -> HeaderMap {
    let mut owned = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut copy = HeaderValue::from_bytes(value.as_bytes())
            .expect("a header value's bytes make a header value");
        copy.set_sensitive(value.is_sensitive());
        owned.append(name.clone(), copy);
    }
    owned
}

/// `gathered` as a body of exactly its length: the buffer it grew in may be twice that.
pub(crate) fn exact(gathered: BytesMut) -> Bytes {
    if gathered.capacity() == gathered.len() {
        gathered.freeze()
    } else {
        Bytes::copy_from_slice(&gathered)
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_millis() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl Entry {
    /// `content`, stored now and kept for `lifetime`.
    pub(crate) fn new(content: Content, lifetime: Duration) -> Self {
        let stored_at = now_millis();
        let lifetime = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
        Self {
            stored_at,
            expires_at: stored_at.saturating_add(lifetime),
            content,
        }
    }

    /// How long it is still fresh; zero once expired.
    pub(crate) fn time_left(&self) -> Duration {
        Duration::from_millis(self.expires_at.saturating_sub(now_millis()))
    }

    /// The memory it takes in the in-process tier, for that tier's bound: its bytes, its
    /// header map's slots, and the cache's own bookkeeping.
    pub(crate) fn weight(&self) -> u32 {
        let size = match &self.content {
            Content::Varies(names) => names
                .iter()
                .map(|name| size_of::<HeaderName>() + name.as_str().len())
                .sum(),
            Content::Response { headers, body, .. } => {
                let bytes: usize = headers
                    .iter()
                    .map(|(name, value)| name.as_str().len() + value.len())
                    .sum();
                headers.capacity().max(headers.len()) * HEADER_SLOT + bytes + body.len()
            }
        };
        u32::try_from(size + size_of::<Entry>() + BOOKKEEPING).unwrap_or(u32::MAX)
    }

    /// The entry as bytes for the shared tier.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.put_u8(LAYOUT);
        out.put_u64(self.stored_at);
        out.put_u64(self.expires_at);
        match &self.content {
            Content::Varies(names) => {
                out.put_u8(0);
                out.put_u32(names.len() as u32);
                for name in names {
                    put_bytes(&mut out, name.as_str().as_bytes());
                }
            }
            Content::Response {
                status,
                headers,
                body,
            } => {
                out.put_u8(1);
                out.put_u16(status.as_u16());
                out.put_u32(headers.len() as u32);
                for (name, value) in headers {
                    put_bytes(&mut out, name.as_str().as_bytes());
                    put_bytes(&mut out, value.as_bytes());
                }
                out.put_slice(body);
            }
        }
        out.to_vec()
    }

    /// An entry read back from the shared tier; `None` when the bytes are not one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let mut input = Bytes::copy_from_slice(bytes);
        if take_u8(&mut input)? != LAYOUT {
            return None;
        }
        let stored_at = take_u64(&mut input)?;
        let expires_at = take_u64(&mut input)?;
        let content = match take_u8(&mut input)? {
            0 => {
                let count = take_u32(&mut input)?;
                let mut names = Vec::new();
                for _ in 0..count {
                    names.push(HeaderName::from_bytes(&take_bytes(&mut input)?).ok()?);
                }
                Content::Varies(names)
            }
            1 => {
                let status = StatusCode::from_u16(take_u16(&mut input)?).ok()?;
                let count = take_u32(&mut input)?;
                let mut headers = HeaderMap::new();
                for _ in 0..count {
                    let name = HeaderName::from_bytes(&take_bytes(&mut input)?).ok()?;
                    let value = HeaderValue::from_maybe_shared(take_bytes(&mut input)?).ok()?;
                    headers.append(name, value);
                }
                Content::Response {
                    status,
                    headers,
                    body: input,
                }
            }
            _ => return None,
        };
        Some(Self {
            stored_at,
            expires_at,
            content,
        })
    }
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u32(bytes.len() as u32);
    out.put_slice(bytes);
}

fn take_u8(input: &mut Bytes) -> Option<u8> {
    (input.remaining() >= 1).then(|| input.get_u8())
}

fn take_u16(input: &mut Bytes) -> Option<u16> {
    (input.remaining() >= 2).then(|| input.get_u16())
}

fn take_u32(input: &mut Bytes) -> Option<u32> {
    (input.remaining() >= 4).then(|| input.get_u32())
}

fn take_u64(input: &mut Bytes) -> Option<u64> {
    (input.remaining() >= 8).then(|| input.get_u64())
}

fn take_bytes(input: &mut Bytes) -> Option<Bytes> {
    let len = usize::try_from(take_u32(input)?).ok()?;
    (input.remaining() >= len).then(|| input.split_to(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A read buffer that says when it is freed.
    struct Buffer(Vec<u8>, Arc<AtomicBool>);

    impl AsRef<[u8]> for Buffer {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Buffer {
        fn drop(&mut self) {
            self.1.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_kept_header_does_not_hold_on_to_the_buffer_it_was_parsed_from() {
        let freed = Arc::new(AtomicBool::new(false));
        let mut buffer = vec![b'x'; 8192];
        buffer[..16].copy_from_slice(b"application/json");
        let buffer = Bytes::from_owner(Buffer(buffer, freed.clone()));
        let mut parsed = HeaderMap::new();
        parsed.insert(
            "content-type",
            HeaderValue::from_maybe_shared(buffer.slice(..16)).expect("a header value"),
        );
        let mut secret = HeaderValue::from_static("s3cret");
        secret.set_sensitive(true);
        parsed.append("set-cookie", secret);

        let kept = detached(&parsed);
        drop((parsed, buffer));
        assert!(
            freed.load(Ordering::SeqCst),
            "the read buffer is still held"
        );
        assert_eq!(kept["content-type"], "application/json");
        assert!(kept["set-cookie"].is_sensitive());
    }

    #[test]
    fn a_kept_body_takes_only_its_length() {
        let mut gathered = BytesMut::with_capacity(4096);
        gathered.extend_from_slice(b"{\"n\":1}");
        let body = exact(gathered);
        assert_eq!(body, Bytes::from_static(b"{\"n\":1}"));
        assert!(BytesMut::from(body).capacity() < 4096);
    }

    #[test]
    fn an_entry_weighs_its_header_slots_and_the_caches_bookkeeping_besides_its_bytes() {
        let mut headers = HeaderMap::new();
        for n in 0..16 {
            let name = HeaderName::try_from(format!("x-{n:02}")).expect("a header name");
            headers.insert(name, HeaderValue::from_static("v"));
        }
        let bytes = 16 * "x-00v".len() + "{}".len();
        let entry = Entry::new(
            Content::Response {
                status: StatusCode::OK,
                headers,
                body: Bytes::from_static(b"{}"),
            },
            Duration::from_secs(30),
        );
        let weight = usize::try_from(entry.weight()).expect("a weight fits");
        assert!(
            weight >= bytes + 16 * HEADER_SLOT + BOOKKEEPING,
            "{weight} for {bytes} bytes in 16 headers"
        );
    }

    #[test]
    fn responses_and_vary_records_survive_the_shared_layout() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        let response = Entry::new(
            Content::Response {
                status: StatusCode::CREATED,
                headers,
                body: Bytes::from_static(b"{\"n\":1}"),
            },
            Duration::from_secs(30),
        );
        assert_eq!(Entry::decode(&response.encode()), Some(response));
        let varies = Entry::new(
            Content::Varies(vec![HeaderName::from_static("accept-language")]),
            Duration::from_secs(30),
        );
        assert_eq!(Entry::decode(&varies.encode()), Some(varies));
    }

    #[test]
    fn bytes_that_are_not_an_entry_decode_to_nothing() {
        let entry = Entry::new(Content::Varies(Vec::new()), Duration::from_secs(1)).encode();
        assert_eq!(Entry::decode(&entry[..entry.len() - 1]), None);
        assert_eq!(Entry::decode(b""), None);
        assert_eq!(Entry::decode(b"\x02rest"), None);
    }

    #[test]
    fn time_left_runs_out() {
        let entry = Entry::new(Content::Varies(Vec::new()), Duration::from_secs(60));
        assert!(entry.time_left() > Duration::from_secs(58));
        let expired = Entry {
            expires_at: entry.stored_at,
            ..entry
        };
        assert_eq!(expired.time_left(), Duration::ZERO);
    }
}
