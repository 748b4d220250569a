//! A client connection's socket, timed: a write the client does not take within the
//! write timeout fails (a client that never reads cannot hold the connection and its
//! buffers), and every byte moved, like every request answered, marks the connection
//! active for the idle timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// When a connection last moved bytes, and how many of its requests await their answer.
#[derive(Debug)]
pub(crate) struct Activity {
    opened: Instant,
    /// Milliseconds after `opened`.
    last: AtomicU64,
    in_flight: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            opened: Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }
}

/// A request awaiting its answer; the connection is not idle while it lives.
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    /// Marks a request in flight until the guard drops.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn touch(&self) {
        let elapsed = self.opened.elapsed().as_millis();
        self.last.store(
            u64::try_from(elapsed).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// When the connection becomes idle if nothing happens before.
    pub(crate) fn idle_at(&self, timeout: Duration) -> Instant {
        self.opened + Duration::from_millis(self.last.load(Ordering::Relaxed)) + timeout
    }

    /// Whether no request is in flight and nothing moved for `timeout`.
    pub(crate) fn is_idle(&self, timeout: Duration) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && Instant::now() >= self.idle_at(timeout)
    }
}

/// An I/O object whose writes time out and whose traffic is noted in an [`Activity`].
pub(crate) struct TimedIo<T> {
    io: T,
    write_timeout: Duration,
    /// Running while a write waits for the client to take bytes.
    stalled: Option<Pin<Box<Sleep>>>,
    activity: Arc<Activity>,
}

impl<T> TimedIo<T> {
    /// `io`, its writes failing after `write_timeout` without progress.
    pub(crate) fn new(io: T, write_timeout: Duration, activity: Arc<Activity>) -> Self {
        Self {
            io,
            write_timeout,
            stalled: None,
            activity,
        }
    }
}

impl<T: AsyncWrite + Unpin> TimedIo<T> {
    /// Writes with `operation`, noting activity when bytes went out (a flush moves
    /// none: HTTP/2 flushes whenever its connection is polled, even an idle one).
    fn write(
        &mut self,
        cx: &mut Context<'_>,
        operation: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let written = self.timed(cx, operation);
        if let Poll::Ready(Ok(1..)) = written {
            self.activity.touch();
        }
        written
    }

    /// Runs one write-side operation; a pending one fails once it has waited out the
    /// write timeout.
    fn timed<R>(
        &mut self,
        cx: &mut Context<'_>,
        operation: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match operation(Pin::new(&mut self.io), cx) {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let timeout = self.write_timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client took no bytes within the write timeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.timed(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.timed(cx, |io, cx| io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn a_write_the_peer_never_takes_times_out() {
        let (client, _server) = tokio::io::duplex(16);
        let activity = Arc::new(Activity::default());
        let mut timed = TimedIo::new(client, Duration::from_millis(50), activity);
        let error = timed
            .write_all(&[0; 64])
            .await
            .expect_err("the peer never reads");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn bytes_moved_mark_activity_and_a_flush_does_not() {
        let (client, _server) = tokio::io::duplex(64);
        let activity = Arc::new(Activity::default());
        let timeout = Duration::from_millis(50);
        let mut timed = TimedIo::new(client, Duration::from_secs(1), activity.clone());
        tokio::time::sleep(timeout).await;
        timed.write_all(b"x").await.expect("written");
        assert!(!activity.is_idle(timeout), "a byte just went out");
        tokio::time::sleep_until(activity.idle_at(timeout)).await;
        timed.flush().await.expect("flushed");
        assert!(activity.is_idle(timeout), "a flush moves nothing");
    }

    #[tokio::test]
    async fn a_connection_is_idle_only_with_nothing_in_flight() {
        let activity = Arc::new(Activity::default());
        let timeout = Duration::from_millis(50);
        let busy = activity.busy();
        tokio::time::sleep(timeout * 2).await;
        assert!(!activity.is_idle(timeout), "a request is in flight");
        drop(busy);
        assert!(!activity.is_idle(timeout), "it just finished");
        tokio::time::sleep_until(activity.idle_at(timeout)).await;
        assert!(activity.is_idle(timeout));
    }
}
