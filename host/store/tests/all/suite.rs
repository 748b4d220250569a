//! The store behaviour both backends must share; `main.rs` runs each test on both.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use archway_store::{
    Change, FeedEvent, MAX_KEY_BYTES, MAX_VALUE_BYTES, RateAlgorithm, StoreError, StreamId,
};
use tokio::task::JoinSet;

use crate::fixture::Fixture;

pub async fn reports_backend_and_health(fixture: &Fixture) {
    let store = fixture.open().await;
    let expected = match fixture {
        Fixture::Embedded { .. } => "embedded",
        Fixture::Redis { .. } => "redis",
    };
    assert_eq!(store.backend_name(), expected);
    store.health().await.expect("healthy");
}

pub async fn set_get_and_delete(fixture: &Fixture) {
    let store = fixture.open().await;
    assert_eq!(store.get("user:1").await.expect("get"), None);
    store.set("user:1", b"alice", None).await.expect("set");
    assert_eq!(
        store.get("user:1").await.expect("get").as_deref(),
        Some(&b"alice"[..])
    );
    let binary = [0_u8, 255, 10, 13, 0];
    store.set("user:1", &binary, None).await.expect("overwrite");
    assert_eq!(
        store.get("user:1").await.expect("get").as_deref(),
        Some(&binary[..])
    );
    store.set("empty", b"", None).await.expect("set empty");
    assert_eq!(
        store.get("empty").await.expect("get").as_deref(),
        Some(&b""[..])
    );
    assert!(store.delete("user:1").await.expect("delete"));
    assert!(!store.delete("user:1").await.expect("delete again"));
    assert_eq!(store.get("user:1").await.expect("get"), None);
}

pub async fn ttl_makes_keys_absent_once_passed(fixture: &Fixture) {
    let store = fixture.open().await;
    let ttl = Some(Duration::from_millis(300));
    store.set("session", b"s", ttl).await.expect("set with ttl");
    store
        .set("counter", b"10", ttl)
        .await
        .expect("set counter with ttl");
    store.set("forever", b"f", None).await.expect("set");
    store.set("renewed", b"r", ttl).await.expect("set with ttl");
    store
        .set("renewed", b"r", None)
        .await
        .expect("set without ttl drops the ttl");
    assert_eq!(
        store
            .increment("counter", 1)
            .await
            .expect("increment keeps ttl"),
        11
    );
    assert!(store.get("session").await.expect("get").is_some());

    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.get("session").await.expect("get"), None);
    assert_eq!(store.get("counter").await.expect("get"), None);
    assert!(
        !store
            .delete("session")
            .await
            .expect("an expired key is not deleted")
    );
    assert!(store.get("forever").await.expect("get").is_some());
    assert!(store.get("renewed").await.expect("get").is_some());
    let keys: Vec<_> = store
        .scan_prefix("", 10)
        .await
        .expect("scan")
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(keys, ["forever", "renewed"]);
    assert_eq!(store.increment("counter", 1).await.expect("starts over"), 1);
}

pub async fn increments_from_two_handles_are_atomic(fixture: &Fixture) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    let mut tasks = JoinSet::new();
    for store in [a.clone(), b] {
        for _ in 0..1000 {
            let store = store.clone();
            tasks.spawn(async move { store.increment("hits", 1).await.expect("increment") });
        }
    }
    let seen: BTreeSet<i64> = tasks.join_all().await.into_iter().collect();
    assert_eq!(
        seen,
        (1..=2000).collect(),
        "every increment saw a distinct value"
    );
    assert_eq!(
        a.get("hits").await.expect("get").as_deref(),
        Some(&b"2000"[..])
    );
    assert_eq!(a.increment("hits", -2001).await.expect("decrement"), -1);
}

pub async fn increment_refuses_non_integers(fixture: &Fixture) {
    let store = fixture.open().await;
    store.set("name", b"alice", None).await.expect("set");
    let error = store
        .increment("name", 1)
        .await
        .expect_err("not an integer");
    assert!(
        matches!(error, StoreError::NotAnInteger { ref key } if key == "name"),
        "{error}"
    );
    assert_eq!(error.to_string(), "key name does not hold an integer");
    store
        .set("big", i64::MAX.to_string().as_bytes(), None)
        .await
        .expect("set");
    let error = store.increment("big", 1).await.expect_err("overflow");
    assert!(
        matches!(error, StoreError::Overflow { delta: 1, .. }),
        "{error}"
    );
    assert_eq!(
        store.get("big").await.expect("get"),
        Some(i64::MAX.to_string().into_bytes())
    );
}

