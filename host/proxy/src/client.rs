//! The pooled HTTP clients that reach upstream services, in plain HTTP or over TLS
//! (rustls): one connection pool ([`crate::pool`]) per distinct set of TLS files'
//! contents (see [`crate::tls`]), all resolving host names through one DNS cache
//! ([`crate::resolve`]). Pools outlive snapshots, so a reload keeps warm connections.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;

use crate::body::UpstreamBody;
use crate::pool::{Limits, Pool, PooledBody, SendError};
use crate::resolve::Resolver;
use crate::tls::{TlsKey, TlsSettings};
// What `for_service` fails with, importable beside it.
pub(crate) use crate::pem::TlsError;
use archway_runtime::strip_hop_by_hop;

use crate::upstream::UpstreamError;

/// How long a pooled connection may sit idle: connections to addresses a host name no
/// longer resolves to age out within this (plus one DNS refresh).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// hyper's read buffer for an upstream connection, which bounds a response head (Envoy's
/// 60 KiB header limit, plus the status line): a head still incomplete when the buffer
/// holds this much fails the request (502); one read may take it up to twice this.
const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

/// How a client's pool keeps connections.
const POOL_LIMITS: Limits = Limits {
    idle_timeout: POOL_IDLE_TIMEOUT,
    max_idle: 256,
    max_buf_size: MAX_RESPONSE_HEAD_BYTES,
};

/// A pooled keep-alive client for `http://` and `https://` upstreams.
#[derive(Clone, Debug)]
pub struct HttpClient {
    connector: HttpsConnector<HttpConnector<Resolver>>,
    pool: Arc<Pool>,
}

impl HttpClient {
    /// A client that speaks TLS by `tls` and finds hosts through `resolver`.
    fn new(tls: rustls::ClientConfig, resolver: Resolver) -> Self {
        let mut tcp = HttpConnector::new_with_resolver(resolver);
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Self {
            connector,
            pool: Pool::new(POOL_LIMITS),
        }
    }

    /// Sends the request (with an absolute URI) and waits for the response head.
    pub async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let authority = request
            .uri()
            .authority()
            .cloned()
            .expect("upstream requests are built with an authority");
        match self.pool.send(&self.connector, request).await {
            Err(SendError::Connect(source)) => Err(UpstreamError::Connect { authority, source }),
            Err(SendError::Sending(source)) => Err(UpstreamError::sending(authority, source)),
            Ok(response) if conflicting_lengths(response.headers()) => {
                Err(UpstreamError::InvalidResponse {
                    authority,
                    reason: "both Content-Length and Transfer-Encoding",
                })
            }
            Ok(mut response) => {
                // The client's connection has its own protocol version; the upstream's is not its business.
                *response.version_mut() = http::Version::default();
                strip_hop_by_hop(response.headers_mut());
                Ok(response)
            }
        }
    }
}

/// Whether a message declares its length twice (RFC 9112 6.3: a sign of smuggling).
fn conflicting_lengths(headers: &http::HeaderMap) -> bool {
    headers.contains_key(http::header::TRANSFER_ENCODING)
        && headers.contains_key(http::header::CONTENT_LENGTH)
}

/// The clients of one gateway process, by what their TLS files hold.
#[derive(Debug)]
pub struct Clients {
    /// The system's root certificates, for services that name no CA file.
    system_roots: Arc<RootCertStore>,
    /// The one DNS cache every pool resolves through.
    resolver: Resolver,
    pools: Mutex<HashMap<TlsKey, HttpClient>>,
}

impl Default for Clients {
    /// Loads the system's root certificates once; a machine without any still reaches
    /// `http://` services and `https://` ones that name a CA file.
    fn default() -> Self {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(target: "archway.upstream", %error, "cannot read a system root certificate");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 || added == 0 {
            tracing::warn!(
                target: "archway.upstream",
                added, ignored, "system root certificates loaded with problems"
            );
        }
        Self {
            system_roots: Arc::new(roots),
            resolver: Resolver::default(),
            pools: Mutex::default(),
        }
    }
}

impl Clients {
    /// The client for a service's TLS settings. The files are read now, so a changed file
    /// takes effect on the next snapshot; settings whose files hold the same share a pool.
    pub(crate) fn for_service(&self, tls: TlsSettings<'_>) -> Result<HttpClient, TlsError> {
        let files = tls.read()?;
        let mut pools = self.pools.lock().expect("client cache lock");
        Ok(match pools.entry(files.key()) {
            Entry::Occupied(pool) => pool.get().clone(),
            Entry::Vacant(slot) => {
                let tls = files.client_config(&self.system_roots)?;
                slot.insert(HttpClient::new(tls, self.resolver.clone()))
                    .clone()
            }
        })
    }
}
