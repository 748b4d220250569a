//! WebSocket tunnels: a real WebSocket client talks to a real WebSocket upstream through
//! the gateway on routes with `websocket = true`, after the handshake passed the route's
//! authentication; idle tunnels close, reloads keep them open unless their route goes,
//! `max_tunnels` caps them, and routes without `websocket` never upgrade.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use archway_tests::artifacts::HELLO_AUTH;
use archway_tests::scratch_dir;
use archway_tests::servers::{WebSocketUpstream, websocket_upstream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error, Message};

/// The longest anything here may take to show, even on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(20);

type Socket = WebSocketStream<TcpStream>;

/// Routes to `upstream`: `/ws/*` allows tunnels after hello-auth (`k-1` is alice),
/// `/plain/*` does not; `server` goes in `[server]`.
fn config(upstream: &WebSocketUpstream, server: &str) -> String {
    let addr = upstream.addr();
    format!(
        "[log]\naccess_log = false\n[server]\n{server}\n\
         [[plugins]]\nname = \"hello-auth\"\npath = \"{HELLO_AUTH}\"\ncapabilities = [\"log\"]\n\
         [plugins.config]\nkeys = {{ \"k-1\" = \"alice\" }}\n\
         [[services]]\nname = \"chat\"\nurl = \"http://{addr}\"\n\
         [[routes]]\nid = \"ws\"\nservice_name = \"chat\"\npath_pattern = \"/ws/*\"\n\
         authenticate = [\"hello-auth\"]\nwebsocket = true\n\
         [[routes]]\nid = \"plain\"\nservice_name = \"chat\"\npath_pattern = \"/plain/*\"\n\
         requires_auth = false\n"
    )
}

