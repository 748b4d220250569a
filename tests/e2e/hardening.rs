//! The edge's defences: slow, idle and non-reading clients, oversized heads, targets and
//! bodies, bad `Host` headers, `Connection` tricks, conflicting lengths both ways,
//! encoded path traversal to a protected route, and world-writable plugin files. Each
//! refused request gets its status, and the upstream behind it never sees it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use archway_tests::artifacts::{HELLO_AUTH, STAMP_A, STAMP_B};
use archway_tests::servers::{Scripted, late_upstream, raw_upstream, scripted};
use archway_tests::{get, raw, scratch_dir, send, try_gateway, upstream};
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
    files: Scripted,
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
        Self {
            gateway,
            admin,
            files,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.gateway.addr()
    }
}

/// The JSON body of a raw HTTP/1.1 answer.
fn raw_json(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
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
async fn a_client_that_sends_nothing_is_cut_off() {
    let site = Site::start().await;
    let answer = raw(site.addr(), b"").await;
    assert!(
        answer.is_empty(),
        "closed without an answer at header_read_timeout_seconds: {answer}"
    );
    site.gateway.stop().await;
}

/// A gateway with `server` settings and one route `/r/*` to `upstream`, for the
/// shutdown tests.
async fn stoppable_gateway(server: &str, upstream: SocketAddr) -> archway::Running {
    let config = format!(
        "[server]\n{server}\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{{upstream}}\"\n\
         [[routes]]\nid = \"r\"\nservice_name = \"echo\"\npath_pattern = \"/r/*\"\n\
         requires_auth = false\n"
    );
    archway_tests::gateway(&config, upstream).await
}

/// Stops `gateway`, which must take at most 5 s, then checks that `client`'s connection
/// is closed within `closed_within`, with nothing sent on it.
async fn stop_and_expect_closed(
    gateway: archway::Running,
    client: &mut TcpStream,
    closed_within: Duration,
) {
    tokio::time::timeout(Duration::from_secs(5), gateway.stop())
        .await
        .expect("stop ends within 5 s");
    let mut byte = [0; 1];
    let read = tokio::time::timeout(closed_within, client.read(&mut byte))
        .await
        .expect("the connection is closed");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed, nothing sent: {read:?}"
    );
}

