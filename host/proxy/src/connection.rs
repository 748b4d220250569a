//! Serves one client connection with hyper under `[server]`'s settings: its HTTP version
//! found before hyper reads (the first bytes in cleartext, ALPN over TLS), the header read
//! timeout (hyper enforces it only with a timer), HTTP/1 and HTTP/2 parser limits set
//! above the gateway's own (which answer in its error envelope, see `admit`), HTTP/2
//! stream and reset-flood limits, an idle timeout, a screen for doubly framed HTTP/1
//! requests, and a graceful close at shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use archway_config::ServerConfig;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;

use crate::framing::{Findings, Screened};
use crate::timed_io::{Activity, TimedIo};

/// What an HTTP/2 client sends first, before any frame (RFC 9113, section 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// HTTP/2 streams a client may open and reset before the server accepts them, at most
/// (the "rapid reset" flood, CVE-2023-44487).
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;

/// HTTP/2 streams the server may reset for a client's own protocol errors before it
/// closes the connection (a client that provokes resets to flood it).
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// The HTTP version a connection speaks, known before hyper reads from it, so that it
/// is served by that version's connection alone (and its first read holds the whole
/// head it was sent, which keeps hyper's read buffer at its initial size).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Protocol {
    /// HTTP/1.1 (or 1.0).
    Http1,
    /// HTTP/2.
    Http2,
}

impl Protocol {
    /// What a TLS connection negotiated with ALPN; HTTP/1.1 when it did not.
    pub(crate) fn negotiated(stream: &TlsStream<TcpStream>) -> Self {
        match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => Self::Http2,
            _ => Self::Http1,
        }
    }

    /// What a cleartext connection's first bytes say, peeked without reading them:
    /// HTTP/2 with prior knowledge opens with its preface. `None` when the client
    /// leaves first.
    async fn sniffed(stream: &TcpStream) -> std::io::Result<Option<Self>> {
        let mut first = [0; HTTP2_PREFACE.len()];
        loop {
            let seen = stream.peek(&mut first).await?;
            if seen == 0 {
                return Ok(None);
            }
            if first[..seen] != HTTP2_PREFACE[..seen] {
                return Ok(Some(Self::Http1));
            }
            if seen == HTTP2_PREFACE.len() {
                return Ok(Some(Self::Http2));
            }
            // A preface split across segments: its rest is on its way.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// How connections are served under one `[server]` config; shared by all of them.
#[derive(Debug)]
pub(crate) struct Settings {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    head_bytes: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    write_timeout: Duration,
}

impl Settings {
    /// The settings `server` asks for.
    pub(crate) fn new(server: &ServerConfig) -> Self {
        // hyper's parser refuses (with an empty 431) only heads well over the gateway's
        // limits, so the gateway answers the rest in the route's error format.
        let head_bytes = (2 * (server.max_header_bytes + server.max_uri_bytes)).max(8192);
        let header_read_timeout = Duration::from_secs(server.header_read_timeout_seconds);
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(head_bytes)
            .max_headers(2 * server.max_headers);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(server.http2_max_concurrent_streams)
            .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESET_STREAMS)
            .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESET_STREAMS)
            .max_header_list_size(u32::try_from(head_bytes).unwrap_or(u32::MAX));
        Self {
            http1,
            http2,
            head_bytes,
            header_read_timeout,
            idle_timeout: Duration::from_secs(server.idle_timeout_seconds),
            write_timeout: Duration::from_secs(server.write_timeout_seconds),
        }
    }

    /// The protocol of a cleartext connection, once its first bytes are in; `None` when
    /// the client leaves, sends nothing within the header read timeout, or the server
    /// stops first.
    pub(crate) async fn sniff(
        &self,
        stream: &TcpStream,
        stopping: &mut watch::Receiver<()>,
    ) -> Option<Protocol> {
        tokio::select! {
            sniffed = tokio::time::timeout(self.header_read_timeout, Protocol::sniffed(stream)) => {
                sniffed.ok()?.ok()?
            }
            _ = stopping.changed() => None,
        }
    }

    /// Serves `io`, which speaks `protocol`, with `handle` until the client leaves, a
    /// timeout closes it, or `stopping` says the server is shutting down (then requests
    /// in flight finish).
    pub(crate) async fn serve<I, F, Fut, B>(
        &self,
        io: I,
        protocol: Protocol,
        handle: F,
        stopping: watch::Receiver<()>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<B>> + Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let activity = Arc::new(Activity::default());
        let findings = Findings::new();
        let io = Screened::new(io, self.head_bytes, findings.clone());
        let io = TokioIo::new(TimedIo::new(io, self.write_timeout, activity.clone()));
        let tracked = activity.clone();
        let service = service_fn(move |mut request| {
            findings.mark(&mut request);
            let busy = tracked.busy();
            // Boxed, so that the connection holds the request's (large) future only
            // while a request is in flight, not for as long as it stays open.
            let answer = Box::pin(handle(request));
            async move {
                let response = answer.await;
                drop(busy);
                Ok::<_, Infallible>(response)
            }
        });
        let open = Open {
            activity,
            idle_timeout: self.idle_timeout,
            stopping,
        };
        match protocol {
            Protocol::Http1 => {
                let connection = self.http1.serve_connection(io, service).with_upgrades();
                open.drive(connection, |connection| connection.graceful_shutdown())
                    .await;
            }
            Protocol::Http2 => {
                // Boxed: an HTTP/1 connection's task need not hold room for it.
                let connection = Box::pin(self.http2.serve_connection(io, service));
                open.drive(connection, |connection| {
                    connection.get_mut().as_mut().graceful_shutdown();
                })
                .await;
            }
        }
    }
}

