//! Accepts connections (HTTP/1.1 and HTTP/2 on one port, over TLS when the listener
//! terminates it, each under the `[server]` settings current when it opened), answers the
//! metrics endpoint, runs each other request through the current snapshot's pipeline,
//! counts it, writes the access log, exports the spans of sampled requests, and drains
//! on shutdown.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use http::{Method, StatusCode};
use hyper::body::Incoming;
use metrics::Gauge;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use archway_config::TracingConfig;
use archway_jwt::Verifier;
use archway_store::{SharedCache, Store};

use crate::admin_docs;
use crate::body::ProxyBody;
use crate::cache::ResponseCache;
use crate::client_ip::Peer;
use crate::connection::Protocol;
use crate::listener::Listener;
use crate::metrics::{CountedBody, RouteMetrics, ServerMetrics};
use crate::metrics_endpoint;
use crate::otlp::{Exporter, RequestTrace};
use crate::pipeline;
use crate::route::{Dispatch, Route};
use crate::service_calls::ServiceDirectory;
use crate::snapshot::Snapshot;
use crate::status;
use crate::tls_listener::{Acceptor, Certificates};
use crate::trace::{self, RequestIds};
use crate::traffic::TrafficLog;
use crate::tunnel::Tunnels;

/// The proxy: the current snapshot (swapped whole on reload), and the directory that
/// plugins' upstream calls resolve services in, kept in step with it.
pub struct Proxy {
    snapshot: ArcSwap<Snapshot>,
    service_calls: Option<Arc<ServiceDirectory>>,
    verifier: Option<Arc<Verifier>>,
    limits: Option<Store>,
    cache: ResponseCache,
    access_log: bool,
    metrics: ServerMetrics,
    unmatched: RouteMetrics,
    render_metrics: Option<RenderMetrics>,
    traffic: Option<TrafficLog>,
    tracing: Option<Tracing>,
    tls: Option<Acceptor>,
    tunnels: Arc<Tunnels>,
}

/// Where sampled requests' spans go, and the share of new traces sampled.
struct Tracing {
    exporter: Exporter,
    sample_ratio: f64,
}

/// Renders the process's metrics in Prometheus text format.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Counts a connection as open until dropped.
struct OpenConnection(Gauge);

