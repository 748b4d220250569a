//! The response cache. On a route with `cache_enabled`, a `GET` or `HEAD` is looked up
//! after authentication, rate limits and authorization (so a cached answer reaches only
//! those who may see it, and every request counts against its limits) and before the
//! request transforms; a hit skips transforms and dispatch and answers `X-Cache: HIT` with
//! its `Age`. Otherwise the response is marked `X-Cache: MISS` and, as it leaves the
//! response transforms, kept when [`policy`] allows, while it streams to the client.
//!
//! Entries live in an in-process tier bounded by `response_cache_max_bytes` (least
//! recently used first out) and, on a Redis store, in a shared tier every node reads, each
//! with its own expiry. A request that carries credentials on a route without an
//! authenticator is not cached: the upstream may answer per credential.

mod entry;
mod key;
mod policy;
mod record;

use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archway_config::ServerConfig;
use archway_runtime::RequestHead;
use archway_store::SharedCache;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use metrics::Gauge;
use moka::Expiry;

use crate::body::{ProxyBody, declared_length, full};
use crate::metrics::CacheLookup;
use crate::route::Route;
use entry::{Content, Entry};
use key::Key;
pub use record::Recorded;

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Cached responses: this node's bounded tier, and the shared one on Redis.
#[derive(Clone)]
pub struct ResponseCache {
    local: moka::sync::Cache<Key, Arc<Entry>>,
    shared: Option<SharedCache>,
    max_entry_bytes: usize,
    gauges: Gauges,
}

/// What this node's tier holds, on the metrics endpoint.
#[derive(Clone)]
struct Gauges {
    entries: Gauge,
    bytes: Gauge,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.local.entry_count())
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

/// Entries leave the in-process tier when they expire.
struct UntilExpiry;

impl Expiry<Key, Arc<Entry>> for UntilExpiry {
    fn expire_after_create(&self, _: &Key, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(entry.time_left())
    }

    fn expire_after_update(
        &self,
        _: &Key,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.time_left())
    }
}

/// A request the cache could not answer, and what is needed to keep its response.
pub(crate) struct Miss {
    cache: ResponseCache,
    primary: Key,
    /// The request's headers as looked up, which pick the variant the response is kept as.
    request_headers: HeaderMap,
    route_ttl: Duration,
}

impl ResponseCache {
    /// A cache sized by `server`, sharing entries through `shared` when there is one.
    pub(crate) fn new(server: &ServerConfig, shared: Option<SharedCache>) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(server.response_cache_max_bytes)
            .weigher(|_, entry: &Arc<Entry>| entry.weight())
            .expire_after(UntilExpiry)
            .build();
        Self {
            local,
            shared,
            max_entry_bytes: usize::try_from(server.response_cache_max_entry_bytes)
                .unwrap_or(usize::MAX),
            gauges: Gauges {
                entries: metrics::gauge!("archway_response_cache_entries"),
                bytes: metrics::gauge!("archway_response_cache_bytes"),
            },
        }
    }

    /// Sets the gauges of this node's tier to what it holds now (for a scrape).
    pub(crate) fn report(&self) {
        self.local.run_pending_tasks();
        self.gauges.entries.set(self.local.entry_count() as f64);
        self.gauges.bytes.set(self.local.weighted_size() as f64);
    }

    /// Whether entries are shared with other nodes through the store.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The cached answer to a request on a caching route (`Break`), or the miss its
    /// response may be kept under; `None` when the request is not cached at all.
    pub(crate) async fn look_up(
        &self,
        route: &Route,
        head: &RequestHead,
    ) -> ControlFlow<Response<ProxyBody>, Option<Miss>> {
        let Some(route_ttl) = route.cache_ttl else {
            return Continue(None);
        };
        if !matches!(head.method, Method::GET | Method::HEAD) {
            return Continue(None);
        }
        let credentials = &route.identity.credentials;
        if route.authenticate.is_empty() && credentials.iter().any(|n| head.headers.contains_key(n))
        {
            return Continue(None);
        }
        let primary = Key::primary(&route.id, head);
        let mut found = self.entry(primary).await;
        let variant = match found.as_ref().map(|entry| &entry.content) {
            Some(Content::Varies(names)) => Some(primary.variant(names, &head.headers)),
            _ => None,
        };
        if let Some(variant) = variant {
            found = self.entry(variant).await;
        }
        if let Some(entry) = found
            && let Content::Response {
                status,
                headers,
                body,
            } = &entry.content
        {
            route.metrics.cache_lookup(CacheLookup::Hit);
            return Break(hit(&entry, *status, headers, body));
        }
        route.metrics.cache_lookup(CacheLookup::Miss);
        Continue(Some(Miss {
            cache: self.clone(),
            primary,
            request_headers: head.headers.clone(),
            route_ttl,
        }))
    }

    /// The entry under `key` in this node's tier, else in the shared one (then kept here
    /// too until it expires).
    async fn entry(&self, key: Key) -> Option<Arc<Entry>> {
        if let Some(entry) = self.local.get(&key) {
            return Some(entry);
        }
        let shared = self.shared.as_ref()?;
        let bytes = match shared.get(&key.hex()).await {
            Ok(found) => found?,
            Err(error) => {
                tracing::debug!(target: "archway.cache", %error, "shared cache lookup failed; treated as a miss");
                return None;
            }
        };
        let entry = Arc::new(Entry::decode(&bytes)?);
        if entry.time_left().is_zero() {
            return None;
        }
        self.local.insert(key, entry.clone());
        Some(entry)
    }

    /// Stores `entry` under `key` here and, in the background, in the shared tier.
    fn put(&self, key: Key, entry: Entry) {
        let entry = Arc::new(entry);
        if let Some(shared) = &self.shared {
            let (shared, bytes, ttl) = (shared.clone(), entry.encode(), entry.time_left());
            tokio::spawn(async move {
                if let Err(error) = shared.put(&key.hex(), &bytes, ttl).await {
                    tracing::debug!(target: "archway.cache", %error, "response not stored in the shared cache");
                }
            });
        }
        self.local.insert(key, entry);
    }
}

