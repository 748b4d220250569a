//! A response body that the cache keeps as it streams to the client: its bytes are
//! gathered up to the entry size limit and stored when the body ends. One that grows past
//! the limit, breaks off, carries trailers or is dropped unfinished (the client left) is
//! passed on untouched and not stored.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};

use crate::body::{BodyError, ProxyBody};

/// Stores a finished body; what [`Recorded`] calls at the end.
pub(crate) type Keep = Box<dyn FnOnce(Bytes) + Send + Sync>;

/// A body on its way to the client and into the cache.
pub struct Recorded {
    inner: ProxyBody,
    gathered: BytesMut,
    limit: usize,
    /// Taken when the body is stored or given up on.
    keep: Option<Keep>,
}

impl std::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("gathered", &self.gathered.len())
            .field("recording", &self.keep.is_some())
            .finish()
    }
}

impl Recorded {
    /// `inner`, whose bytes go to `keep` when it ends within `limit` bytes.
    pub(crate) fn wrap(inner: ProxyBody, limit: usize, keep: Keep) -> ProxyBody {
        let mut recorded = Self {
            inner,
            gathered: BytesMut::new(),
            limit,
            keep: Some(keep),
        };
        // An empty body may never be polled: it is complete now.
        if recorded.inner.is_end_stream() {
            recorded.finish();
            return recorded.inner;
        }
        ProxyBody::Recorded(Box::new(recorded))
    }

    fn finish(&mut self) {
        if let Some(keep) = self.keep.take() {
            keep(super::entry::exact(std::mem::take(&mut self.gathered)));
        }
    }

    fn gather(&mut self, data: &Bytes) {
        if self.keep.is_none() {
            return;
        }
        if self.gathered.len() + data.len() > self.limit {
            self.keep = None;
            self.gathered = BytesMut::new();
        } else {
            self.gathered.extend_from_slice(data);
        }
    }
}

impl Body for Recorded {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => match frame.data_ref() {
                Some(data) => {
                    self.gather(data);
                    // The client may stop polling once the body says it has ended.
                    if self.inner.is_end_stream() {
                        self.finish();
                    }
                }
                None => self.keep = None,
            },
            Poll::Ready(Some(Err(_))) => self.keep = None,
            Poll::Ready(None) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt;

    use super::*;
    use crate::body::full;

    fn recorder(limit: usize, body: ProxyBody) -> (ProxyBody, Arc<Mutex<Option<Bytes>>>) {
        let kept = Arc::new(Mutex::new(None));
        let slot = kept.clone();
        let keep: Keep = Box::new(move |bytes| {
            *slot.lock().expect("slot") = Some(bytes);
        });
        (Recorded::wrap(body, limit, keep), kept)
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_kept_whole_and_passed_on() {
        let (body, kept) = recorder(16, full(Bytes::from_static(b"hello")));
        let passed = body.collect().await.expect("body").to_bytes();
        assert_eq!(&passed[..], b"hello");
        assert_eq!(kept.lock().expect("slot").as_deref(), Some(&b"hello"[..]));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_passed_on_but_not_kept() {
        let (body, kept) = recorder(4, full(Bytes::from_static(b"hello")));
        let passed = body.collect().await.expect("body").to_bytes();
        assert_eq!(&passed[..], b"hello");
        assert_eq!(*kept.lock().expect("slot"), None);
    }

    #[test]
    fn an_empty_body_is_kept_at_once() {
        let (_body, kept) = recorder(4, full(Bytes::new()));
        assert_eq!(kept.lock().expect("slot").as_deref(), Some(&b""[..]));
    }
}
