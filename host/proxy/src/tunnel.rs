//! WebSocket tunnels on routes with `websocket = true`. The handshake is a request like
//! any other (the whole pipeline runs on it, its `Upgrade` kept for the upstream); once
//! the upstream switches protocols the client's connection is spliced to the
//! upstream's and bytes are copied both ways until a side closes, the tunnel idles past
//! `tunnel_idle_timeout_seconds`, a reload removes its route, or the gateway shuts down.
//! `max_tunnels` caps the tunnels open at once. Only `websocket` is ever forwarded as an
//! upgrade: another protocol (such as `h2c`) could carry requests past the gateway.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use http::Response;
use http::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use metrics::Gauge;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::watch;

use crate::body::ProxyBody;
use crate::error::GatewayError;
use crate::route::Route;
use crate::snapshot::Snapshot;

/// Bytes read from one side before they are written to the other.
const CHUNK: usize = 16 * 1024;

/// The WebSocket upgrade a request asks for (`Connection: upgrade` and
/// `Upgrade: websocket`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Upgrade;

impl Upgrade {
    /// The upgrade `headers` ask for, if they ask for a WebSocket one.
    pub(crate) fn requested(headers: &HeaderMap) -> Option<Self> {
        let connection_upgrade = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
        let mut protocols = headers.get_all(header::UPGRADE).iter();
        let websocket = protocols
            .next()
            .is_some_and(|protocol| protocol.as_bytes().eq_ignore_ascii_case(b"websocket"));
        (connection_upgrade && websocket && protocols.next().is_none()).then_some(Self)
    }

    /// Puts the upgrade into a message's headers after hop-by-hop stripping removed it.
    pub(crate) fn restore(self, headers: &mut HeaderMap) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
}

/// The tunnels open on this gateway, across snapshots.
#[derive(Debug)]
pub(crate) struct Tunnels {
    /// How many are open.
    open: watch::Sender<usize>,
    /// The routes of the serving snapshot that allow tunnels; empty once shutting down.
    routes: watch::Sender<Arc<HashSet<Arc<str>>>>,
    gauge: Gauge,
}

impl Tunnels {
    /// No tunnels yet, on the routes of `snapshot`.
    pub(crate) fn new(snapshot: &Snapshot) -> Self {
        Self {
            open: watch::Sender::new(0),
            routes: watch::Sender::new(tunnel_routes(snapshot)),
            gauge: metrics::gauge!("archway_tunnels_open"),
        }
    }

    /// `snapshot` serves now: tunnels whose route it removed, or no longer lets tunnel,
    /// close.
    pub(crate) fn serve(&self, snapshot: &Snapshot) {
        self.routes.send_replace(tunnel_routes(snapshot));
    }

    /// Closes every tunnel and waits until they are closed.
    pub(crate) async fn close_all(&self) {
        self.routes.send_replace(Arc::default());
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open == 0).await;
    }

    /// Splices the client's connection to the upstream's once the upstream switched
    /// protocols (`response`, a 101); beyond the gateway's `max_tunnels`, 503 instead.
    pub(crate) fn open(
        self: &Arc<Self>,
        snapshot: &Snapshot,
        route: &Route,
        client: OnUpgrade,
        mut response: Response<ProxyBody>,
    ) -> Response<ProxyBody> {
        if !route.config.websocket {
            let message = "the upstream switched protocols unasked";
            return route.error(GatewayError::BadUpstream, message);
        }
        let server = &snapshot.config().server;
        let admitted = self.open.send_if_modified(|open| {
            let room = *open < server.max_tunnels;
            *open += usize::from(room);
            room
        });
        if !admitted {
            tracing::warn!(target: "archway.tunnel", route = &*route.id, "tunnel refused: max_tunnels are open");
            let message = "too many open connections; try again later";
            return route.error(GatewayError::Unavailable, message);
        }
        let slot = Slot::new(self.clone());
        let upstream = hyper::upgrade::on(&mut response);
        Upgrade.restore(response.headers_mut());
        let mut routes = self.routes.subscribe();
        let (id, idle) = (
            route.id.clone(),
            Duration::from_secs(server.tunnel_idle_timeout_seconds),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let (client, upstream) = match tokio::try_join!(client, upstream) {
                Ok(both) => both,
                Err(error) => {
                    tracing::debug!(target: "archway.tunnel", route = &*id, %error, "upgrade failed");
                    return;
                }
            };
            let removed = async {
                let _ = routes.wait_for(|routes| !routes.contains(&id)).await;
            };
            let ended = relay(client, upstream, idle, removed).await;
            tracing::debug!(target: "archway.tunnel", route = &*id, ?ended, "tunnel closed");
        });
        response
    }
}

