//! What only the Redis store has to survive: Redis down at start, killed mid-run, and back
//! again, all without reopening the store.

use std::time::{Duration, Instant};

use archway_store::{FeedEvent, RateAlgorithm, Store, StoreConfig, StoreError};

use crate::fixture::bounded;
use archway_store::testing::RedisServer;

/// How fast an operation must fail while Redis is down (the op timeout is 250 ms).
const FAIL_FAST: Duration = Duration::from_millis(400);
/// How long the store may take to notice Redis is back.
const RECOVERY: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_while_nothing_listens_and_works_once_redis_starts() {
    bounded(async {
        let mut server = RedisServer::stopped();
        let started = Instant::now();
        let store = Store::open(&StoreConfig::redis(server.url()))
            .await
            .expect("opens without redis");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "open took {:?}",
            started.elapsed()
        );
        assert!(store.health().await.is_err());
        assert_fails_fast(&store).await;

        server.start();
        wait_until_usable(&store).await;
        store.set("k", b"v", None).await.expect("set");
        assert_eq!(
            store.get("k").await.expect("get").as_deref(),
            Some(&b"v"[..])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_redis_being_killed_and_restarted() {
    bounded(async {
        let mut server = RedisServer::running();
        let config = StoreConfig::redis(server.url());
        let (store, other_node) = (
            Store::open(&config).await.expect("open"),
            Store::open(&config).await.expect("open"),
        );
        let mut feed = other_node.subscribe();
        store.set("k", b"v", None).await.expect("set");

        server.stop();
        assert_fails_fast(&store).await;
        let started = Instant::now();
        assert!(store.publish_config_change("routes").await.is_err());
        assert!(
            store
                .rate_limit("client", 10, Duration::from_secs(1), RateAlgorithm::Gcra)
                .await
                .is_err()
        );
        assert!(
            started.elapsed() < FAIL_FAST,
            "took {:?}",
            started.elapsed()
        );

        server.start();
        wait_until_usable(&store).await;
        store
            .set("k", b"again", None)
            .await
            .expect("set after restart");
        assert_eq!(
            store.get("k").await.expect("get").as_deref(),
            Some(&b"again"[..])
        );

        let deadline = Instant::now() + RECOVERY;
        let mut missed = false;
        loop {
            assert!(
                Instant::now() < deadline,
                "the change feed did not come back"
            );
            // Changes published before the feed resubscribes are lost; keep publishing.
            let _ = store.publish_config_change("after-restart").await;
            match tokio::time::timeout(Duration::from_millis(200), feed.recv()).await {
                Ok(Some(FeedEvent::Missed)) => missed = true,
                Ok(Some(FeedEvent::Change(change))) if change.topic == "after-restart" => break,
                Ok(event) => panic!("unexpected feed event {event:?}"),
                Err(_) => {}
            }
        }
        assert!(missed, "subscribers are told they may have missed changes");
    })
    .await;
}

async fn assert_fails_fast(store: &Store) {
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.get("k").await.expect_err("redis is down");
        assert!(
            matches!(
                error,
                StoreError::Unavailable { .. } | StoreError::Timeout { .. }
            ),
            "{error}"
        );
        assert!(
            started.elapsed() < FAIL_FAST,
            "failing took {:?}",
            started.elapsed()
        );
    }
}

async fn wait_until_usable(store: &Store) {
    let deadline = Instant::now() + RECOVERY;
    while store.get("probe").await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the store did not recover within {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
