//! Shared namespaces end to end: three entries of the `shared-data` fixture, two that
//! joined `trading` and one that did not, on a real redis-server that `redis-cli` reaches
//! as any other program would, at the keys the README documents.

use std::net::SocketAddr;

use archway_store::testing::RedisServer;
use archway_tests::artifacts::SHARED_DATA;
use archway_tests::{Reply, get, send, upstream};
use serde_json::{Value, json};

/// The entries `control` and `worker`, which joined `trading`, and `outsider`, which
/// joined only `other`; each on its own route `/<entry>/*`.
fn shared_config(redis: &RedisServer) -> String {
    let mut config = format!(
        "[log]\naccess_log = false\n[store]\nredis_url = \"{}\"\n",
        redis.url()
    );
    for (entry, share) in [
        ("control", "\"trading\""),
        ("worker", "\"risk\", \"trading\""),
        ("outsider", "\"other\""),
    ] {
        config += &format!(
            "[[plugins]]\nname = \"{entry}\"\npath = \"{SHARED_DATA}\"\n\
             capabilities = [\"kv\", \"streams\"]\nread_body = true\nshare = [{share}]\n\
             [[routes]]\nid = \"{entry}\"\npath_pattern = \"/{entry}/*\"\nhandler = \"{entry}\"\n\
             requires_auth = false\nrate_limit_rpm = 0\n"
        );
    }
    config
}

/// What a kv get through `path` answered: the value as text, or null.
async fn value(addr: SocketAddr, path: &str) -> Value {
    let reply = get(addr, path, &[]).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    reply.json()["value"].clone()
}

/// Every entry of a stream through `path`, as `{"id", "fields"}`.
async fn entries(addr: SocketAddr, path: &str) -> Value {
    let reply = get(addr, path, &[]).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    reply.json()["entries"].clone()
}

async fn put(addr: SocketAddr, path: &str, body: &str) -> Reply {
    send(addr, "PUT", path, &[], body).await
}

async fn append(addr: SocketAddr, path: &str, fields: Value) -> String {
    let reply = send(addr, "POST", path, &[], &fields.to_string()).await;
    assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
    reply.json()["id"].as_str().expect("an entry id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_that_joined_a_namespace_share_it_and_another_gets_an_error_value() {
    let redis = RedisServer::running();
    let gateway = archway_tests::gateway(&shared_config(&redis), upstream().await).await;
    let addr = gateway.addr();

    let written = put(addr, "/control/kv/shared/trading/price", "42").await;
    assert_eq!(written.status, 200, "{:?}", written.body);
    assert_eq!(
        value(addr, "/worker/kv/shared/trading/price").await,
        "42",
        "worker reads what control wrote"
    );
    let id = append(
        addr,
        "/worker/streams/shared/trading/orders",
        json!([["symbol", "ETH"], ["side", "sell"]]),
    )
    .await;
    assert_eq!(
        entries(addr, "/control/streams/shared/trading/orders").await,
        json!([{"id": id, "fields": [["symbol", "ETH"], ["side", "sell"]]}]),
        "control reads what worker appended, field for field"
    );

    let not_joined = json!({
        "error": "invalid",
        "message": "plugin outsider has not joined shared namespace \"trading\"",
    });
    for reply in [
        get(addr, "/outsider/kv/shared/trading/price", &[]).await,
        put(addr, "/outsider/kv/shared/trading/price", "0").await,
        get(addr, "/outsider/streams/shared/trading/orders", &[]).await,
    ] {
        assert_eq!((reply.status, reply.json()), (400, not_joined.clone()));
    }
    assert_eq!(
        value(addr, "/worker/kv/shared/trading/price").await,
        "42",
        "the outsider's write did not land"
    );

    assert_eq!(put(addr, "/control/kv/price", "7").await.status, 200);
    assert_eq!(
        value(addr, "/worker/kv/price").await,
        Value::Null,
        "keys outside shared/ stay private to their plugin"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_reads_and_writes_shared_data_at_the_documented_keys() {
    let redis = RedisServer::running();
    let gateway = archway_tests::gateway(&shared_config(&redis), upstream().await).await;
    let addr = gateway.addr();

    let cli_id = redis.cli([
        "XADD",
        "archway:stream:shared/trading/orders",
        "*",
        "symbol",
        "BTC",
        "side",
        "buy",
    ]);
    assert_eq!(
        entries(addr, "/worker/streams/shared/trading/orders").await,
        json!([{"id": cli_id.trim_end(), "fields": [["symbol", "BTC"], ["side", "buy"]]}]),
        "an entry another program added reads field for field"
    );
    let plugin_id = append(
        addr,
        "/control/streams/shared/trading/orders",
        json!([["symbol", "ETH"], ["qty", "3"]]),
    )
    .await;
    assert_eq!(
        redis.cli([
            "XRANGE",
            "archway:stream:shared/trading/orders",
            &plugin_id,
            "+"
        ]),
        format!("{plugin_id}\nsymbol\nETH\nqty\n3\n"),
        "a plugin's entry is one XADD field per field"
    );

    redis.cli(["SET", "archway:kv:shared/trading/halted", "yes"]);
    assert_eq!(value(addr, "/worker/kv/shared/trading/halted").await, "yes");
    assert_eq!(
        put(addr, "/control/kv/shared/trading/price", "42")
            .await
            .status,
        200
    );
    assert_eq!(
        redis.cli(["GET", "archway:kv:shared/trading/price"]),
        "42\n"
    );
    assert_eq!(put(addr, "/control/kv/note", "mine").await.status, 200);
    assert_eq!(
        redis.cli(["GET", "archway:kv:plugins/control/global/note"]),
        "mine\n",
        "a private key outside a tenant's request"
    );
    gateway.stop().await;
}
