//! Serves one client connection with hyper under `[server]`'s settings: the header read
//! timeout (hyper enforces it only with a timer), HTTP/1 and HTTP/2 parser limits set
//! above the gateway's own (which answer in its error envelope, see `admit`), HTTP/2
//! stream and reset-flood limits, an idle timeout, a screen for doubly framed HTTP/1
//! requests, and a graceful close at shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use archway_config::ServerConfig;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::framing::{Findings, Screened};
use crate::timed_io::{Activity, TimedIo};

/// HTTP/2 streams a client may open and reset before the server accepts them, at most
/// (the "rapid reset" flood, CVE-2023-44487).
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;

/// HTTP/2 streams the server may reset for a client's own protocol errors before it
/// closes the connection (a client that provokes resets to flood it).
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// One connection's settings, read from `[server]` when it is accepted.
pub(crate) struct Settings {
    builder: auto::Builder<TokioExecutor>,
    head_bytes: usize,
    idle_timeout: Duration,
    write_timeout: Duration,
}

impl Settings {
    /// The settings `server` asks for.
    pub(crate) fn new(server: &ServerConfig) -> Self {
        // hyper's parser refuses (with an empty 431) only heads well over the gateway's
        // limits, so the gateway answers the rest in the route's error format.
        let head_bytes = (2 * (server.max_header_bytes + server.max_uri_bytes)).max(8192);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(server.header_read_timeout_seconds))
            .max_buf_size(head_bytes)
            .max_headers(2 * server.max_headers);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(server.http2_max_concurrent_streams)
            .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESET_STREAMS)
            .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESET_STREAMS)
            .max_header_list_size(u32::try_from(head_bytes).unwrap_or(u32::MAX));
        Self {
            builder,
            head_bytes,
            idle_timeout: Duration::from_secs(server.idle_timeout_seconds),
            write_timeout: Duration::from_secs(server.write_timeout_seconds),
        }
    }

    /// Serves `io` with `handle` until the client leaves, a timeout closes it, or
    /// `stopping` says the server is shutting down (then requests in flight finish).
    pub(crate) async fn serve<I, F, Fut, B>(
        &self,
        io: I,
        handle: F,
        mut stopping: watch::Receiver<()>,
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
            let answer = handle(request);
            async move {
                let response = answer.await;
                drop(busy);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = self.builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            let idle_at = activity.idle_at(self.idle_timeout);
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(error) = ended {
                        tracing::debug!(target: "archway.server", %error, "connection ended with an error");
                    }
                    return;
                }
                _ = stopping.changed(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = tokio::time::sleep_until(idle_at), if !closing => {
                    if activity.is_idle(self.idle_timeout) {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}
