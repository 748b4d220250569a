//! The body types the proxy moves: streamed from a peer, or a buffer the gateway or a
//! plugin produced. One enum instead of a boxed trait object keeps the hot path free of
//! an allocation per body.

use bytes::Bytes;
use http::{HeaderMap, header};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};

use crate::metrics::CountedBody;

/// A response body: the upstream's stream, or a buffer.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// A client's request body, its bytes counted for the metrics endpoint.
pub type ClientBody = CountedBody<Incoming>;

/// A request body sent upstream: the client's stream under the size limit, or a buffer.
pub type UpstreamBody = Either<Limited<ClientBody>, Full<Bytes>>;

/// A buffered response body.
pub fn full(bytes: Bytes) -> ProxyBody {
    Either::Right(Full::new(bytes))
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// It declared or sent more than the limit.
    TooLarge,
    /// The peer broke off while sending it.
    Broken(String),
}

/// The `content-length` a message declares, if any.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// Reads a whole body of at most `limit` bytes; one whose `headers` declare more is
/// refused unread.
pub(crate) async fn read_whole<B>(
    headers: &HeaderMap,
    body: B,
    limit: u64,
) -> Result<Bytes, ReadError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if declared_length(headers).is_some_and(|length| length > limit) {
        return Err(ReadError::TooLarge);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ReadError::TooLarge),
        Err(error) => Err(ReadError::Broken(error.to_string())),
    }
}
