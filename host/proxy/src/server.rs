//! Accepts connections (HTTP/1.1 and HTTP/2 on one port), runs each request through the
//! current snapshot's pipeline, writes the access log, and drains on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use archway_store::Store;

use crate::pipeline;
use crate::service_calls::ServiceDirectory;
use crate::snapshot::Snapshot;

/// The proxy: the current snapshot (swapped whole on reload), and the directory that
/// plugins' upstream calls resolve services in, kept in step with it.
pub struct Proxy {
    snapshot: ArcSwap<Snapshot>,
    service_calls: Option<Arc<ServiceDirectory>>,
    limits: Option<Store>,
    access_log: bool,
}

impl Proxy {
    /// A proxy serving `snapshot`.
    pub fn new(snapshot: Snapshot, access_log: bool) -> Self {
        Self {
            snapshot: ArcSwap::from_pointee(snapshot),
            service_calls: None,
            limits: None,
            access_log,
        }
    }

    /// Counts routes' rate limits in `store` (without one, routes are unlimited).
    pub fn with_rate_limits(mut self, store: Store) -> Self {
        self.limits = Some(store);
        self
    }

    /// Points plugins' upstream calls (the runtime's [`ServiceDirectory`]) at the
    /// services of the snapshot serving now, and of each one swapped in.
    pub fn with_service_calls(mut self, directory: Arc<ServiceDirectory>) -> Self {
        directory.serve(self.snapshot.load().services().clone());
        self.service_calls = Some(directory);
        self
    }

    /// Replaces the snapshot; requests in flight finish on the one they started with.
    pub fn swap(&self, snapshot: Snapshot) {
        if let Some(directory) = &self.service_calls {
            directory.serve(snapshot.services().clone());
        }
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The snapshot serving now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Serves connections from `listener` until `shutdown` completes, then waits up to
    /// `grace` for requests in flight.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(target: "archway.server", %error, "accept failed");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let proxy = self.clone();
                    let service = service_fn(move |request| {
                        let proxy = proxy.clone();
                        async move { Ok::<_, std::convert::Infallible>(proxy.handle(request, peer).await) }
                    });
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection.into_owned());
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(target: "archway.server", %error, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        tracing::info!(target: "archway.server", "shutting down, draining requests in flight");
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(target: "archway.server", "grace period over, closing remaining connections");
        }
    }

    async fn handle(
        &self,
        request: http::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> http::Response<crate::ProxyBody> {
        let started = self.access_log.then(Instant::now);
        let (method, path) = match started {
            Some(_) => (
                Some(request.method().clone()),
                Some(request.uri().path().to_owned()),
            ),
            None => (None, None),
        };
        let snapshot = self.snapshot.load_full();
        let (response, route) =
            pipeline::run(&snapshot, self.limits.as_ref(), request, peer.ip()).await;
        if let (Some(started), Some(method), Some(path)) = (started, method, path) {
            tracing::info!(
                target: "archway.access",
                client = %peer.ip(),
                method = %method,
                path,
                route = route.as_deref().unwrap_or("-"),
                status = response.status().as_u16(),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        }
        response
    }
}