impl Miss {
    /// Marks `response` `X-Cache: MISS` and, when the rules allow, keeps it as its body
    /// passes to the client.
    pub(crate) fn keep(self, response: Response<ProxyBody>) -> Response<ProxyBody> {
        let (mut parts, body) = response.into_parts();
        let lifetime = policy::lifetime(parts.status, &parts.headers, self.route_ttl);
        let vary = policy::vary(&parts.headers);
        let fits = declared_length(&parts.headers)
            .is_none_or(|length| length <= self.cache.max_entry_bytes as u64);
        let body = match (lifetime, vary) {
            (Some(lifetime), Some(vary)) if fits => {
                let (status, mut headers) = (parts.status, entry::detached(&parts.headers));
                headers.remove(header::TRANSFER_ENCODING);
                let limit = self.cache.max_entry_bytes;
                let keep = Box::new(move |body: Bytes| {
                    // A HEAD answer keeps the length its GET would have.
                    if !body.is_empty() {
                        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                    }
                    let content = Content::Response {
                        status,
                        headers,
                        body,
                    };
                    self.store(vary, content, lifetime);
                });
                Recorded::wrap(body, limit, keep)
            }
            _ => body,
        };
        parts
            .headers
            .insert(X_CACHE, HeaderValue::from_static("MISS"));
        Response::from_parts(parts, body)
    }

    /// Stores a response that varies by `vary`: directly under the primary key, or as the
    /// request's variant with a record of `vary` under the primary key.
    fn store(self, vary: Vec<HeaderName>, content: Content, lifetime: Duration) {
        let key = if vary.is_empty() {
            self.primary
        } else {
            let variant = self.primary.variant(&vary, &self.request_headers);
            self.cache
                .put(self.primary, Entry::new(Content::Varies(vary), lifetime));
            variant
        };
        self.cache.put(key, Entry::new(content, lifetime));
    }
}

/// A cached response as the client gets it: `X-Cache: HIT`, and its `Age` (the
/// upstream's, plus the time it has been kept).
fn hit(
    entry: &Entry,
    status: StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response<ProxyBody> {
    let mut response = Response::new(full(body.clone()));
    *response.status_mut() = status;
    *response.headers_mut() = headers.clone();
    let upstream_age = headers
        .get(header::AGE)
        .and_then(|age| age.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let kept = entry::now_millis().saturating_sub(entry.stored_at) / 1000;
    let headers = response.headers_mut();
    headers.insert(header::AGE, HeaderValue::from(upstream_age + kept));
    headers.insert(X_CACHE, HeaderValue::from_static("HIT"));
    response
}
