//! What only the embedded store has: a file that outlives the process.

use std::time::Duration;

use archway_store::{Store, StoreConfig, StoreError};

use crate::fixture::bounded;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_reopening_the_file() {
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig::Embedded {
            path: dir.path().join("data/store.redb"),
        };
        let first_id = {
            let store = Store::open(&config).await.expect("open");
            store.set("route:1", b"/api", None).await.expect("set");
            store
                .set("session", b"s", Some(Duration::from_secs(3600)))
                .await
                .expect("set");
            store
                .set("flash", b"f", Some(Duration::from_millis(50)))
                .await
                .expect("set");
            store.increment("version", 41).await.expect("increment");
            store.append("audit", b"created").await.expect("append")
        };
        tokio::time::sleep(Duration::from_millis(100)).await;

        let store = Store::open(&config).await.expect("reopen");
        assert_eq!(
            store.get("route:1").await.expect("get").as_deref(),
            Some(&b"/api"[..])
        );
        assert!(
            store.get("session").await.expect("get").is_some(),
            "a TTL still running survives"
        );
        assert_eq!(
            store.get("flash").await.expect("get"),
            None,
            "a TTL that ran out while closed holds"
        );
        assert_eq!(store.increment("version", 1).await.expect("increment"), 42);
        let next_id = store.append("audit", b"updated").await.expect("append");
        assert!(next_id > first_id);
        let entries = store.range("audit", 0, u64::MAX, 10).await.expect("range");
        assert_eq!(
            entries
                .iter()
                .map(|e| e.payload.as_slice())
                .collect::<Vec<_>>(),
            [&b"created"[..], b"updated"]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_already_open_is_refused_naming_it() {
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.redb");
        let config = StoreConfig::Embedded { path: path.clone() };
        let _store = Store::open(&config).await.expect("open");
        let error = Store::open(&config)
            .await
            .expect_err("second opener refused");
        assert!(matches!(error, StoreError::OpenEmbedded { .. }), "{error}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    })
    .await;
}
