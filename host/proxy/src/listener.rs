//! Accepting connections: at most `[server] max_connections` open at once (one accepted
//! beyond that is closed at once), and a pause instead of a busy loop when accepting
//! fails (the process is out of file descriptors), each logged at a bounded rate.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

/// How long accepting pauses after it failed for a reason other than the one connection.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// At most one warning of a kind per this long; the ones left out are counted.
const WARNING_INTERVAL: Duration = Duration::from_secs(5);

/// The listening socket and the count of connections open from it.
pub(crate) struct Listener {
    tcp: TcpListener,
    open: Arc<AtomicUsize>,
    accept_failed: Throttled,
    over_cap: Throttled,
}

/// A connection's place under the cap, given back when dropped.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Listener {
    /// Accepts from `tcp`.
    pub(crate) fn new(tcp: TcpListener) -> Self {
        Self {
            tcp,
            open: Arc::default(),
            accept_failed: Throttled::default(),
            over_cap: Throttled::default(),
        }
    }

    /// The next connection that fits under `max_connections` open at once.
    pub(crate) async fn accept(&mut self, max_connections: usize) -> (TcpStream, SocketAddr, Slot) {
        loop {
            let error = match self.tcp.accept().await {
                Ok((stream, peer)) => {
                    let slot = Slot(self.open.clone());
                    let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
                    if open <= max_connections {
                        let _ = stream.set_nodelay(true);
                        return (stream, peer, slot);
                    }
                    if let Some(left_out) = self.over_cap.note() {
                        tracing::warn!(target: "archway.server", max_connections, left_out, "connection cap reached; closing new connections");
                    }
                    continue;
                }
                Err(error) => error,
            };
            // One client's failed handshake says nothing about the listener.
            if !matches!(
                error.kind(),
                io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
            ) {
                if let Some(left_out) = self.accept_failed.note() {
                    tracing::warn!(target: "archway.server", %error, left_out, "accept failed; pausing before the next");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// A warning that is logged at most once per [`WARNING_INTERVAL`].
#[derive(Default)]
struct Throttled {
    last: Option<Instant>,
    left_out: u64,
}

impl Throttled {
    /// Notes one occurrence; `Some(left out since the last warning)` when this one is to
    /// be logged.
    fn note(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < WARNING_INTERVAL)
        {
            self.left_out += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_throttled_and_count_the_ones_left_out() {
        let mut warning = Throttled::default();
        assert_eq!(warning.note(), Some(0));
        assert_eq!(warning.note(), None);
        assert_eq!(warning.note(), None);
        warning.last = Some(Instant::now() - WARNING_INTERVAL);
        assert_eq!(warning.note(), Some(2));
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_closed() {
        use tokio::io::AsyncReadExt;

        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("address");
        let mut listener = Listener::new(tcp);
        let _first = TcpStream::connect(addr).await.expect("connect");
        let (_, _, slot) = listener.accept(1).await;
        let accepting = tokio::spawn(async move { listener.accept(1).await.1 });
        let mut second = TcpStream::connect(addr).await.expect("connect");
        let read = second.read(&mut [0; 1]).await.expect("read");
        assert_eq!(read, 0, "the connection over the cap is closed");
        drop(slot);
        let third = TcpStream::connect(addr).await.expect("connect");
        let accepted = accepting.await.expect("accept task");
        assert_eq!(
            accepted,
            third.local_addr().expect("address"),
            "a freed slot is taken"
        );
    }
}