#[tokio::test]
async fn shutdown_closes_a_connection_that_has_sent_nothing_yet() {
    // Its first bytes could take header_read_timeout_seconds (30); stopping waits for
    // connections up to shutdown_grace_seconds (10), so a close well within that is
    // the shutdown's.
    let gateway = stoppable_gateway("header_read_timeout_seconds = 30", upstream().await).await;
    let mut silent = TcpStream::connect(gateway.addr()).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_and_expect_closed(gateway, &mut silent, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_request_still_in_flight_when_the_grace_period_ends_is_cut_off() {
    // An upstream that takes the request and answers after the route's timeout (30 s).
    let (upstream, request_arrived) = late_upstream(Duration::from_secs(60)).await;
    let gateway = stoppable_gateway("shutdown_grace_seconds = 1", upstream).await;
    let mut client = TcpStream::connect(gateway.addr()).await.expect("connect");
    client
        .write_all(b"GET /r/x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("send");
    request_arrived.await.expect("the upstream got the request");
    // The gateway's side of the connection goes with its task once the grace period is
    // over, not left waiting on the upstream.
    stop_and_expect_closed(gateway, &mut client, Duration::from_secs(2)).await;
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
    // The close is a GOAWAY; a reset may follow it if the client's acknowledgement of the
    // server's closing PING crosses the close, so only the close itself is checked.
    let ended = tokio::time::timeout(Duration::from_secs(10), driving).await;
    let closed = ended
        .expect("the gateway closes the idle HTTP/2 connection")
        .expect("connection task");
    if let Err(error) = closed {
        eprintln!("the idle connection closed with: {error}");
    }
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

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let counted = scripted("counted").await;
    let config = "[log]\naccess_log = false\n[server]\nmax_connections = 1\n\
                  [[services]]\nname = \"counted\"\nurl = \"http://{upstream}\"\n\
                  [[routes]]\nid = \"counted\"\nservice_name = \"counted\"\n\
                  path_pattern = \"/counted/*\"\nrequires_auth = false\n";
    let gateway = archway_tests::gateway(config, counted.addr()).await;
    let mut first = TcpStream::connect(gateway.addr()).await.expect("connect");
    first
        .write_all(b"GET /counted/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("send");
    let mut answer = [0; 12];
    first.read_exact(&mut answer).await.expect("an answer");
    assert_eq!(&answer, b"HTTP/1.1 200", "the first connection is served");

    let over = raw(
        gateway.addr(),
        b"GET /counted/2 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await;
    assert_eq!(
        over, "",
        "a second connection while one is open is closed unanswered"
    );
    assert_eq!(counted.requests(), 1);

    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = raw(
            gateway.addr(),
            b"GET /counted/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        if again.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the freed place is never taken"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway.stop().await;
}

#[tokio::test]
async fn oversized_heads_and_targets_answer_431_and_414_in_the_route_format() {
    let site = Site::start().await;
    let key = ("x-api-key", "k-1");
    let names: Vec<String> = (0..25).map(|index| format!("x-extra-{index}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "1")).collect();
    many.push(key);
    let reply = get(site.addr(), "/admin/x", &many).await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            431,
            serde_json::json!({"code": "F43100", "msg": "the request has too many headers", "content": {}})
        )
    );

    let large = "v".repeat(5000);
    let reply = get(site.addr(), "/admin/x", &[key, ("x-large", &large)]).await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (431, "F43100".into())
    );

    let long = format!("/admin/{}", "a".repeat(2000));
    let reply = get(site.addr(), &long, &[key]).await;
    assert_eq!(
        (reply.status, reply.json()),
        (
            414,
            serde_json::json!({"code": "F41400", "msg": "the request target is too long", "content": {}})
        )
    );

    let reply = get(site.addr(), "/trade/x", &[("x-large", &large)]).await;
    assert_eq!(reply.status, 431);
    assert_eq!(
        reply.json()["code"],
        "HEADERS_TOO_LARGE",
        "the trading route's format"
    );

    assert_eq!(site.admin.requests(), 0);
    let fine = get(site.addr(), "/admin/x", &[key]).await;
    assert_eq!(fine.status, 200, "within the limits it passes");
    site.gateway.stop().await;
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_answers_413_and_never_arrives_whole() {
    let site = Site::start().await;
    let chunk = format!("400\r\n{}\r\n", "a".repeat(1024));
    let request = format!(
        "POST /upload/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(4)
    );
    let answer = raw(site.addr(), request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        raw_json(&answer),
        serde_json::json!({"code": "F41300", "msg": "request body is over the route's limit", "content": {}})
    );
    assert_eq!(
        site.files.whole_requests(),
        0,
        "the upstream request was cut off"
    );

    let small = "POST /upload/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let answer = raw(site.addr(), small.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(site.files.whole_requests(), 1);
    site.gateway.stop().await;
}

#[tokio::test]
async fn a_missing_repeated_or_malformed_host_answers_400() {
    let site = Site::start().await;
    for (request, why) in [
        (
            "GET /admin/x HTTP/1.1\r\nx-api-key: k-1\r\nConnection: close\r\n\r\n",
            "the request has no Host header",
        ),
        (
            "GET /admin/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nx-api-key: k-1\r\nConnection: close\r\n\r\n",
            "the request has more than one Host header",
        ),
        (
            "GET /admin/x HTTP/1.1\r\nHost: user@a\r\nx-api-key: k-1\r\nConnection: close\r\n\r\n",
            "the request's Host header is malformed",
        ),
    ] {
        let answer = raw(site.addr(), request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert_eq!(
            raw_json(&answer),
            serde_json::json!({"code": "F40000", "msg": why, "content": {}})
        );
    }
    assert_eq!(site.admin.requests(), 0);
    let http10 = raw(
        site.addr(),
        b"GET /admin/x HTTP/1.0\r\nx-api-key: k-1\r\n\r\n",
    )
    .await;
    assert!(
        http10.starts_with("HTTP/1.0 200"),
        "HTTP/1.0 may leave Host out: {http10}"
    );
    assert_eq!(site.admin.requests(), 1);
    site.gateway.stop().await;
}

#[tokio::test]
async fn connection_tokens_cannot_strip_headers_the_gateway_sets() {
    let site = Site::start().await;
    let reply = get(
        site.addr(),
        "/me/x",
        &[
            ("x-api-key", "k-1"),
            (
                "connection",
                "x-auth-subject, x-from-gateway, x-client-only",
            ),
            ("x-client-only", "1"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200);
    let headers = &reply.json()["headers"];
    assert_eq!(headers["x-auth-subject"], "alice", "{headers}");
    assert_eq!(headers["x-from-gateway"], "yes", "{headers}");
    assert!(
        headers.get("x-client-only").is_none(),
        "named by Connection: {headers}"
    );
    assert!(headers.get("connection").is_none(), "{headers}");
    site.gateway.stop().await;
}

#[tokio::test]
async fn conflicting_request_lengths_are_refused() {
    let site = Site::start().await;
    let answer = raw(
        site.addr(),
        b"POST /upload/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(site.files.requests(), 0);

    // Both framings at once: refused in the route's error format, even behind a request
    // with a body on the same connection, and what follows is never read as a request.
    let answer = raw(
        site.addr(),
        b"POST /upload/x HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n\r\n\
          POST /trade/x HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /trade/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n\
          GET /admin/x HTTP/1.1\r\nHost: a\r\nx-api-key: k-1\r\n\r\n",
    )
    .await;
    let answers: Vec<&str> = answer.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(answers.len(), 2, "two answers: {answer}");
    assert!(answers[0].starts_with("200"), "{answer}");
    assert!(answers[1].starts_with("400"), "{answer}");
    let refused = raw_json(&format!("HTTP/1.1 {}", answers[1]));
    assert_eq!(
        refused["code"], "INVALID_PARAMETER",
        "the trading route's format: {refused}"
    );
    assert_eq!(
        refused["message"], "the request has both Transfer-Encoding and Content-Length",
        "{refused}"
    );
    assert_eq!(site.files.requests(), 1, "only the first request");
    assert_eq!(site.admin.requests(), 0, "nothing smuggled through");
    site.gateway.stop().await;
}

#[tokio::test]
async fn malformed_upstream_responses_answer_502() {
    let conflicting = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            .to_vec(),
    )
    .await;
    let mut big_head = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
    big_head.extend(std::iter::repeat_n(b'a', 200 * 1024));
    big_head.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
    let big_head = raw_upstream(big_head).await;
    let lengths = raw_upstream(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok".to_vec(),
    )
    .await;
    let fine = raw_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()).await;
    let route = |id: &str, addr: SocketAddr| {
        format!(
            "[[services]]\nname = \"{id}\"\nurl = \"http://{addr}\"\n\
             [[routes]]\nid = \"{id}\"\nservice_name = \"{id}\"\npath_pattern = \"/{id}/*\"\n\
             requires_auth = false\nretry_count = 0\n"
        )
    };
    let config = format!(
        "[log]\naccess_log = false\n{}{}{}{}",
        route("conflicting", conflicting),
        route("lengths", lengths),
        route("bighead", big_head),
        route("fine", fine)
    );
    let gateway = archway_tests::gateway(&config, fine).await;
    for path in ["/conflicting/x", "/lengths/x", "/bighead/x"] {
        let reply = get(gateway.addr(), path, &[]).await;
        assert_eq!(
            (reply.status, reply.json()),
            (
                502,
                serde_json::json!({"code": "F50200", "msg": "the upstream sent an invalid response", "content": {}})
            ),
            "{path}"
        );
    }
    let reply = get(gateway.addr(), "/fine/x", &[]).await;
    assert_eq!((reply.status, &reply.body[..]), (200, &b"ok"[..]));
    gateway.stop().await;
}

#[tokio::test]
async fn encoded_traversal_never_reaches_the_protected_route() {
    let site = Site::start().await;
    for (path, status) in [
        ("/public/..%2fadmin/x", 400),
        ("/public/%2e%2e/admin/x", 400),
        ("/public/%2E%2E/admin/x", 400),
        ("/public/.%2e/admin/x", 400),
        ("/public/%252e%252e/admin/x", 400),
        ("/public/..%5cadmin/x", 400),
        ("/public/%2fadmin/x", 400),
        ("//admin/x", 400),
        ("/admin;x/y", 400),
        ("/admin/x;jsessionid=1", 400),
        ("/public/..;/admin/x", 400),
        ("/%61dmin/x", 401),
        ("/ADMIN/x", 404),
    ] {
        let reply = get(site.addr(), path, &[]).await;
        assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
    }
    assert_eq!(
        site.admin.requests(),
        0,
        "no attempt reached the protected upstream"
    );

    let reply = get(site.addr(), "/%61dmin/x", &[("x-api-key", "k-1")]).await;
    assert_eq!(
        reply.status, 200,
        "the canonical path routes like the plain one"
    );
    assert_eq!(site.admin.requests(), 1);
    let reply = get(site.addr(), "/public/%7Euser/caf%c3%a9", &[]).await;
    assert_eq!(
        reply.json()["path"],
        "/public/~user/caf%C3%A9",
        "the upstream gets the path the router matched"
    );
    site.gateway.stop().await;
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test]
async fn world_writable_plugin_files_are_refused_at_start_and_on_reload() {
    let dir = scratch_dir();
    let plugin = dir.join("stamp.wasm");
    std::fs::copy(STAMP_A, &plugin).expect("copy stamp-a");
    set_mode(&plugin, 0o666);
    let echo = upstream().await;
    let cache = std::env::temp_dir().join("archway-reload-tests-cache");
    let config = format!(
        "[log]\naccess_log = false\n[server]\ncache_dir = {cache:?}\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{echo}\"\n\
         [[routes]]\nid = \"stamped\"\nservice_name = \"echo\"\npath_pattern = \"/stamped/*\"\n\
         requires_auth = false\ntransform = [\"stamp\"]\n\
         [[plugins]]\nname = \"stamp\"\npath = {plugin:?}\n"
    );
    let refused = try_gateway(&config, echo).await.err().expect("refused");
    assert!(
        format!("{refused:#}").contains("is world-writable"),
        "{refused:#}"
    );

    set_mode(&plugin, 0o644);
    let file = dir.join("archway.toml");
    let gateway = archway_tests::watching(&file, &config).await;
    let stamp = |reply: archway_tests::Reply| reply.header("x-stamp").map(str::to_owned);
    let served = stamp(get(gateway.addr(), "/stamped/x", &[]).await);
    assert_eq!(served.as_deref(), Some("stamp-a"));

    let temp = dir.join("stamp.tmp");
    std::fs::copy(STAMP_B, &temp).expect("copy stamp-b");
    set_mode(&temp, 0o666);
    std::fs::rename(&temp, &plugin).expect("rename over");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let error = loop {
        let status = gateway.plugin_status();
        let stamp_status = status.iter().find(|s| s.name == "stamp").expect("status");
        if let Some(error) = &stamp_status.last_error {
            break error.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reload was not refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("is world-writable"), "{error}");
    let served = stamp(send(gateway.addr(), "GET", "/stamped/x", &[], "").await);
    assert_eq!(
        served.as_deref(),
        Some("stamp-a"),
        "the previous version serves"
    );
    gateway.stop().await;
}
