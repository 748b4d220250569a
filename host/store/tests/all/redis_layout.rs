//! What other Redis clients see of the store's data: the key layout the README documents
//! (`archway:kv:<key>` strings, `archway:stream:<name>` streams with one field per field),
//! with `redis-cli` as the other client.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use archway_store::testing::RedisServer;
use archway_store::{Store, StoreConfig};

use crate::fixture::bounded;

async fn open(server: &RedisServer) -> Store {
    Store::open(&StoreConfig::redis(server.url()))
        .await
        .expect("open redis store")
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_plain_strings_under_archway_kv() {
    bounded(async {
        let server = RedisServer::running();
        let store = open(&server).await;
        store
            .set("plugins/p/global/greeting", b"hello", None)
            .await
            .expect("set");
        assert_eq!(
            server.cli(["GET", "archway:kv:plugins/p/global/greeting"]),
            "hello\n"
        );

        server.cli(["SET", "archway:kv:limits/max", "7"]);
        assert_eq!(
            store.get("limits/max").await.expect("get").as_deref(),
            Some(&b"7"[..])
        );
        assert_eq!(store.increment("limits/max", 1).await.expect("incr"), 8);
        assert_eq!(server.cli(["GET", "archway:kv:limits/max"]), "8\n");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_redis_streams_with_one_field_per_field() {
    bounded(async {
        let server = RedisServer::running();
        let store = open(&server).await;
        let key = "archway:stream:orders";
        let ours = store
            .append("orders", &owned(&[("symbol", "ETH"), ("side", "sell")]))
            .await
            .expect("append");
        assert_eq!(
            server.cli(["XRANGE", key, "-", "+"]),
            format!("{ours}\nsymbol\nETH\nside\nsell\n")
        );

        server.cli(["XADD", key, "*", "symbol", "BTC", "side", "buy"]);
        server.cli([
            OsStr::new("XADD"),
            OsStr::new(key),
            OsStr::new("*"),
            OsStr::new("raw"),
            OsStr::from_bytes(b"caf\xe9"),
        ]);
        let theirs = store
            .read_after("orders", ours, 10)
            .await
            .expect("read after");
        assert_eq!(
            theirs.iter().map(|e| e.fields.clone()).collect::<Vec<_>>(),
            [
                owned(&[("symbol", "BTC"), ("side", "buy")]),
                owned(&[("raw", "caf\u{FFFD}")]),
            ],
            "field for field; bytes that are not UTF-8 read as replacement characters"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_responses_are_strings_under_archway_cache_with_their_expiry() {
    bounded(async {
        let server = RedisServer::running();
        let store = open(&server).await;
        let cache = store
            .shared_cache()
            .expect("a Redis store shares its cache");
        cache
            .put("abc123", b"entry", std::time::Duration::from_secs(30))
            .await
            .expect("put");
        assert_eq!(server.cli(["GET", "archway:cache:abc123"]), "entry\n");
        let ttl: u64 = server
            .cli(["PTTL", "archway:cache:abc123"])
            .trim()
            .parse()
            .expect("a TTL in milliseconds");
        assert!((29_000..=30_000).contains(&ttl), "{ttl}");
        assert_eq!(
            cache.get("abc123").await.expect("get").as_deref(),
            Some(&b"entry"[..])
        );
        assert_eq!(
            store.get("abc123").await.expect("kv get"),
            None,
            "cache entries are apart from kv data"
        );
        server.cli(["DEL", "archway:cache:abc123"]);
        assert_eq!(cache.get("abc123").await.expect("get"), None);
    })
    .await;
}
