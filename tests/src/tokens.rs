//! JSON Web Tokens for the JWT tests: signed with the test-only keys in `tests/keys`,
//! forged in the usual ways, and a JWKS endpoint whose document a test swaps, whose
//! requests it counts, and which it can stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The base64url JOSE header `{"alg":"none","typ":"JWT"}`.
const ALG_NONE_HEADER: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

/// The absolute path of a file in `tests/keys` (configs given as text resolve relative
/// paths against the working directory, so tests name keys absolutely).
pub fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("keys")
        .join(name)
}

/// The signing key in `tests/keys/<name>`: `hmac.secret` as an HMAC secret, `rsa*`,
/// `ec*` and `ed*` as PEM private keys.
pub fn signing_key(name: &str) -> EncodingKey {
    let bytes = std::fs::read(key_file(name)).expect("a test key in tests/keys");
    match name {
        "hmac.secret" => EncodingKey::from_secret(&bytes),
        n if n.starts_with("rsa") => EncodingKey::from_rsa_pem(&bytes),
        n if n.starts_with("ec") => EncodingKey::from_ec_pem(&bytes),
        n if n.starts_with("ed") => EncodingKey::from_ed_pem(&bytes),
        _ => panic!("no test key {name}"),
    }
    .expect("a usable test key")
}

/// Signs `claims` with `key` under `alg`, naming `kid` in the header when given.
pub fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

/// The current Unix time in seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// `token`'s claims under an `alg: none` header, with no signature.
pub fn unsigned(token: &str) -> String {
    format!("{ALG_NONE_HEADER}.{}.", part(token, 1))
}

/// `token`'s header and signature around `other`'s claims: a payload changed after
/// signing.
pub fn with_claims_of(token: &str, other: &str) -> String {
    format!("{}.{}.{}", part(token, 0), part(other, 1), part(token, 2))
}

fn part(token: &str, index: usize) -> &str {
    token.split('.').nth(index).expect("a three-part JWS")
}

/// A JWKS document publishing the public half of each `(key file, kid, algorithm)`.
pub fn jwks(keys: &[(&str, &str, Algorithm)]) -> String {
    let keys = keys
        .iter()
        .map(|&(file, kid, alg)| {
            let mut jwk = Jwk::from_encoding_key(&signing_key(file), alg).expect("a JWK");
            jwk.common.key_id = Some(kid.to_owned());
            jwk
        })
        .collect();
    serde_json::to_string(&JwkSet { keys }).expect("a JWKS serialises")
}

/// An identity provider's JWKS endpoint, started by [`jwks_server`]: it answers every
/// GET with the document it publishes now.
pub struct JwksServer {
    addr: SocketAddr,
    document: Arc<Mutex<String>>,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl JwksServer {
    /// The URL a key set's `jwks_url` names.
    pub fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    /// Serves `document` from now on.
    pub fn publish(&self, document: String) {
        *self.document.lock().expect("document lock") = document;
    }

    /// The requests it has answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops listening and drops its connections: the port refuses from now on.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a JWKS endpoint on a free loopback port, publishing `document`.
pub async fn jwks_server(document: String) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let document = Arc::new(Mutex::new(document));
    let requests = Arc::new(AtomicUsize::new(0));
    let (served, counter) = (document.clone(), requests.clone());
    let task = tokio::spawn(async move {
        // Dropped with this task, so stopping also closes the gateway's pooled connections.
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let (served, counter) = (served.clone(), counter.clone());
            connections.spawn(async move {
                let service = service_fn(move |_request| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().expect("document lock").clone();
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    JwksServer {
        addr,
        document,
        requests,
        task,
    }
}