pub async fn compare_and_swap_checks_presence_and_value(fixture: &Fixture) {
    let store = fixture.open().await;
    assert!(
        store
            .compare_and_swap("lock", None, Some(b"a"))
            .await
            .expect("create")
    );
    assert!(
        !store
            .compare_and_swap("lock", None, Some(b"b"))
            .await
            .expect("already present")
    );
    assert!(
        !store
            .compare_and_swap("lock", Some(b"x"), Some(b"b"))
            .await
            .expect("wrong value")
    );
    assert_eq!(
        store.get("lock").await.expect("get").as_deref(),
        Some(&b"a"[..])
    );
    assert!(
        store
            .compare_and_swap("lock", Some(b"a"), Some(b"b"))
            .await
            .expect("swap")
    );
    assert_eq!(
        store.get("lock").await.expect("get").as_deref(),
        Some(&b"b"[..])
    );
    assert!(
        !store
            .compare_and_swap("lock", Some(b"a"), None)
            .await
            .expect("stale delete")
    );
    assert!(
        store
            .compare_and_swap("lock", Some(b"b"), None)
            .await
            .expect("delete")
    );
    assert_eq!(store.get("lock").await.expect("get"), None);
    assert!(
        !store
            .compare_and_swap("lock", Some(b""), Some(b"c"))
            .await
            .expect("empty is not absent")
    );
    assert!(
        store
            .compare_and_swap("lock", None, None)
            .await
            .expect("absent stays absent")
    );
    assert_eq!(store.get("lock").await.expect("get"), None);
}

pub async fn scan_returns_prefix_matches_sorted_and_limited(fixture: &Fixture) {
    let store = fixture.open().await;
    for key in [
        "user:3", "user:1", "users", "user:2", "other:1", "a*x", "ab",
    ] {
        store.set(key, key.as_bytes(), None).await.expect("set");
    }
    store
        .set("user:0", b"gone", Some(Duration::from_millis(1)))
        .await
        .expect("set");
    tokio::time::sleep(Duration::from_millis(20)).await;

    let found = store.scan_prefix("user:", 10).await.expect("scan");
    let expected: Vec<(String, Vec<u8>)> = ["user:1", "user:2", "user:3"]
        .iter()
        .map(|key| (key.to_string(), key.as_bytes().to_vec()))
        .collect();
    assert_eq!(found, expected);
    let first_two = store.scan_prefix("user", 2).await.expect("scan");
    assert_eq!(first_two, expected[..2]);
    let literal = store.scan_prefix("a*", 10).await.expect("scan");
    assert_eq!(
        literal,
        [("a*x".to_string(), b"a*x".to_vec())],
        "glob characters match literally"
    );
    assert!(
        store
            .scan_prefix("nothing", 10)
            .await
            .expect("scan")
            .is_empty()
    );
    assert!(store.scan_prefix("user", 0).await.expect("scan").is_empty());
}

pub async fn stream_ids_order_appends_across_handles(fixture: &Fixture) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    let mut ids = Vec::new();
    for n in 0..20 {
        let store = if n % 2 == 0 { &a } else { &b };
        ids.push(
            store
                .append("audit", &[("event".to_owned(), n.to_string())])
                .await
                .expect("append"),
        );
    }
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids increase: {ids:?}"
    );
    let now = unix_ms();
    assert!(
        ids[0].ms <= now && ids[0].ms + 60_000 > now,
        "ids carry the append time"
    );

    let all = b.range("audit", 0, u64::MAX, 100).await.expect("range");
    let read: Vec<_> = all.iter().map(|entry| entry.id).collect();
    assert_eq!(read, ids);
    assert_eq!(all[7].fields, [("event".to_owned(), "7".to_owned())]);
    assert!(
        a.range("other", 0, u64::MAX, 100)
            .await
            .expect("range")
            .is_empty()
    );
}

