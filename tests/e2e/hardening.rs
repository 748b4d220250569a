//! The edge's defences: slow, idle and non-reading clients. Each refused request gets
//! its status, and the upstream behind it never sees it.

use std::net::SocketAddr;
use std::time::Duration;

use archway_tests::artifacts::HELLO_AUTH;
use archway_tests::servers::{Scripted, scripted};
use archway_tests::{raw, upstream};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A gateway with short timeouts and small head limits in front of a protected
/// service (`/admin/*`, hello-auth), an upload service with a 1 KiB body limit, and the
/// example echo (`/public/*`, `/me/*` behind hello-auth, `/big/*`, `/trade/*`).
struct Site {
    gateway: archway::Running,
    admin: Scripted,
}

impl Site {
    async fn start() -> Self {
        let (admin, files, echo) = (
            scripted("admin").await,
            scripted("files").await,
            upstream().await,
        );
        let config = format!(
            r#"
            [log]
            access_log = false

            [server]
            header_read_timeout_seconds = 1
            idle_timeout_seconds = 2
            write_timeout_seconds = 1
            max_headers = 20
            max_header_bytes = 4096
            max_uri_bytes = 1024

            [[plugins]]
            name = "hello-auth"
            path = "{HELLO_AUTH}"
            [plugins.config]
            keys = {{ "k-1" = "alice" }}

            [[plugins]]
            name = "stamp"
            builtin = "header-transform"
            [plugins.config]
            request_headers = {{ "x-from-gateway" = "yes" }}

            [[services]]
            name = "admin"
            url = "http://{admin}"

            [[services]]
            name = "files"
            url = "http://{files}"

            [[services]]
            name = "echo"
            url = "http://{echo}"

            [[routes]]
            id = "admin"
            service_name = "admin"
            path_pattern = "/admin/*"
            authenticate = ["hello-auth"]
            retry_count = 0

            [[routes]]
            id = "upload"
            service_name = "files"
            path_pattern = "/upload/*"
            requires_auth = false
            max_body_bytes = 1024
            retry_count = 0

            [[routes]]
            id = "public"
            service_name = "echo"
            path_pattern = "/public/*"
            requires_auth = false

            [[routes]]
            id = "me"
            service_name = "echo"
            path_pattern = "/me/*"
            authenticate = ["hello-auth"]
            transform = ["stamp"]

            [[routes]]
            id = "big"
            service_name = "echo"
            path_pattern = "/big/*"
            target_url = "/bytes/*"
            requires_auth = false

            [[routes]]
            id = "trade"
            service_name = "echo"
            path_pattern = "/trade/*"
            requires_auth = false
            error_format = "trading"
            "#,
            admin = admin.addr(),
            files = files.addr(),
        );
        let gateway = archway_tests::gateway(&config, echo).await;
        Self { gateway, admin }
    }

    fn addr(&self) -> SocketAddr {
        self.gateway.addr()
    }
}

#[tokio::test]
async fn a_client_that_stalls_mid_head_is_cut_off() {
    let site = Site::start().await;
    let answer = raw(
        site.addr(),
        b"GET /admin/x HTTP/1.1\r\nHost: a\r\nx-api-key: k-1\r\nX-Slow: ",
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "closed, or told 408, at header_read_timeout_seconds: {answer}"
    );
    assert_eq!(site.admin.requests(), 0);
    site.gateway.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let site = Site::start().await;
    // HTTP/1: answered, then the wait for a next head times out and closes it.
    let answer = raw(site.addr(), b"GET /public/x HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // HTTP/2: no stream for idle_timeout_seconds, so GOAWAY and the connection ends.
    let stream = TcpStream::connect(site.addr()).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    let driving = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{}/public/x", site.addr()))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.expect("whole body");
    let ended = tokio::time::timeout(Duration::from_secs(10), driving).await;
    ended
        .expect("the gateway closes the idle HTTP/2 connection")
        .expect("connection task")
        .expect("a clean close");
    site.gateway.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_loses_its_connection() {
    let site = Site::start().await;
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut stream = socket.connect(site.addr()).await.expect("connect");
    let size = 10 * 1024 * 1024;
    let request = format!("GET /big/{size} HTTP/1.1\r\nHost: a\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    // Read nothing for well past write_timeout_seconds.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received));
    let _ = read.await.expect("the gateway closed the connection");
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "the answer had started"
    );
    assert!(
        received.len() < size,
        "the body was cut off, not delivered whole ({} bytes)",
        received.len()
    );
    site.gateway.stop().await;
}