/// The routes of `snapshot` that allow tunnels (a file route wins over a managed one of
/// the same id, as in the snapshot).
fn tunnel_routes(snapshot: &Snapshot) -> Arc<HashSet<Arc<str>>> {
    let file = &snapshot.config().routes;
    let managed = snapshot
        .managed()
        .routes
        .iter()
        .filter(|route| !file.iter().any(|f| f.id == route.id));
    let routes = file
        .iter()
        .chain(managed)
        .filter(|route| route.is_active && route.websocket)
        .map(|route| Arc::from(route.id.as_str()))
        .collect();
    Arc::new(routes)
}

/// Counts a tunnel as open until dropped.
struct Slot(Arc<Tunnels>);

impl Slot {
    fn new(tunnels: Arc<Tunnels>) -> Self {
        tunnels.gauge.increment(1.0);
        Self(tunnels)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.gauge.decrement(1.0);
        self.0.open.send_modify(|open| *open -= 1);
    }
}

/// Why a tunnel ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// Both sides closed, or one broke off.
    Closed,
    /// Nothing moved either way for the idle timeout.
    Idle,
    /// Its route was removed, or the gateway is shutting down.
    Removed,
}

/// What one side's read gave.
enum Step {
    /// From the client, for the upstream.
    Up(std::io::Result<usize>),
    /// From the upstream, for the client.
    Down(std::io::Result<usize>),
}

/// Copies bytes both ways until both sides have closed, one breaks off, nothing moves
/// for `idle`, or `removed` completes; then closes both connections.
async fn relay(
    client: Upgraded,
    upstream: Upgraded,
    idle: Duration,
    removed: impl Future<Output = ()>,
) -> Ended {
    let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client));
    let (mut upstream_read, mut upstream_write) = tokio::io::split(TokioIo::new(upstream));
    let (mut up, mut down) = (vec![0; CHUNK], vec![0; CHUNK]);
    let (mut client_open, mut upstream_open) = (true, true);
    let quiet = tokio::time::sleep(idle);
    tokio::pin!(quiet, removed);
    let ended = loop {
        if !client_open && !upstream_open {
            break Ended::Closed;
        }
        let step = tokio::select! {
            read = client_read.read(&mut up), if client_open => Step::Up(read),
            read = upstream_read.read(&mut down), if upstream_open => Step::Down(read),
            () = &mut quiet => break Ended::Idle,
            () = &mut removed => break Ended::Removed,
        };
        let moved = match step {
            Step::Up(read) => copy(read, &up, &mut upstream_write, &mut client_open, idle).await,
            Step::Down(read) => {
                copy(read, &down, &mut client_write, &mut upstream_open, idle).await
            }
        };
        match moved {
            Some(()) => quiet.as_mut().reset(tokio::time::Instant::now() + idle),
            None => break Ended::Closed,
        }
    };
    // Each side sees its stream end (a TCP FIN, a TLS close_notify), not a reset.
    let _ = client_write.shutdown().await;
    let _ = upstream_write.shutdown().await;
    ended
}

/// Writes what one side sent to the other; at its end of stream, ends the other's
/// writing half (a half-close) and marks the side closed. `None` when the tunnel broke.
async fn copy<W: AsyncWrite>(
    read: std::io::Result<usize>,
    buffer: &[u8],
    to: &mut WriteHalf<W>,
    open: &mut bool,
    idle: Duration,
) -> Option<()> {
    let written = match read.ok()? {
        0 => {
            *open = false;
            tokio::time::timeout(idle, to.shutdown()).await
        }
        n => tokio::time::timeout(idle, to.write_all(&buffer[..n])).await,
    };
    written.ok()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn only_a_websocket_upgrade_with_connection_upgrade_is_requested() {
        let asks = |pairs| Upgrade::requested(&headers(pairs)).is_some();
        assert!(asks(&[("connection", "Upgrade"), ("upgrade", "websocket")]));
        assert!(asks(&[
            ("connection", "keep-alive, upgrade"),
            ("upgrade", "WebSocket")
        ]));
        assert!(!asks(&[("upgrade", "websocket")]), "no connection: upgrade");
        assert!(!asks(&[("connection", "upgrade"), ("upgrade", "h2c")]));
        assert!(!asks(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("upgrade", "h2c")
        ]));
    }

    #[test]
    fn restoring_puts_back_what_hop_by_hop_stripping_removed() {
        let mut stripped = HeaderMap::new();
        Upgrade.restore(&mut stripped);
        assert!(Upgrade::requested(&stripped).is_some());
    }
}