impl OpenConnection {
    fn new(gauge: &Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

impl Proxy {
    /// A proxy serving `snapshot`, with a response cache sized by its `[server]` settings.
    pub fn new(snapshot: Snapshot, access_log: bool) -> Self {
        snapshot.upstreams().serve(snapshot.services());
        let cache = ResponseCache::new(&snapshot.config().server, None);
        Self {
            cache,
            tunnels: Arc::new(Tunnels::new(&snapshot)),
            snapshot: ArcSwap::from_pointee(snapshot),
            service_calls: None,
            verifier: None,
            limits: None,
            access_log,
            metrics: ServerMetrics::new(),
            unmatched: RouteMetrics::new("none"),
            render_metrics: None,
            traffic: None,
            tracing: None,
            tls: None,
        }
    }

    /// Exports a span per sampled request, and one per plugin call it made, to the OTLP
    /// collector `config` names (nothing without one). Must run inside a Tokio runtime.
    pub fn with_tracing(mut self, config: &TracingConfig) -> Self {
        self.tracing = config.otlp_endpoint.as_ref().map(|endpoint| Tracing {
            exporter: Exporter::start(endpoint, &config.service_name),
            sample_ratio: config.sample_ratio,
        });
        self
    }

    /// Terminates TLS on the listener with `certificates` (HTTPS only).
    pub fn with_tls(mut self, certificates: &Arc<Certificates>) -> Self {
        self.tls = Some(certificates.acceptor());
        self
    }

    /// Counts routes' rate limits in `store` (without one, routes are unlimited).
    pub fn with_rate_limits(mut self, store: Store) -> Self {
        self.limits = Some(store);
        self
    }

    /// Shares the response cache with every node through `shared` (the store's shared
    /// tier, when it has one).
    pub fn with_shared_cache(mut self, shared: Option<SharedCache>) -> Self {
        self.cache = ResponseCache::new(&self.snapshot.load().config().server, shared);
        self
    }

    /// Points plugins' upstream calls (the runtime's [`ServiceDirectory`]) at the
    /// services of the snapshot serving now, and of each one swapped in.
    pub fn with_service_calls(mut self, directory: Arc<ServiceDirectory>) -> Self {
        directory.serve(self.snapshot.load().services().clone());
        self.service_calls = Some(directory);
        self
    }

    /// Points plugins' `jwt` calls (the runtime's [`Verifier`]) at the key sets of the
    /// snapshot serving now, and of each one swapped in.
    pub fn with_verifier(mut self, verifier: Arc<Verifier>) -> Self {
        verifier.install(self.snapshot.load().key_sets().clone());
        self.verifier = Some(verifier);
        self
    }

    /// Answers `GET` of the config's `[metrics] path` with `render`'s text, before
    /// routing.
    pub fn with_metrics_endpoint(mut self, render: RenderMetrics) -> Self {
        self.render_metrics = Some(render);
        self
    }

    /// Reads the hourly traffic totals that the metrics endpoint's envelope reports from
    /// `log` (what [`spawn_traffic_flusher`](crate::spawn_traffic_flusher) writes).
    pub fn with_traffic(mut self, log: TrafficLog) -> Self {
        self.traffic = Some(log);
        self
    }

    /// Replaces the snapshot; requests in flight finish on the one they started with,
    /// tunnels stay open unless their route is gone.
    pub fn swap(&self, snapshot: Snapshot) {
        if let Some(directory) = &self.service_calls {
            directory.serve(snapshot.services().clone());
        }
        if let Some(verifier) = &self.verifier {
            verifier.install(snapshot.key_sets().clone());
        }
        snapshot.upstreams().serve(snapshot.services());
        self.tunnels.serve(&snapshot);
        self.snapshot.store(Arc::new(snapshot));
    }

    /// The snapshot serving now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Serves connections from `listener` (the admin listener when `admin`) until
    /// `shutdown` completes, then closes the tunnels, waits up to `grace` for requests
    /// in flight, and closes the connections still open; returns once every connection's
    /// task has ended (and let go of the proxy, its plugins and their store).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        admin: bool,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) {
        let mut listener = Listener::new(listener);
        // Each connection holds a receiver: a send asks them to close.
        let (stopping, _) = watch::channel(());
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let max_connections = self.snapshot.load().config().server.max_connections;
            tokio::select! {
                (stream, peer, slot) = listener.accept(max_connections) => {
                    let settings = self.snapshot.load().connections().clone();
                    let guard = (OpenConnection::new(&self.metrics.open_connections), slot);
                    let proxy = self.clone();
                    let peer = Peer { address: peer.ip(), tls: self.tls.is_some(), admin };
                    let handle = move |request| {
                        let proxy = proxy.clone();
                        async move { proxy.handle(request, peer).await }
                    };
                    let mut stopping = stopping.subscribe();
                    // One task per kind, so a cleartext connection's does not hold room
                    // for TLS state.
                    match self.tls.clone() {
                        None => connections.spawn(async move {
                            let _guard = guard;
                            if let Some(protocol) = settings.sniff(&stream, &mut stopping).await {
                                settings.serve(stream, protocol, handle, stopping).await;
                            }
                        }),
                        Some(tls) => connections.spawn(async move {
                            let _guard = guard;
                            if let Some(stream) = tls.accept(stream).await {
                                let protocol = Protocol::negotiated(&stream);
                                settings.serve(stream, protocol, handle, stopping).await;
                            }
                        }),
                    };
                }
                Some(_) = connections.join_next() => {}
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        tracing::info!(target: "archway.server", "shutting down, draining requests in flight");
        stopping.send_replace(());
        let drained = async {
            let closed = async { while connections.join_next().await.is_some() {} };
            tokio::join!(closed, self.tunnels.close_all());
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!(target: "archway.server", open = connections.len(), "grace period over, closing remaining connections");
            connections.shutdown().await;
        }
    }

    /// Serves the requests of one connection until it ends or shutdown drains it.
    async fn handle(
        &self,
        mut request: http::Request<Incoming>,
        peer: Peer,
    ) -> http::Response<CountedBody<ProxyBody>> {
        let sent_bytes = self.metrics.sent_bytes.clone();
        let snapshot = self.snapshot.load_full();
        if let Some(scrape) = self.scrape(&snapshot, &request).await {
            return scrape.map(|body| CountedBody::new(body, sent_bytes));
        }
        if let Some(docs) = admin_docs::answer(snapshot.config(), &request, peer.admin) {
            return docs.map(|body| CountedBody::new(body, sent_bytes));
        }
        let probe = &snapshot.config().health;
        if probe.enabled && request.method() == Method::GET && request.uri().path() == probe.path {
            return status::health(&snapshot, self.limits.as_ref(), self.cache.is_shared())
                .await
                .map(|body| CountedBody::new(body, sent_bytes));
        }
        let started = Instant::now();
        let sample_ratio = self.tracing.as_ref().map(|tracing| tracing.sample_ratio);
        let ids = RequestIds::stamp(request.headers_mut(), sample_ratio);
        let traced_since = ids.sampled.then(SystemTime::now);
        let method = request.method().clone();
        let path = (self.access_log || ids.sampled).then(|| request.uri().path().to_owned());
        let client_upgrade = hyper::upgrade::on(&mut request);
        let request =
            request.map(|body| CountedBody::new(body, self.metrics.received_bytes.clone()));
        let limits = self.limits.as_ref();
        let pipeline::Answered {
            mut response,
            route,
            client,
            seen,
        } = pipeline::run(&snapshot, limits, &self.cache, request, peer, ids.sampled).await;
        if let Some(route) = &route
            && response.status() == StatusCode::SWITCHING_PROTOCOLS
        {
            response = self
                .tunnels
                .open(&snapshot, route, client_upgrade, response);
        }
        let elapsed = started.elapsed();
        route
            .as_ref()
            .map_or(&self.unmatched, |route| &route.metrics)
            .request(&method, response.status(), elapsed);
        if let Some(route) = &route
            && let Dispatch::Upstream(service) = &route.dispatch
        {
            service.traffic.record(response.status(), elapsed);
        }
        if self.access_log
            && let Some(path) = &path
        {
            tracing::info!(
                target: "archway.access",
                %client,
                method = %method,
                path,
                route = route.as_ref().map_or("-", |route| &*route.id),
                principal = seen.subject.as_deref().unwrap_or("-"),
                tenant = seen.tenant.as_deref().unwrap_or("-"),
                status = response.status().as_u16(),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                request_id = ids.request_id.to_str().unwrap_or("-"),
                trace_id = ids.trace_id(),
                "request"
            );
        }
        if let (Some(tracing), Some(since)) = (&self.tracing, traced_since) {
            let request = Traced {
                ids: &ids,
                since,
                elapsed,
                method: &method,
                path: path.unwrap_or_default(),
                route: route.as_deref(),
                client,
                status: response.status().as_u16(),
            };
            tracing.exporter.send(request.trace(seen));
        }
        response
            .headers_mut()
            .insert(trace::REQUEST_ID.clone(), ids.request_id);
        response.map(|body| CountedBody::new(body, sent_bytes))
    }

    /// The metrics endpoint's answer, when the request is a `GET` of its path.
    async fn scrape(
        &self,
        snapshot: &Snapshot,
        request: &http::Request<Incoming>,
    ) -> Option<http::Response<ProxyBody>> {
        let endpoint = &snapshot.config().metrics;
        let render = self.render_metrics.as_ref()?;
        if !endpoint.enabled
            || request.method() != Method::GET
            || request.uri().path() != endpoint.path
        {
            return None;
        }
        self.cache.report();
        let log = self.traffic.as_ref();
        Some(
            metrics_endpoint::answer(
                snapshot,
                render,
                log,
                request.headers(),
                request.uri().query(),
            )
            .await,
        )
    }
}

/// A sampled request, answered: what its span says.
struct Traced<'a> {
    ids: &'a RequestIds,
    since: SystemTime,
    elapsed: Duration,
    method: &'a Method,
    path: String,
    route: Option<&'a Route>,
    client: IpAddr,
    status: u16,
}

impl Traced<'_> {
    /// Its span, with a child per plugin call `seen`.
    fn trace(self, seen: pipeline::Seen) -> RequestTrace {
        let name = match self.route {
            Some(route) => format!("{} {}", self.method, route.config.path_pattern),
            None => self.method.to_string(),
        };
        let mut attributes = vec![
            ("http.request.method", self.method.to_string()),
            ("url.path", self.path),
            ("client.address", self.client.to_string()),
            (
                "archway.request_id",
                self.ids.request_id.to_str().unwrap_or_default().to_owned(),
            ),
        ];
        if let Some(route) = self.route {
            attributes.push(("http.route", route.config.path_pattern.clone()));
            attributes.push(("archway.route", route.id.to_string()));
        }
        attributes.extend(seen.subject.map(|subject| ("enduser.id", subject)));
        attributes.extend(seen.tenant.map(|tenant| ("archway.tenant", tenant)));
        RequestTrace {
            trace_id: self.ids.trace_id,
            span_id: self.ids.span_id,
            parent_span_id: self.ids.parent_span_id,
            name,
            started: self.since,
            duration: self.elapsed,
            status: self.status,
            attributes,
            plugins: seen.spans,
        }
    }
}
