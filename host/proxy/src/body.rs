//! The body types the proxy moves: streamed from a peer, or a buffer the gateway or a
//! plugin produced; on the way out, possibly compressed or recorded for the response
//! cache. One enum instead of a boxed trait object keeps the hot path free of an
//! allocation per body.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, header};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::bulkhead::Admitted;
use crate::cache::Recorded;
use crate::compress::Compressed;
use crate::metrics::CountedBody;
use crate::pool::PooledBody;
use crate::service::InFlight;

/// Why a response body broke off.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A response body.
#[derive(Debug)]
pub enum ProxyBody {
    /// The upstream's stream.
    Relayed(Relayed),
    /// A buffer.
    Full(Full<Bytes>),
    /// Another body, compressed for the client.
    Compressed(Box<Compressed>),
    /// Another body, kept by the response cache as it passes.
    Recorded(Box<Recorded>),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Relayed(body) => boxed(Pin::new(body).poll_frame(cx)),
            Self::Full(body) => boxed(Pin::new(body).poll_frame(cx)),
            Self::Compressed(body) => Pin::new(&mut **body).poll_frame(cx),
            Self::Recorded(body) => Pin::new(&mut **body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Relayed(body) => body.is_end_stream(),
            Self::Full(body) => body.is_end_stream(),
            Self::Compressed(body) => body.is_end_stream(),
            Self::Recorded(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Relayed(body) => body.size_hint(),
            Self::Full(body) => body.size_hint(),
            Self::Compressed(body) => body.size_hint(),
            Self::Recorded(body) => body.size_hint(),
        }
    }
}

/// A client's request body, its bytes counted for the metrics endpoint.
pub type ClientBody = CountedBody<Incoming>;

/// A request body sent upstream: the client's stream under the size limit (which a
/// retry can take back while none of it was read), or a buffer.
pub type UpstreamBody = Either<Handoff<Limited<ClientBody>>, Full<Bytes>>;

/// An upstream's response body, which keeps its request counted in flight to its
/// instance and holding its service's bulkhead slot until it ends or is dropped.
#[derive(Debug)]
pub struct Relayed {
    body: PooledBody,
    _held: (InFlight, Admitted),
}

impl Relayed {
    /// `body`, holding `held` while it lasts.
    pub(crate) fn new(body: PooledBody, held: (InFlight, Admitted)) -> Self {
        Self { body, _held: held }
    }
}

impl Body for Relayed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A polled frame with its error boxed.
fn boxed<E: Into<BodyError>>(
    poll: Poll<Option<Result<Frame<Bytes>, E>>>,
) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
    poll.map(|frame| frame.map(|result| result.map_err(Into::into)))
}

/// A streamed body handed to one upstream try: until the try reads from it, the
/// forwarder can take it back for the next try.
#[derive(Debug)]
pub struct Handoff<B> {
    slot: Arc<Mutex<Option<B>>>,
    taken: Option<B>,
}

impl<B> Handoff<B> {
    /// Hands `body` over; the returned slot gives it back while it is unread.
    pub(crate) fn new(body: B) -> (Self, Arc<Mutex<Option<B>>>) {
        let slot = Arc::new(Mutex::new(Some(body)));
        let handoff = Self {
            slot: slot.clone(),
            taken: None,
        };
        (handoff, slot)
    }

    fn peek<T>(&self, look: impl FnOnce(Option<&B>) -> T) -> T {
        match &self.taken {
            Some(body) => look(Some(body)),
            None => look(
                self.slot
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref(),
            ),
        }
    }
}

impl<B: Body + Unpin> Body for Handoff<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        if self.taken.is_none() {
            let taken = self
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            self.taken = taken;
        }
        match &mut self.taken {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.peek(|body| body.is_none_or(Body::is_end_stream))
    }

    fn size_hint(&self) -> SizeHint {
        self.peek(|body| {
            body.map(Body::size_hint)
                .unwrap_or_else(|| SizeHint::with_exact(0))
        })
    }
}

/// A buffered response body.
pub fn full(bytes: Bytes) -> ProxyBody {
    ProxyBody::Full(Full::new(bytes))
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
