//! Harness for the end-to-end suite: components built from source, an upstream that
//! echoes what it received, a gateway started on 127.0.0.1:0, and a small client.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

pub mod servers;
pub mod tokens;

/// Paths of the components built from `examples/plugins` and `tests/fixtures`.
pub mod artifacts {
    include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));
}

/// Writes `text` to the config file `file` and starts a gateway on 127.0.0.1:0 that
/// watches it and the files it names (plugins, certificates), reloading on a change.
pub async fn watching(file: &std::path::Path, text: &str) -> archway::Running {
    std::fs::write(file, text).expect("write config");
    let config = archway::ConfigFile::read(file).expect("config reads");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    archway::start_watching(config, listener)
        .await
        .expect("gateway starts")
}

/// Starts the example upstream on a free loopback port.
pub async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    tokio::spawn(archway_example_upstream::serve(listener));
    addr
}

/// Starts a gateway from config text (`{upstream}` is replaced by the upstream's address).
pub async fn gateway(config: &str, upstream: SocketAddr) -> archway::Running {
    try_gateway(config, upstream).await.expect("gateway starts")
}

/// Like [`gateway`], returning the start error.
pub async fn try_gateway(config: &str, upstream: SocketAddr) -> anyhow::Result<archway::Running> {
    let text = config.replace("{upstream}", &upstream.to_string());
    let mut config = archway_config::Config::from_toml_str(&text, std::path::Path::new("."))?;
    if !text.contains("[store]") {
        // Gateways in one test process must not share the default embedded file.
        config.store.path = scratch_dir().join("store.redb");
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    archway::start(config, listener).await
}

/// A fresh directory that outlives the test (the OS cleans the temp dir).
pub fn scratch_dir() -> std::path::PathBuf {
    tempfile::Builder::new()
        .prefix("archway-test-")
        .tempdir()
        .expect("create a temp dir")
        .keep()
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one HTTP/1.1 request to the gateway.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl AsRef<[u8]>,
) -> Reply {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body.as_ref())))
        .expect("valid request");
    let response = client.request(request).await.expect("gateway answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("whole body").to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// `GET path` with headers.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, "GET", path, headers, "").await
}

/// Writes `request` (raw bytes, however malformed) to the gateway and reads until it
/// closes the connection, at most 10 s; what came back, as text.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the gateway");
    stream.write_all(request).await.expect("send the request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    );
    // A reset after the answer still leaves the answer read.
    let _ = read
        .await
        .expect("the gateway closes the connection within 10 s");
    String::from_utf8_lossy(&answer).into_owned()
}