/// A connection being served, and what may close it.
struct Open {
    activity: Arc<Activity>,
    idle_timeout: Duration,
    stopping: watch::Receiver<()>,
}

impl Open {
    /// Polls `connection` to its end; closes it gracefully (with `close`) once it has
    /// been idle for the idle timeout, or when the server is stopping.
    async fn drive<C>(mut self, connection: C, close: impl Fn(Pin<&mut C>))
    where
        C: Future<Output = hyper::Result<()>>,
    {
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            let idle_at = self.activity.idle_at(self.idle_timeout);
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(error) = ended {
                        tracing::debug!(target: "archway.server", %error, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stopping.changed(), if !closing => {
                    close(connection.as_mut());
                    closing = true;
                }
                () = tokio::time::sleep_until(idle_at), if !closing => {
                    if self.activity.is_idle(self.idle_timeout) {
                        close(connection.as_mut());
                        closing = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    /// What the server side sniffs when the client sends `parts`, with a pause between.
    async fn sniff_of(parts: &[&[u8]]) -> Option<Protocol> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("address"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let parts: Vec<Vec<u8>> = parts.iter().map(|part| part.to_vec()).collect();
        let sending = tokio::spawn(async move {
            for part in parts {
                client.write_all(&part).await.expect("send");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let sniffed = Protocol::sniffed(&server).await.expect("peek");
        sending.await.expect("sender");
        sniffed
    }

    #[tokio::test]
    async fn the_first_bytes_tell_http1_from_http2() {
        assert_eq!(
            sniff_of(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]).await,
            Some(Protocol::Http1)
        );
        assert_eq!(sniff_of(&[HTTP2_PREFACE]).await, Some(Protocol::Http2));
        // "P" could begin either: the next bytes decide.
        assert_eq!(
            sniff_of(&[b"P", b"OST / HTTP/1.1\r\n"]).await,
            Some(Protocol::Http1)
        );
        assert_eq!(
            sniff_of(&[&HTTP2_PREFACE[..5], &HTTP2_PREFACE[5..]]).await,
            Some(Protocol::Http2)
        );
    }

    #[tokio::test]
    async fn a_client_that_leaves_before_sending_is_not_served() {
        assert_eq!(sniff_of(&[]).await, None);
    }
}
