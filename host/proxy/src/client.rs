//! The pooled HTTP client that reaches upstream services, in plain HTTP or over TLS
//! (rustls): one pool trusts the system's root certificates, and each distinct CA file a
//! service names gets a pool of its own. Pools outlive snapshots, so a reload keeps
//! warm connections.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::body::UpstreamBody;
use archway_runtime::strip_hop_by_hop;

use crate::upstream::UpstreamError;

/// Why a service's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("ca_file {path}: {reason}")]
pub struct TlsError {
    /// The CA file.
    path: PathBuf,
    /// What is wrong with it.
    reason: String,
}

/// A pooled keep-alive client for `http://` and `https://` upstreams.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, UpstreamBody>,
}

impl HttpClient {
    /// A client that trusts `roots` for TLS.
    fn new(roots: RootCertStore) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        Self { client }
    }

    /// Sends the request and waits for the response head.
    pub async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let authority = request
            .uri()
            .authority()
            .cloned()
            .expect("upstream requests are built with an authority");
        match self.client.request(request).await {
            Err(source) if source.is_connect() => Err(UpstreamError::Connect { authority, source }),
            Err(source) => Err(UpstreamError::Failed { authority, source }),
            Ok(mut response) => {
                // The client's connection has its own protocol version; the upstream's is not its business.
                *response.version_mut() = http::Version::default();
                strip_hop_by_hop(response.headers_mut());
                Ok(response)
            }
        }
    }
}

/// The clients of one gateway process, by what they trust.
#[derive(Debug)]
pub struct Clients {
    system: HttpClient,
    by_ca: Mutex<HashMap<Vec<u8>, HttpClient>>,
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
            system: HttpClient::new(roots),
            by_ca: Mutex::default(),
        }
    }
}

impl Clients {
    /// The client for a service: the system's roots, or only the CA certificates in
    /// `ca_file` (read now, so a changed file takes effect on the next snapshot).
    pub fn for_service(&self, ca_file: Option<&Path>) -> Result<HttpClient, TlsError> {
        let Some(path) = ca_file else {
            return Ok(self.system.clone());
        };
        let error = |reason: String| TlsError {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
        let mut by_ca = self.by_ca.lock().expect("client cache lock");
        if let Some(client) = by_ca.get(&pem) {
            return Ok(client.clone());
        }
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| error(format!("not a PEM certificate file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| error(format!("not a usable CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err(error("holds no certificate".to_owned()));
        }
        let client = HttpClient::new(roots);
        by_ca.insert(pem, client.clone());
        Ok(client)
    }
}
