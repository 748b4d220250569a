//! Canary rollout end to end: a new version of a transform (`stamp-b` beside `stamp-a`)
//! takes its configured share of requests and every request of the tenant listed, is
//! promoted through the admin API, and a version that traps rolls back on its own, on
//! every request after and after a restart.

use std::time::{Duration, Instant};

use archway_tests::artifacts::{STAMP_A, STAMP_B};
use archway_tests::{Reply, get, scratch_dir, send, try_gateway, upstream};
use serde_json::Value;

use crate::admin::{call, config, keys};

/// The admin config with plugin `stamp` (stamp-a, uploads taken) on `/s/*`, its canary
/// stamp-b as `canary` says, and `extra` plugin config.
fn stamped(store: &str, canary: &str, extra: &str) -> String {
    format!(
        r#"{}
        [tenancy]
        header = "x-tenant-id"
        [[services]]
        name = "echo"
        url = "http://{{upstream}}"
        [[plugins]]
        name = "stamp"
        path = "{STAMP_A}"
        uploads = true
        [plugins.config]
        {extra}
        [plugins.canary]
        path = "{STAMP_B}"
        {canary}
        [[routes]]
        id = "stamped"
        service_name = "echo"
        path_pattern = "/s/*"
        requires_auth = false
        rate_limit_rpm = 0
        transform = ["stamp"]
        "#,
        config(store)
    )
}

/// The plugin's item from the admin API.
async fn stamp_item(gateway: &archway::Running, key: &str) -> Value {
    let reply = call(gateway, "GET", "/admin/plugins/stamp", key, &Value::Null).await;
    assert_eq!(reply.status, 200);
    reply.json()["content"].clone()
}

fn stamp_of(reply: &Reply) -> String {
    reply.header("x-stamp").unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_takes_its_share_and_its_tenants_and_is_promoted_through_the_admin_api() {
    let upstream = upstream().await;
    let text = stamped("", "percent = 30\ntenants = [\"acme\"]", "");
    let gateway = try_gateway(&text, upstream).await.expect("gateway starts");
    let keys = keys(&gateway).await;

    let requests = 1000;
    let mut canary = 0;
    for _ in 0..requests {
        let reply = get(gateway.addr(), "/s/x", &[]).await;
        assert_eq!(reply.status, 200);
        canary += usize::from(stamp_of(&reply) == "stamp-b");
    }
    let share = canary as f64 / requests as f64;
    eprintln!("canary share: {canary} of {requests} requests ({share:.3}) at percent = 30");
    assert!((0.25..=0.35).contains(&share), "{share}");
    for _ in 0..20 {
        let reply = get(gateway.addr(), "/s/x", &[("x-tenant-id", "acme")]).await;
        assert_eq!(stamp_of(&reply), "stamp-b", "acme always runs the canary");
    }

    let item = stamp_item(&gateway, &keys.reader).await;
    let canary_item = &item["canary"];
    assert_eq!(canary_item["state"], "active", "{item}");
    assert_eq!(canary_item["percent"], 30.0);
    assert_eq!(canary_item["tenants"], serde_json::json!(["acme"]));
    assert_eq!(canary_item["failures"], 0);
    // A transform is called twice a request: on the request and on the response.
    assert_eq!(canary_item["calls"], 2 * (canary + 20));

    let path = "/admin/plugins/stamp/canary/promote";
    let refused = call(&gateway, "POST", path, &keys.reader, &Value::Null).await;
    assert_eq!(refused.status, 403);
    let promoted = call(&gateway, "POST", path, &keys.admin, &Value::Null).await;
    assert_eq!(
        promoted.status,
        200,
        "{}",
        String::from_utf8_lossy(&promoted.body)
    );
    let item = &promoted.json()["content"];
    assert_eq!(item["canary"]["state"], "promoted", "{item}");
    assert_eq!(item["canary"]["verdict"]["outcome"], "promoted");
    assert_eq!(
        item["digest"], canary_item["digest"],
        "the canary serves now"
    );
    for _ in 0..50 {
        let reply = get(gateway.addr(), "/s/x", &[]).await;
        assert_eq!(stamp_of(&reply), "stamp-b");
    }
    let again = call(&gateway, "POST", path, &keys.admin, &Value::Null).await;
    assert_eq!(again.status, 409, "no canary is active any more");
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_that_traps_rolls_back_on_its_own_and_stays_rolled_back() {
    let upstream = upstream().await;
    let store = scratch_dir().join("canary.redb");
    let store = format!("[store]\npath = {:?}", store.display().to_string());
    let rules = "percent = 50\nmax_error_rate = 0.2\nmin_calls = 10\nwindow_seconds = 60";
    let text = stamped(&store, rules, "trap_on_response = \"stamp-b\"");
    let gateway = try_gateway(&text, upstream).await.expect("gateway starts");
    let admin_keys = keys(&gateway).await;

    // Until the canary rolls back, about half the requests fail with it; then the stable
    // version serves every request.
    let (mut failed, mut in_a_row) = (0, 0);
    let since = Instant::now();
    while in_a_row < 200 {
        let reply = get(gateway.addr(), "/s/x", &[]).await;
        match reply.status {
            200 => {
                assert_eq!(stamp_of(&reply), "stamp-a");
                in_a_row += 1;
            }
            500 => (failed, in_a_row) = (failed + 1, 0),
            other => panic!("unexpected {other}"),
        }
        assert!(since.elapsed() < Duration::from_secs(10), "no rollback");
    }
    eprintln!("the trapping canary failed {failed} requests before it rolled back");
    assert!(failed > 0, "the canary ran");
    let item = stamp_item(&gateway, &admin_keys.reader).await;
    assert_eq!(item["canary"]["state"], "rolled_back", "{item}");
    let since = Instant::now();
    let verdict = loop {
        let item = stamp_item(&gateway, &admin_keys.reader).await;
        if item["canary"]["verdict"].is_object() {
            break item["canary"]["verdict"].clone();
        }
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "no verdict: {item}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(verdict["outcome"], "rolled_back");
    assert_eq!(verdict["by"], "automatic");
    let reason = verdict["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("{failed} of its 10 calls")),
        "{reason}"
    );
    let path = "/admin/plugins/stamp/canary/rollback";
    let none = call(&gateway, "POST", path, &admin_keys.admin, &Value::Null).await;
    assert_eq!(none.status, 409);
    gateway.stop().await;

    // The verdict is kept: a restart on the same store does not bring the canary back.
    // A stopped gateway has let go of its embedded store, so the restart opens it at once.
    let gateway = try_gateway(&text, upstream)
        .await
        .unwrap_or_else(|error| panic!("the gateway does not restart: {error:#}"));
    for _ in 0..50 {
        let reply = get(gateway.addr(), "/s/x", &[]).await;
        assert_eq!((reply.status, stamp_of(&reply).as_str()), (200, "stamp-a"));
    }
    let reader = keys(&gateway).await.reader;
    let item = stamp_item(&gateway, &reader).await;
    assert_eq!(item["canary"]["state"], "rolled_back", "{item}");
    assert_eq!(item["canary"]["calls"], 0);
    let reply = send(
        gateway.addr(),
        "GET",
        "/s/y",
        &[("x-tenant-id", "acme")],
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    gateway.stop().await;
}
