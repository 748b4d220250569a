//! Upstream connections as an upstream sees them: kept alive and reused request after
//! request, several at once under concurrent load, and a connection the upstream closed
//! while idle passed over without failing a request.

use std::time::Duration;

use archway_tests::servers::keep_alive_upstream;
use archway_tests::{gateway, get};

const CONFIG: &str = "[log]\naccess_log = false\n\
    [[routes]]\nid = \"r\"\nservice_name = \"ka\"\npath_pattern = \"/r/*\"\n\
    target_url = \"/*\"\nrequires_auth = false\nrate_limit_rpm = 0\n\
    [[services]]\nname = \"ka\"\nurl = \"http://{upstream}\"\n";

/// The upstream connection and the request's number on it, from the upstream's answer.
async fn served_on(gateway: std::net::SocketAddr, path: &str) -> (u64, u64) {
    let reply = get(gateway, path, &[]).await;
    assert_eq!(
        reply.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let json = reply.json();
    let number = |field: &str| json[field].as_u64().expect("a number");
    (number("connection"), number("request"))
}

#[tokio::test]
async fn upstream_connections_are_reused_and_one_closed_while_idle_is_passed_over() {
    let upstream = keep_alive_upstream(Duration::from_millis(300)).await;
    let running = gateway(CONFIG, upstream.addr()).await;
    let addr = running.addr();

    for n in 1..=20 {
        assert_eq!(served_on(addr, "/r/one-by-one").await, (1, n));
    }
    assert_eq!(upstream.connections(), 1);

    // Eight at once need more connections; the pool keeps them and a second burst
    // opens none.
    let burst = || futures_util::future::join_all((0..8).map(|_| served_on(addr, "/r/burst")));
    burst().await;
    let after_first = upstream.connections();
    assert!(after_first <= 8, "{after_first} connections for 8 requests");
    burst().await;
    assert_eq!(upstream.connections(), after_first);

    // The upstream closes every connection idle for 300 ms; the next requests go out on
    // a new one, none of them failing.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (connection, request) = served_on(addr, "/r/after-idle").await;
    assert_eq!(
        (connection, request),
        (after_first as u64 + 1, 1),
        "a fresh connection after the idle ones closed"
    );
    for n in 2..=5 {
        assert_eq!(served_on(addr, "/r/after-idle").await, (connection, n));
    }
    assert_eq!(upstream.connections(), after_first + 1);
}