pub async fn stream_entries_keep_their_fields_in_order(fixture: &Fixture) {
    let store = fixture.open().await;
    let fields = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    };
    let order = fields(&[
        ("symbol", "BTC"),
        ("side", "buy"),
        ("note", ""),
        ("side", "sell"),
        ("émoji", "📈 up"),
    ]);
    let single = fields(&[("symbol", "ETH")]);
    let first = store.append("orders", &order).await.expect("append");
    store.append("orders", &single).await.expect("append");

    let ranged = store.range("orders", 0, u64::MAX, 10).await.expect("range");
    assert_eq!(
        ranged.iter().map(|e| &e.fields).collect::<Vec<_>>(),
        [&order, &single],
        "field for field, repeats and empty values included"
    );
    let after = store
        .read_after("orders", first, 10)
        .await
        .expect("read after");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].fields, single);

    let error = store.append("orders", &[]).await.expect_err("no fields");
    assert!(matches!(error, StoreError::NoFields { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "stream orders: an entry needs at least one field"
    );
}

pub async fn stream_range_and_read_after_select_by_id(fixture: &Fixture) {
    let store = fixture.open().await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let fields = [("n".to_owned(), n.to_string())];
        ids.push(store.append("log", &fields).await.expect("append"));
    }
    let after: Vec<_> = store
        .read_after("log", ids[3], 4)
        .await
        .expect("read after")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(after, ids[4..8]);
    let from_start = store
        .read_after("log", StreamId::MIN, 2)
        .await
        .expect("read after");
    assert_eq!(
        from_start.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids[..2]
    );
    assert!(
        store
            .read_after("log", ids[9], 10)
            .await
            .expect("read after")
            .is_empty()
    );

    let last = ids[9];
    assert_eq!(
        store
            .range("log", 0, u64::MAX, 3)
            .await
            .expect("range")
            .len(),
        3
    );
    let at_last_ms = store
        .range("log", last.ms, last.ms, 100)
        .await
        .expect("range");
    assert_eq!(at_last_ms.last().map(|e| e.id), Some(last));
    assert!(at_last_ms.iter().all(|e| e.id.ms == last.ms));
    assert!(
        store
            .range("log", last.ms + 1, u64::MAX, 100)
            .await
            .expect("range")
            .is_empty()
    );
    assert!(
        store
            .range("log", last.ms, 0, 100)
            .await
            .expect("range")
            .is_empty()
    );
}

pub async fn change_feed_reaches_other_handles(fixture: &Fixture) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    let mut on_b = b.subscribe();
    let mut on_a = a.subscribe();
    let first = a.publish_config_change("routes").await.expect("publish");
    assert_eq!(
        first,
        Change {
            version: 1,
            topic: "routes".into()
        }
    );
    let second = b.publish_config_change("plugins").await.expect("publish");
    assert_eq!(second.version, 2);
    for feed in [&mut on_b, &mut on_a] {
        for expected in [&first, &second] {
            let event = tokio::time::timeout(Duration::from_secs(1), feed.recv())
                .await
                .expect("change delivered within a second");
            assert_eq!(event, Some(FeedEvent::Change(expected.clone())));
        }
    }
}

pub async fn rate_limit_allows_limit_then_denies(fixture: &Fixture) {
    let store = fixture.open().await;
    let period = Duration::from_secs(10);
    for remaining in (0..5).rev() {
        let decision = store
            .rate_limit("client:1", 5, period, RateAlgorithm::Gcra)
            .await
            .expect("rate limit");
        assert!(decision.allowed);
        assert_eq!(decision.remaining, remaining);
        assert_eq!(decision.retry_after, None);
        assert!(decision.reset_after <= period);
    }
    let denied = store
        .rate_limit("client:1", 5, period, RateAlgorithm::Gcra)
        .await
        .expect("rate limit");
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    let retry_after = denied.retry_after.expect("a denial says when to retry");
    assert!(
        retry_after > Duration::from_secs(1) && retry_after <= Duration::from_secs(2),
        "{retry_after:?}"
    );
    assert!(denied.reset_after > Duration::from_secs(9) && denied.reset_after <= period);

    let other = store
        .rate_limit("client:2", 5, period, RateAlgorithm::Gcra)
        .await
        .expect("rate limit");
    assert_eq!(
        (other.allowed, other.remaining),
        (true, 4),
        "keys are independent"
    );

    let fast = store
        .rate_limit("burst", 1, Duration::from_millis(200), RateAlgorithm::Gcra)
        .await
        .expect("rate limit");
    assert!(fast.allowed);
    assert!(
        !store
            .rate_limit("burst", 1, Duration::from_millis(200), RateAlgorithm::Gcra)
            .await
            .expect("rate limit")
            .allowed
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        store
            .rate_limit("burst", 1, Duration::from_millis(200), RateAlgorithm::Gcra)
            .await
            .expect("rate limit")
            .allowed
    );

    let error = store
        .rate_limit("client:3", 0, period, RateAlgorithm::Gcra)
        .await
        .expect_err("zero limit");
    assert!(
        matches!(error, StoreError::InvalidRateLimit { .. }),
        "{error}"
    );
}

