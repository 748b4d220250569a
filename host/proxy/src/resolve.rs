//! The upstream clients' DNS: each instance host name is looked up on first use, cached,
//! and looked up again in the background every [`REFRESH_INTERVAL`], so an instance whose
//! records change is reached at its new addresses without a restart. A refresh that
//! fails keeps the last good addresses. IP literals never get here: `HttpConnector`
//! connects to them directly.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::dns::Name;

/// How often every cached name is looked up again.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// A name no connection asked for in this long is dropped at the next refresh rather than
/// looked up again, so services that are gone stop costing lookups (and warnings).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// Looks a host name up.
pub(crate) trait Lookup: Send + Sync + 'static {
    /// The addresses `host` has now.
    fn lookup(&self, host: &str) -> impl Future<Output = io::Result<Vec<IpAddr>>> + Send;
}

/// The system's resolver (getaddrinfo on tokio's blocking pool).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SystemLookup;

impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, 0)).await?;
        Ok(addrs.map(|addr| addr.ip()).collect())
    }
}

/// A caching resolver shared by every upstream pool, plugged into `HttpConnector`.
#[derive(Debug)]
pub(crate) struct Resolver<L = SystemLookup> {
    cache: Arc<Cache<L>>,
}

impl<L> Clone for Resolver<L> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
        }
    }
}

impl Default for Resolver {
    fn default() -> Self {
        Self::new(SystemLookup, REFRESH_INTERVAL, FORGET_AFTER)
    }
}

#[derive(Debug)]
struct Cache<L> {
    lookup: L,
    refresh_every: Duration,
    forget_after: Duration,
    names: Mutex<HashMap<String, Entry>>,
    /// Whether the refresh task runs; it starts with the first lookup, inside the runtime.
    refreshing: AtomicBool,
}

#[derive(Debug)]
struct Entry {
    addrs: Arc<[IpAddr]>,
    /// When a connection last asked for the name.
    used: Instant,
}

impl<L: Lookup> Resolver<L> {
    /// A resolver over `lookup` that refreshes every `refresh_every` and forgets names
    /// unused for `forget_after`.
    fn new(lookup: L, refresh_every: Duration, forget_after: Duration) -> Self {
        Self {
            cache: Arc::new(Cache {
                lookup,
                refresh_every,
                forget_after,
                names: Mutex::default(),
                refreshing: AtomicBool::new(false),
            }),
        }
    }

    /// The addresses of `host`: cached, or looked up now the first time.
    async fn resolve(&self, host: &str) -> io::Result<Arc<[IpAddr]>> {
        if let Some(entry) = self.cache.names().get_mut(host) {
            entry.used = Instant::now();
            return Ok(entry.addrs.clone());
        }
        self.start_refreshing();
        let addrs = self.cache.look_up(host).await?;
        let entry = Entry {
            addrs: addrs.clone(),
            used: Instant::now(),
        };
        self.cache.names().insert(host.to_owned(), entry);
        Ok(addrs)
    }

    /// Starts the background refresh once; it ends when the last clone is dropped.
    fn start_refreshing(&self) {
        if self.cache.refreshing.swap(true, Ordering::Relaxed) {
            return;
        }
        let cache: Weak<Cache<L>> = Arc::downgrade(&self.cache);
        let every = self.cache.refresh_every;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                cache.refresh().await;
            }
        });
    }
}

impl<L: Lookup> Cache<L> {
    fn names(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.names.lock().expect("DNS cache lock")
    }

    /// Looks every name in use up again; a name that fails keeps its addresses.
    async fn refresh(&self) {
        let hosts: Vec<String> = {
            let mut names = self.names();
            names.retain(|_, entry| entry.used.elapsed() < self.forget_after);
            names.keys().cloned().collect()
        };
        for host in hosts {
            match self.look_up(&host).await {
                Ok(addrs) => {
                    if let Some(entry) = self.names().get_mut(&host) {
                        entry.addrs = addrs;
                    }
                }
                Err(error) => tracing::warn!(
                    target: "archway.upstream",
                    %error,
                    "keeping the last addresses"
                ),
            }
        }
    }

    /// One lookup; no address at all is an error too. Errors name the host.
    async fn look_up(&self, host: &str) -> io::Result<Arc<[IpAddr]>> {
        match self.lookup.lookup(host).await {
            Ok(addrs) if addrs.is_empty() => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("cannot resolve {host}: no addresses"),
            )),
            Ok(addrs) => Ok(addrs.into()),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot resolve {host}: {e}"),
            )),
        }
    }
}

impl<L: Lookup> tower_service::Service<Name> for Resolver<L> {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move {
            let addrs = resolver.resolve(name.as_str()).await?;
            // Port 0: the connector puts the URI's port in.
            let addrs: Vec<_> = addrs.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::atomic::AtomicUsize;

    use hyper_util::client::legacy::connect::HttpConnector;
    use tower_service::Service;