/// Opens a WebSocket to `path` on the gateway with `headers`; the refusal when the
/// handshake does not switch protocols.
async fn open(
    gateway: &archway::Running,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> Result<Socket, Error> {
    let mut request = format!("ws://{}{path}", gateway.addr())
        .into_client_request()
        .expect("a WebSocket request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, http::HeaderValue::from_static(value));
    }
    let tcp = TcpStream::connect(gateway.addr()).await.expect("connect");
    let (socket, response) = tokio_tungstenite::client_async(request, tcp).await?;
    assert_eq!(response.status(), 101);
    Ok(socket)
}

const ALICE: &[(&str, &str)] = &[("x-api-key", "k-1")];

/// Checks the error envelope's code of a refused handshake. The client keeps only the
/// body bytes that arrived with the head, so a body cut short is not checked.
fn assert_code(response: &http::Response<Option<Vec<u8>>>, code: &str) {
    let body = response.body().as_deref().unwrap_or_default();
    if let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(body) {
        assert_eq!(envelope["code"], code, "{envelope}");
    }
}

/// Sends `text` and returns the upstream's answer.
async fn say(socket: &mut Socket, text: &str) -> String {
    socket.send(Message::text(text)).await.expect("send");
    let answer = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .expect("an answer in time")
        .expect("the tunnel is open")
        .expect("a message");
    answer.into_text().expect("a text answer").to_string()
}

/// Waits until the gateway ends the tunnel: the stream ends or breaks off.
async fn closed_by_the_gateway(socket: &mut Socket) {
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the tunnel stayed open");
}

#[tokio::test]
async fn messages_flow_both_ways_through_an_authenticated_tunnel() {
    let upstream = websocket_upstream().await;
    let gateway = archway_tests::try_gateway(&config(&upstream, ""), upstream.addr())
        .await
        .expect("gateway starts");
    let mut socket = open(&gateway, "/ws/room", ALICE).await.expect("upgraded");
    assert_eq!(say(&mut socket, "hello").await, "alice said hello");
    assert_eq!(say(&mut socket, "again").await, "alice said again");
    socket
        .send(Message::binary(vec![0, 1, 2, 255]))
        .await
        .expect("send");
    let echoed = socket.next().await.expect("open").expect("a message");
    assert_eq!(echoed.into_data().as_ref(), [0, 1, 2, 255]);
    let mut second = open(&gateway, "/ws/other", ALICE).await.expect("upgraded");
    assert_eq!(say(&mut second, "too").await, "alice said too");
    assert_eq!(upstream.handshakes(), 2);
    socket.close(None).await.expect("close");
    gateway.stop().await;
}

#[tokio::test]
async fn a_handshake_without_credentials_is_refused_before_the_upstream() {
    let upstream = websocket_upstream().await;
    let gateway = archway_tests::try_gateway(&config(&upstream, ""), upstream.addr())
        .await
        .expect("gateway starts");
    let refused = open(&gateway, "/ws/room", &[]).await.expect_err("no key");
    let Error::Http(response) = refused else {
        panic!("not an HTTP refusal: {refused}");
    };
    assert_eq!(response.status(), 401);
    assert_code(&response, "F40001");
    assert_eq!(upstream.handshakes(), 0, "the upstream never saw it");
    gateway.stop().await;
}

#[tokio::test]
async fn a_route_without_websocket_does_not_upgrade() {
    let upstream = websocket_upstream().await;
    let gateway = archway_tests::try_gateway(&config(&upstream, ""), upstream.addr())
        .await
        .expect("gateway starts");
    let refused = open(&gateway, "/plain/room", &[])
        .await
        .expect_err("no upgrade");
    let Error::Http(response) = refused else {
        panic!("not an HTTP answer: {refused}");
    };
    assert_ne!(response.status(), 101);
    assert_eq!(
        upstream.handshakes(),
        0,
        "the upgrade never reached the upstream"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_idle_tunnel_is_closed_while_a_busy_one_stays() {
    let upstream = websocket_upstream().await;
    let server = "tunnel_idle_timeout_seconds = 1";
    let gateway = archway_tests::try_gateway(&config(&upstream, server), upstream.addr())
        .await
        .expect("gateway starts");
    let mut socket = open(&gateway, "/ws/room", ALICE).await.expect("upgraded");
    // Traffic more often than the timeout keeps it open past it.
    let busy_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < busy_until {
        assert_eq!(say(&mut socket, "ping").await, "alice said ping");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    closed_by_the_gateway(&mut socket).await;
    gateway.stop().await;
}

#[tokio::test]
async fn tunnels_beyond_max_tunnels_are_refused_with_503() {
    let upstream = websocket_upstream().await;
    let gateway =
        archway_tests::try_gateway(&config(&upstream, "max_tunnels = 1"), upstream.addr())
            .await
            .expect("gateway starts");
    let mut first = open(&gateway, "/ws/one", ALICE).await.expect("upgraded");
    let refused = open(&gateway, "/ws/two", ALICE)
        .await
        .expect_err("over the cap");
    let Error::Http(response) = refused else {
        panic!("not an HTTP refusal: {refused}");
    };
    assert_eq!(response.status(), 503);
    assert_code(&response, "F50300");
    assert_eq!(say(&mut first, "still").await, "alice said still");
    first.close(None).await.expect("close");
    drop(first);
    let started = Instant::now();
    let mut again = loop {
        match open(&gateway, "/ws/three", ALICE).await {
            Ok(socket) => break socket,
            Err(_) if started.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the closed tunnel's slot never came back: {error}"),
        }
    };
    assert_eq!(say(&mut again, "in").await, "alice said in");
    gateway.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_tunnels() {
    let upstream = websocket_upstream().await;
    let gateway = archway_tests::try_gateway(&config(&upstream, ""), upstream.addr())
        .await
        .expect("gateway starts");
    let mut socket = open(&gateway, "/ws/room", ALICE).await.expect("upgraded");
    assert_eq!(say(&mut socket, "bye").await, "alice said bye");
    let stopped = tokio::time::timeout(PATIENCE, gateway.stop()).await;
    assert!(stopped.is_ok(), "shutdown waited on the tunnel");
    closed_by_the_gateway(&mut socket).await;
}

/// A gateway serving `config` from a file, reloading it when it changes.
struct Site {
    file: PathBuf,
    gateway: archway::Running,
}

impl Site {
    async fn start(text: &str) -> Self {
        let file = scratch_dir().join("archway.toml");
        let gateway = archway_tests::watching(&file, text).await;
        Self { file, gateway }
    }

    /// Writes `text` over the config and waits until it serves.
    async fn reload(&self, text: &str) {
        let before = self.gateway.config_status().reloads;
        let temp = self.file.with_extension("tmp");
        std::fs::write(&temp, text).expect("write config");
        std::fs::rename(&temp, &self.file).expect("rename over");
        let started = Instant::now();
        while self.gateway.config_status().reloads == before {
            assert!(started.elapsed() < PATIENCE, "the config was not reloaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_tunnel_outlives_reloads_until_its_route_is_removed() {
    let upstream = websocket_upstream().await;
    let text = config(&upstream, "");
    let site = Site::start(&text).await;
    let mut socket = open(&site.gateway, "/ws/room", ALICE)
        .await
        .expect("upgraded");
    assert_eq!(say(&mut socket, "before").await, "alice said before");
    site.reload(&format!("{text}\n[metrics]\npath = \"/stats\"\n"))
        .await;
    assert_eq!(say(&mut socket, "after").await, "alice said after");
    let without_ws = text.replace("websocket = true", "is_active = false");
    site.reload(&without_ws).await;
    closed_by_the_gateway(&mut socket).await;
    site.gateway.stop().await;
}
