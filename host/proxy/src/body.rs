//! The body types the proxy moves: streamed from a peer, or a buffer the gateway or a
//! plugin produced. One enum instead of a boxed trait object keeps the hot path free of
//! an allocation per body.

use bytes::Bytes;
use http_body_util::{Either, Full, Limited};
use hyper::body::Incoming;

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
