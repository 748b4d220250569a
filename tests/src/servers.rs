//! Upstreams with a purpose, beside the example echo: a set that proves its requests
//! were in flight together, one that is slow, an HTTPS echo signed by the test CA in
//! `tests/tls` (and one that also requires a client certificate), and an OAuth 2.0 token
//! introspection endpoint that counts its calls, one that answers raw bytes, one whose
//! answers the query shapes (headers, body size) for the cache and compression tests,
//! one that numbers its keep-alive connections, one that answers its one request late,
//! and a WebSocket echo.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoClientAuth, WebPkiClientVerifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// How long a rendezvous request waits for the others before answering alone.
const RENDEZVOUS_WAIT: Duration = Duration::from_secs(2);

/// The test CA's certificate, which signs [`tls_upstream`]'s certificate.
pub fn test_ca() -> PathBuf {
    tls_dir().join("ca.pem")
}

/// The test server certificate (`localhost`, `127.0.0.1`) and its key, signed by
/// [`test_ca`].
pub fn test_server_cert() -> (PathBuf, PathBuf) {
    (tls_dir().join("server.pem"), tls_dir().join("server.key"))
}

/// The second test CA, which signs [`second_server_cert`].
pub fn second_ca() -> PathBuf {
    tls_dir().join("second-ca.pem")
}

/// A second server certificate (`api.archway.test`, `localhost`, `127.0.0.1`) and its
/// key, signed by [`second_ca`].
pub fn second_server_cert() -> (PathBuf, PathBuf) {
    (tls_dir().join("second.pem"), tls_dir().join("second.key"))
}

/// The test client certificate and its key, which [`mtls_upstream`] accepts.
pub fn test_client_cert() -> (PathBuf, PathBuf) {
    (tls_dir().join("client.pem"), tls_dir().join("client.key"))
}

fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tls")
}

/// Starts one upstream per delay, sharing one rendezvous: each request waits until one
/// request has reached every upstream (or 2 s pass), then its upstream's delay, then
/// answers `{"path": ..., "together": <all had arrived>}`. Calls made one after another
/// answer `together: false`; calls made at once answer `true`. One round per set.
pub async fn rendezvous(delays: &[Duration]) -> Vec<SocketAddr> {
    let arrived = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Notify::new());
    let expected = delays.len();
    let mut addrs = Vec::new();
    for &delay in delays {
        let (arrived, all_in) = (arrived.clone(), all_in.clone());
        let addr = serve_plain(move |request| {
            let (arrived, all_in) = (arrived.clone(), all_in.clone());
            async move {
                let waiting = all_in.notified();
                if arrived.fetch_add(1, Ordering::SeqCst) + 1 >= expected {
                    all_in.notify_waiters();
                }
                let together = arrived.load(Ordering::SeqCst) >= expected
                    || tokio::time::timeout(RENDEZVOUS_WAIT, waiting).await.is_ok();
                tokio::time::sleep(delay).await;
                json(&serde_json::json!({"path": path_and_query(&request), "together": together}))
            }
        })
        .await;
        addrs.push(addr);
    }
    addrs
}

/// Starts an upstream that answers every request `{"slow": true}` after `delay`.
pub async fn slow_upstream(delay: Duration) -> SocketAddr {
    slow_status_upstream(delay, 200).await
}

/// Starts an upstream that answers every request `status` `{"slow": true}` after `delay`.
pub async fn slow_status_upstream(delay: Duration, status: u16) -> SocketAddr {
    serve_plain(move |_request| async move {
        tokio::time::sleep(delay).await;
        json_status(status, &serde_json::json!({"slow": true}))
    })
    .await
}

/// Starts an HTTPS upstream for `localhost`/`127.0.0.1`, its certificate signed by
/// [`test_ca`]; it answers `{"path": ..., "tls": true}`.
pub async fn tls_upstream() -> SocketAddr {
    serve_tls(Arc::new(NoClientAuth)).await
}

/// Like [`tls_upstream`], but a client must present a certificate that the test client CA
/// signed, as [`test_client_cert`] is; it ends the handshake with any other client.
pub async fn mtls_upstream() -> SocketAddr {
    let ca = CertificateDer::from_pem_file(tls_dir().join("client-ca.pem")).expect("client CA");
    let mut roots = RootCertStore::empty();
    roots.add(ca).expect("a usable CA certificate");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .expect("a client certificate verifier");
    serve_tls(verifier).await
}

