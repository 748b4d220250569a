//! Fetches the JWKS documents of `jwt` key sets that name a URL, through the same TLS
//! clients as upstream traffic.

use std::path::Path;
use std::sync::Arc;

use archway_jwt::{FetchFuture, FetchJwks};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{Either, Full};

use crate::body::read_whole;
use crate::client::Clients;
use crate::tls::TlsSettings;

/// The largest JWKS document accepted.
const MAX_JWKS_BYTES: u64 = 1 << 20;

/// Fetches JWKS documents with the gateway's clients.
#[derive(Debug)]
pub struct JwksClient {
    clients: Arc<Clients>,
}

impl JwksClient {
    /// A fetcher that shares `clients` (and their connection pools) with the proxy.
    pub fn new(clients: Arc<Clients>) -> Self {
        Self { clients }
    }
}

impl FetchJwks for JwksClient {
    fn fetch(&self, url: &str, ca_file: Option<&Path>) -> FetchFuture {
        let tls = TlsSettings {
            ca_file,
            ..TlsSettings::default()
        };
        let client = self.clients.for_service(tls).map_err(|e| e.to_string());
        let uri = url.parse::<Uri>().map_err(|e| format!("bad JWKS URL: {e}"));
        Box::pin(async move {
            let mut request = Request::new(Either::Right(Full::default()));
            *request.method_mut() = Method::GET;
            *request.uri_mut() = uri?;
            let response = client?.send(request).await.map_err(|e| e.to_string())?;
            if response.status() != StatusCode::OK {
                return Err(format!("the JWKS URL answered {}", response.status()));
            }
            let (parts, body) = response.into_parts();
            read_whole(&parts.headers, body, MAX_JWKS_BYTES)
                .await
                .map_err(|_| "the JWKS document is too large or broke off".to_owned())
        })
    }
}