pub async fn rate_limit_is_shared_across_handles(fixture: &Fixture) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    let period = Duration::from_secs(60);
    for algorithm in [RateAlgorithm::Gcra, RateAlgorithm::SlidingWindow] {
        let mut allowed = 0;
        for n in 0..10 {
            let store = if n % 2 == 0 { &a } else { &b };
            allowed += usize::from(
                store
                    .rate_limit("tenant", 6, period, algorithm)
                    .await
                    .expect("rate limit")
                    .allowed,
            );
        }
        assert_eq!(
            allowed, 6,
            "{algorithm:?} counts each key once per algorithm"
        );
    }
}

pub async fn sliding_window_allows_limit_then_denies_until_the_oldest_leaves(fixture: &Fixture) {
    let store = fixture.open().await;
    let period = Duration::from_millis(600);
    let count = || store.rate_limit("window", 3, period, RateAlgorithm::SlidingWindow);
    for remaining in [2, 1] {
        let decision = count().await.expect("rate limit");
        assert_eq!((decision.allowed, decision.remaining), (true, remaining));
        assert_eq!(decision.reset_after, period);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last = count().await.expect("rate limit");
    assert_eq!((last.allowed, last.remaining), (true, 0));
    let denied = count().await.expect("rate limit");
    assert!(!denied.allowed);
    let retry_after = denied.retry_after.expect("a denial says when to retry");
    assert!(retry_after <= Duration::from_millis(300), "{retry_after:?}");
    assert!(
        denied.reset_after > Duration::from_millis(300),
        "{:?}",
        denied.reset_after
    );
    tokio::time::sleep(retry_after + Duration::from_millis(30)).await;
    let again = count().await.expect("rate limit");
    assert_eq!(
        (again.allowed, again.remaining),
        (true, 1),
        "the first two left the window; the third is still in it"
    );
}

pub async fn oversized_keys_and_values_are_refused(fixture: &Fixture) {
    let store = fixture.open().await;
    let long_key = "k".repeat(MAX_KEY_BYTES + 1);
    let error = store
        .set(&long_key, b"v", None)
        .await
        .expect_err("key too long");
    assert!(
        matches!(
            error,
            StoreError::TooLarge {
                what: "key",
                size: 513,
                limit: 512
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "key is 513 bytes, over the 512-byte limit"
    );
    assert!(store.get(&long_key).await.is_err());

    let big = vec![7_u8; MAX_VALUE_BYTES + 1];
    let error = store
        .set("big", &big, None)
        .await
        .expect_err("value too large");
    assert_eq!(
        error.to_string(),
        "value is 1048577 bytes, over the 1048576-byte limit"
    );
    let big_entry = [("big".to_owned(), "x".repeat(MAX_VALUE_BYTES))];
    assert!(matches!(
        store.append("s", &big_entry).await,
        Err(StoreError::TooLarge {
            what: "stream entry",
            ..
        })
    ));
    assert!(matches!(
        store.compare_and_swap("big", None, Some(&big)).await,
        Err(StoreError::TooLarge { what: "value", .. })
    ));

    let largest = &big[..MAX_VALUE_BYTES];
    store
        .set("big", largest, None)
        .await
        .expect("a value at the limit is stored");
    assert_eq!(
        store.get("big").await.expect("get").as_deref(),
        Some(largest)
    );
    store
        .set(&long_key[1..], b"v", None)
        .await
        .expect("a key at the limit is stored");
}

fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since.as_millis()).expect("fits")
}

pub async fn a_lease_has_one_holder_until_it_lapses(fixture: &Fixture) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    let ttl = Duration::from_millis(300);
    let lease = async |store: &archway_store::Store, holder: &str| {
        store.lease("ticks/job", holder, ttl).await.expect("lease")
    };
    assert!(lease(&a, "node-a").await, "a free lease is taken");
    assert!(!lease(&b, "node-b").await, "a held lease is refused");
    assert!(lease(&a, "node-a").await, "the holder renews");
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert!(lease(&b, "node-b").await, "a lapsed lease is taken over");
    assert!(!lease(&a, "node-a").await, "the old holder is refused");
}

pub async fn a_burst_of_changes_can_be_skipped_at_once(fixture: &Fixture) {
    let (a, b) = (fixture.open().await, fixture.open().await);
    let mut feed = b.subscribe();
    for topic in ["routes", "services", "routes"] {
        a.publish_config_change(topic).await.expect("publish");
    }
    let mut skipped = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while skipped < 3 && tokio::time::Instant::now() < deadline {
        skipped += feed.take_pending().len();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(skipped, 3, "the three waiting events were dropped");
    assert!(feed.take_pending().is_empty());
    let next = a.publish_config_change("plugins").await.expect("publish");
    let event = tokio::time::timeout(Duration::from_secs(1), feed.recv())
        .await
        .expect("a later change is still delivered");
    assert_eq!(event, Some(FeedEvent::Change(next)));
}
