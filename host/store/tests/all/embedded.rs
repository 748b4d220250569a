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
            store
                .append("audit", &[("event".to_owned(), "created".to_owned())])
                .await
                .expect("append")
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
        let next_id = store
            .append("audit", &[("event".to_owned(), "updated".to_owned())])
            .await
            .expect("append");
        assert!(next_id > first_id);
        let entries = store.range("audit", 0, u64::MAX, 10).await.expect("range");
        assert_eq!(
            entries
                .iter()
                .map(|e| e.fields[0].1.as_str())
                .collect::<Vec<_>>(),
            ["created", "updated"]
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
        assert!(matches!(error, StoreError::EmbeddedInUse { .. }), "{error}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    })
    .await;
}

/// Where `killed_mid_write_keeps_every_acknowledged_write` tells its child to write.
const CRASH_WRITER_PATH: &str = "ARCHWAY_STORE_CRASH_WRITER_PATH";

/// The child of the crash test: writes numbered keys, printing each one the store
/// acknowledged, until it is killed. Run only by that test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started (and killed) by killed_mid_write_keeps_every_acknowledged_write"]
async fn crash_writer_child() {
    use std::io::Write;
    let path = std::env::var(CRASH_WRITER_PATH).expect("started by the crash test");
    let store = Store::open(&StoreConfig::Embedded { path: path.into() })
        .await
        .expect("open");
    let mut stdout = std::io::stdout();
    for i in 0u32.. {
        store
            .set(&format!("key-{i}"), &i.to_be_bytes(), None)
            .await
            .expect("set");
        writeln!(stdout, "acked {i}").expect("stdout");
        stdout.flush().expect("stdout");
    }
}

#[test]
fn killed_mid_write_keeps_every_acknowledged_write() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.redb");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "embedded::crash_writer_child",
            "--nocapture",
        ])
        .env(CRASH_WRITER_PATH, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the writer");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let acked = |line: &str| {
        line.strip_prefix("acked ")
            .and_then(|n| n.parse::<u32>().ok())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = None;
    while last.is_none_or(|n| n < 100) {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer acknowledged too few writes"
        );
        let line = lines
            .next()
            .expect("the writer is running")
            .expect("stdout");
        last = acked(&line).or(last);
    }
    child.kill().expect("SIGKILL the writer mid-write");
    child.wait().expect("reap the writer");
    // Lines already in the pipe were acknowledged before the kill.
    for line in lines.map_while(Result::ok) {
        last = acked(&line).or(last);
    }
    let last = last.expect("acknowledged writes");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = Store::open(&StoreConfig::Embedded { path })
            .await
            .expect("the file opens after a crash");
        for i in 0..=last {
            assert_eq!(
                store.get(&format!("key-{i}")).await.expect("get"),
                Some(i.to_be_bytes().to_vec()),
                "acknowledged write {i} of {last} is lost"
            );
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_store_has_no_shared_cache_tier() {
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig::Embedded {
            path: dir.path().join("store.redb"),
        };
        let store = Store::open(&config).await.expect("open");
        assert!(store.shared_cache().is_none());
    })
    .await;
}