/// Serves the HTTPS echo with the test server certificate, checking clients with `clients`.
async fn serve_tls(clients: Arc<dyn ClientCertVerifier>) -> SocketAddr {
    let certs = CertificateDer::pem_file_iter(tls_dir().join("server.pem"))
        .expect("server certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates");
    let key = PrivateKeyDer::from_pem_file(tls_dir().join("server.key")).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(clients)
        .with_single_cert(certs, key)
        .expect("a usable certificate and key");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that does not trust the CA (or, for mutual TLS, is not trusted)
                // ends the handshake; nothing to serve.
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(|request: Request<Incoming>| async move {
                    let reply = serde_json::json!({"path": path_and_query(&request), "tls": true});
                    Ok::<_, std::convert::Infallible>(json(&reply))
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Serves plain HTTP on a free loopback port with `answer`.
async fn serve_plain<F, Fut>(answer: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    spawn_plain(answer).await.0
}

/// Like [`serve_plain`], with the task that owns the listener and every connection:
/// aborting it closes the port and drops the open connections.
async fn spawn_plain<F, Fut>(answer: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        // Dropped with this task, aborting every connection it serves.
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            connections.spawn(async move {
                let service = service_fn(move |request| {
                    let answer = answer.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(request).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

/// An OAuth 2.0 token introspection endpoint (RFC 7662), started by [`introspection`].
pub struct Introspection {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Introspection {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests it has received, well-formed or not.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Stops listening and drops its connections: the port refuses from now on.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Introspection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an introspection endpoint at `POST /introspect` that knows `tokens` (token ->
/// its answer object) and answers `{"active": false}` for any other. A request without
/// `authorization: <authorization>` gets 401 `invalid_client`; one that is not a form
/// post with a `token` field gets 400 `invalid_request`.
pub async fn introspection(
    authorization: &str,
    tokens: &[(&str, serde_json::Value)],
) -> Introspection {
    let calls = Arc::new(AtomicUsize::new(0));
    let expected = Arc::new(authorization.to_owned());
    let tokens: Arc<HashMap<String, serde_json::Value>> = Arc::new(
        tokens
            .iter()
            .map(|(token, answer)| ((*token).to_owned(), answer.clone()))
            .collect(),
    );
    let counter = calls.clone();
    let (addr, task) = spawn_plain(move |request: Request<Incoming>| {
        let (calls, expected, tokens) = (counter.clone(), expected.clone(), tokens.clone());
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let authorized = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .is_some_and(|value| value.as_bytes() == expected.as_bytes());
            if !authorized {
                return json_status(401, &serde_json::json!({"error": "invalid_client"}));
            }
            let is_form = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|value| value == "application/x-www-form-urlencoded");
            let is_post =
                request.method() == http::Method::POST && request.uri().path() == "/introspect";
            let body = request
                .into_body()
                .collect()
                .await
                .expect("whole body")
                .to_bytes();
            let token = form_field(&body, "token");
            match token {
                Some(token) if is_form && is_post => {
                    let answer = tokens
                        .get(&token)
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({"active": false}));
                    json(&answer)
                }
                _ => json_status(400, &serde_json::json!({"error": "invalid_request"})),
            }
        }
    })
    .await;
    Introspection { addr, calls, task }
}

/// A field of an `application/x-www-form-urlencoded` body, `%XX` and `+` decoded.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (field, value) = pair.split_once('=')?;
        (field == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(decoded) => {
                bytes.push(decoded);
                rest = &tail[2..];
            }
            None => {
                bytes.push(if byte == b'+' { b' ' } else { byte });
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn path_and_query(request: &Request<Incoming>) -> String {
    request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned()
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    json_status(200, value)
}

fn json_status(status: u16, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = http::StatusCode::from_u16(status).expect("a valid status");
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// How a [`Scripted`] upstream answers, changed while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// 200 `{"instance": name, "method": ..., "body": ...}`; `/health` answers 200.
    Serve,
    /// Every request, `/health` too, gets this status with the same JSON.
    Status(u16),
}

/// An upstream whose answers a test scripts, which counts the requests it got and can be
/// killed (its port closed and its connections cut), started by [`scripted`].
pub struct Scripted {
    addr: SocketAddr,
    script: Arc<std::sync::Mutex<Script>>,
    requests: Arc<AtomicUsize>,
    whole: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Scripted {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests it received, health checks (`GET /health`) not counted.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Requests it received whose body arrived whole (not cut off), health checks not
    /// counted.
    pub fn whole_requests(&self) -> usize {
        self.whole.load(Ordering::SeqCst)
    }

    /// Answers from now on by `script`.
    pub fn set(&self, script: Script) {
        *self.script.lock().expect("script lock") = script;
    }

    /// Closes its port and cuts its open connections.
    pub fn kill(&self) {
        self.task.abort();
    }
}

/// Starts a [`Scripted`] upstream named `name` that serves.
pub async fn scripted(name: &str) -> Scripted {
    let script = Arc::new(std::sync::Mutex::new(Script::Serve));
    let requests = Arc::new(AtomicUsize::new(0));
    let whole = Arc::new(AtomicUsize::new(0));
    let (name, counted, current) = (name.to_owned(), requests.clone(), script.clone());
    let completed = whole.clone();
    let (addr, task) = spawn_plain(move |request: Request<Incoming>| {
        let (name, counted, current) = (name.clone(), counted.clone(), current.clone());
        let completed = completed.clone();
        async move {
            let counts = request.uri().path() != "/health";
            if counts {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            let method = request.method().to_string();
            let body = request.into_body().collect().await.map(|b| b.to_bytes());
            if counts && body.is_ok() {
                completed.fetch_add(1, Ordering::SeqCst);
            }
            let body = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
            let reply = serde_json::json!({"instance": name, "method": method, "body": body});
            match *current.lock().expect("script lock") {
                Script::Serve => json(&reply),
                Script::Status(status) => json_status(status, &reply),
            }
        }
    })
    .await;
    Scripted {
        addr,
        script,
        requests,
        whole,
        task,
    }
}

/// Starts an upstream that takes one connection, reads its request head, says so on the
/// returned channel, and answers `200` with body `slow` after `delay`.
pub async fn late_upstream(delay: Duration) -> (SocketAddr, tokio::sync::oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (arrived, request_arrived) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut chunk).await.expect("read request");
            assert!(read > 0, "the gateway sent a whole request head");
            head.extend_from_slice(&chunk[..read]);
        }
        let _ = arrived.send(());
        tokio::time::sleep(delay).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow")
            .await;
    });
    (addr, request_arrived)
}

/// Starts an upstream that reads each request head and answers it with `response`, raw
/// bytes however malformed, then closes the connection.
pub async fn raw_upstream(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let response = Arc::new(response);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// A keep-alive HTTP/1.1 upstream that numbers its connections and closes one idle for
/// longer than it allows, started by [`keep_alive_upstream`].
pub struct KeepAlive {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl KeepAlive {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections it accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Starts a [`KeepAlive`] upstream: each request (a head without a body) gets 200
/// `{"connection": <its connection's number, from 1>, "request": <its number on that
/// connection, from 1>}`, and a connection without a request for `idle_close` is closed.
pub async fn keep_alive_upstream(idle_close: Duration) -> KeepAlive {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let connection = counted.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0; 4096];
                for request in 1.. {
                    while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tokio::time::timeout(idle_close, stream.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => pending.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    let end = pending
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .expect("a head")
                        + 4;
                    pending.drain(..end);
                    let body = format!(r#"{{"connection": {connection}, "request": {request}}}"#);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    KeepAlive { addr, connections }
}

/// An upstream whose answers the request's query shapes, which counts the requests it
/// got; started by [`shaped`].
pub struct Shaped {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Shaped {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests it received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Starts an upstream that answers each request with the response headers its query
/// lists (`?h=name:value`, repeatable) and a body: with `size=N`, N bytes of text;
/// otherwise `{"request": <its number, from 1>, "path": ..., "subject": <x-auth-subject>,
/// "lang": <x-lang>}` as JSON.
pub async fn shaped() -> Shaped {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let addr = serve_plain(move |request: Request<Incoming>| {
        let number = counted.fetch_add(1, Ordering::SeqCst) + 1;
        async move { shaped_answer(&request, number) }
    })
    .await;
    Shaped { addr, requests }
}

fn shaped_answer(request: &Request<Incoming>, number: usize) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let mut size = None;
    let mut extra = Vec::new();
    for pair in request.uri().query().unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("size", n)) => size = n.parse::<usize>().ok(),
            Some(("h", header)) => extra.extend(header.split_once(':')),
            _ => {}
        }
    }
    let mut response = match size {
        Some(size) => {
            let text = "the gateway relays this line again and again. ".repeat(size / 40 + 1);
            let mut response = Response::new(Full::new(Bytes::from(text[..size].to_owned())));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain"),
            );
            response
        }
        None => json(&serde_json::json!({
            "request": number,
            "path": request.uri().path(),
            "subject": header("x-auth-subject"),
            "lang": header("x-lang"),
        })),
    };
    for (name, value) in extra {
        let name = http::HeaderName::from_bytes(name.as_bytes()).expect("a header name");
        let value = http::HeaderValue::from_str(value).expect("a header value");
        if name == http::header::CONTENT_TYPE {
            response.headers_mut().insert(name, value);
        } else {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A WebSocket echo upstream, started by [`websocket_upstream`].
pub struct WebSocketUpstream {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl WebSocketUpstream {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket handshakes it accepted.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
}

impl Drop for WebSocketUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a WebSocket upstream that answers each text message `"{subject} said {text}"`
/// (the subject from the gateway's `x-auth-subject` header, `anonymous` without it) and
/// each binary message with the same bytes. A request that is not a WebSocket handshake
/// gets tungstenite's refusal (400), never a switch of protocols.
pub async fn websocket_upstream() -> WebSocketUpstream {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{Request as Handshake, Response};

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let handshakes = Arc::new(AtomicUsize::new(0));
    let counted = handshakes.clone();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let counted = counted.clone();
            connections.spawn(async move {
                let mut subject = String::from("anonymous");
                #[expect(
                    clippy::result_large_err,
                    reason = "tungstenite's handshake callback returns its own error response"
                )]
                let callback = |request: &Handshake, response: Response| {
                    if let Some(value) = request.headers().get("x-auth-subject") {
                        subject = value.to_str().unwrap_or("?").to_owned();
                    }
                    Ok(response)
                };
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                while let Some(Ok(message)) = socket.next().await {
                    let reply = match message {
                        Message::Text(text) => {
                            Message::text(format!("{subject} said {}", text.as_str()))
                        }
                        Message::Binary(bytes) => Message::Binary(bytes),
                        Message::Close(_) => break,
                        _ => continue,
                    };
                    if socket.send(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    WebSocketUpstream {
        addr,
        handshakes,
        task,
    }
}

/// An OpenTelemetry collector's OTLP/HTTP trace receiver: keeps the spans of every JSON
/// export posted to `/v1/traces`, with its `service.name`.
pub struct Collector {
    addr: SocketAddr,
    spans: Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    task: JoinHandle<()>,
}

impl Collector {
    /// Its base URL, for `[tracing] otlp_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, with the service that sent it.
    pub fn spans(&self) -> Vec<(String, serde_json::Value)> {
        self.spans.lock().expect("spans lock").clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a [`Collector`].
pub async fn collector() -> Collector {
    let spans = Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = spans.clone();
    let (addr, task) = spawn_plain(move |request: Request<Incoming>| {
        let kept = kept.clone();
        async move {
            if request.uri().path() != "/v1/traces" {
                return json_status(404, &serde_json::json!({}));
            }
            let body = request.into_body().collect().await.map(|b| b.to_bytes());
            let Ok(export) = serde_json::from_slice::<serde_json::Value>(&body.unwrap_or_default())
            else {
                return json_status(400, &serde_json::json!({}));
            };
            let mut kept = kept.lock().expect("spans lock");
            for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                let service = resource["resource"]["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["key"] == "service.name")
                    .and_then(|a| a["value"]["stringValue"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                    for span in scope["spans"].as_array().into_iter().flatten() {
                        kept.push((service.clone(), span.clone()));
                    }
                }
            }
            json(&serde_json::json!({}))
        }
    })
    .await;
    Collector { addr, spans, task }
}