    use super::*;

    /// Answers from a table the test edits, counting lookups.
    #[derive(Debug, Default)]
    struct Table {
        answers: Mutex<HashMap<String, Vec<IpAddr>>>,
        lookups: AtomicUsize,
    }

    impl Table {
        fn set(&self, host: &str, last_octet: Option<u8>) {
            let addrs = last_octet.map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)));
            let mut answers = self.answers.lock().expect("table lock");
            answers.insert(host.to_owned(), addrs.into_iter().collect());
        }

        fn lookups(&self) -> usize {
            self.lookups.load(Ordering::SeqCst)
        }
    }

    impl Lookup for Arc<Table> {
        async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            let answers = self.answers.lock().expect("table lock");
            match answers.get(host) {
                Some(addrs) if !addrs.is_empty() => Ok(addrs.clone()),
                _ => Err(io::Error::other("server failure")),
            }
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn resolver(
        refresh_every: Duration,
        forget_after: Duration,
    ) -> (Resolver<Arc<Table>>, Arc<Table>) {
        let table = Arc::new(Table::default());
        (
            Resolver::new(table.clone(), refresh_every, forget_after),
            table,
        )
    }

    fn ip(last_octet: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet))
    }

    #[tokio::test]
    async fn a_name_is_looked_up_once_then_served_from_the_cache() {
        let (resolver, table) = resolver(HOUR, HOUR);
        table.set("users.internal", Some(1));

        for _ in 0..3 {
            let addrs = resolver.resolve("users.internal").await.expect("resolves");
            assert_eq!(*addrs, [ip(1)]);
        }
        assert_eq!(table.lookups(), 1);
    }

    #[tokio::test]
    async fn a_name_that_never_resolved_fails_naming_it_and_is_tried_again() {
        let (resolver, table) = resolver(HOUR, HOUR);

        let err = resolver
            .resolve("nowhere.internal")
            .await
            .expect_err("no answer");
        assert!(
            err.to_string().contains("cannot resolve nowhere.internal"),
            "{err}"
        );
        table.set("nowhere.internal", Some(2));
        let addrs = resolver
            .resolve("nowhere.internal")
            .await
            .expect("resolves now");
        assert_eq!(*addrs, [ip(2)]);
        assert_eq!(table.lookups(), 2);
    }

    #[tokio::test]
    async fn a_refresh_takes_new_addresses_and_a_failed_one_keeps_the_old() {
        let (resolver, table) = resolver(HOUR, HOUR);
        table.set("users.internal", Some(1));
        resolver.resolve("users.internal").await.expect("resolves");

        table.set("users.internal", Some(3));
        resolver.cache.refresh().await;
        let addrs = resolver.resolve("users.internal").await.expect("cached");
        assert_eq!(*addrs, [ip(3)]);

        table.set("users.internal", None);
        resolver.cache.refresh().await;
        let addrs = resolver
            .resolve("users.internal")
            .await
            .expect("still cached");
        assert_eq!(*addrs, [ip(3)]);
        assert_eq!(table.lookups(), 3);
    }

    #[tokio::test]
    async fn names_unused_for_a_while_are_forgotten_rather_than_refreshed() {
        let (resolver, table) = resolver(HOUR, Duration::ZERO);
        table.set("gone.internal", Some(1));
        resolver.resolve("gone.internal").await.expect("resolves");

        resolver.cache.refresh().await;
        assert_eq!(table.lookups(), 1, "not looked up again");
        resolver.resolve("gone.internal").await.expect("resolves");
        assert_eq!(table.lookups(), 2, "looked up afresh on next use");
    }

    #[tokio::test]
    async fn stale_entries_are_refreshed_in_the_background() {
        let (resolver, table) = resolver(Duration::from_millis(20), HOUR);
        table.set("users.internal", Some(1));
        resolver.resolve("users.internal").await.expect("resolves");

        table.set("users.internal", Some(4));
        let deadline = Instant::now() + Duration::from_secs(5);
        while *resolver.resolve("users.internal").await.expect("cached") != [ip(4)] {
            assert!(Instant::now() < deadline, "not refreshed in 5 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(table.lookups() >= 2);
    }

    #[tokio::test]
    async fn the_connector_resolves_names_through_the_cache_and_ip_literals_not_at_all() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        let (resolver, table) = resolver(HOUR, HOUR);
        table.set("users.internal", Some(1));
        let mut connector = HttpConnector::new_with_resolver(resolver);

        let literal = format!("http://127.0.0.1:{port}").parse().expect("uri");
        connector.call(literal).await.expect("connects");
        assert_eq!(table.lookups(), 0);
        for _ in 0..2 {
            let named = format!("http://users.internal:{port}")
                .parse()
                .expect("uri");
            connector.call(named).await.expect("connects");
        }
        assert_eq!(table.lookups(), 1);
    }
}
