//! Hot reload: plugin and config files replaced under a serving gateway, the way
//! operators do it (write a temp file and rename it over, or overwrite in place).
//! Waits poll the gateway or its status with a generous bound; nothing relies on a sleep.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archway_tests::artifacts::{MISBEHAVE, STAMP_A, STAMP_B, USES_KV};
use archway_tests::servers::late_upstream;
use archway_tests::{get, scratch_dir, upstream};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The longest any change may take to show, even on a loaded 2-core machine (a reload
/// that adds a plugin compiles it; a debug build under full load took over 20 s).
const PATIENCE: Duration = Duration::from_secs(60);

/// A gateway started from a config file in its own directory, serving `/stamped/*`
/// through the transform plugin `stamp`, whose component is `stamp.wasm` beside it.
struct Site {
    config: PathBuf,
    plugin: PathBuf,
    gateway: archway::Running,
}

/// The config text: `plugin_settings` go inside the `stamp` plugin's table, `extra` at
/// the end of the file.
fn site_config(upstream: SocketAddr, plugin_settings: &str, extra: &str) -> String {
    // Compiled components are shared by every test in this run: content-addressed.
    let cache = std::env::temp_dir().join("archway-reload-tests-cache");
    format!(
        "[log]\naccess_log = false\n\
         [server]\ncache_dir = {cache:?}\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{upstream}\"\n\
         [[routes]]\nid = \"stamped\"\nservice_name = \"echo\"\npath_pattern = \"/stamped/*\"\n\
         requires_auth = false\ntransform = [\"stamp\"]\nrate_limit_rpm = 0 # the load test's thousands\n\
         {extra}\n\
         [[plugins]]\nname = \"stamp\"\npath = \"stamp.wasm\"\n{plugin_settings}\n"
    )
}

impl Site {
    /// Starts a gateway serving `STAMP_A` with `plugin_settings`.
    async fn start(plugin_settings: &str) -> Self {
        let dir = scratch_dir();
        let config = dir.join("archway.toml");
        let plugin = dir.join("stamp.wasm");
        std::fs::copy(STAMP_A, &plugin).expect("copy stamp-a");
        let upstream = upstream().await;
        let text = site_config(upstream, plugin_settings, "");
        let gateway = archway_tests::watching(&config, &text).await;
        Self {
            config,
            plugin,
            gateway,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.gateway.addr()
    }

    /// The status of plugin `stamp`.
    fn stamp_status(&self) -> archway::PluginStatus {
        self.gateway
            .plugin_status()
            .into_iter()
            .find(|status| status.name == "stamp")
            .expect("plugin stamp has a status")
    }

    /// Waits until the `stamp` status satisfies `done`.
    async fn stamp_status_until(
        &self,
        what: &str,
        done: impl Fn(&archway::PluginStatus) -> bool,
    ) -> archway::PluginStatus {
        eventually(what, || async {
            let status = self.stamp_status();
            done(&status).then_some(status)
        })
        .await
    }

    /// Waits until `/stamped/*` answers with version `version`.
    async fn serves(&self, version: &str) {
        eventually(&format!("{version} serves"), || async {
            (stamp(self.addr()).await == version).then_some(())
        })
        .await;
    }
}

/// Polls `probe` until it yields a value, at most [`PATIENCE`].
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The version that answered `GET /stamped/x` (which must succeed).
async fn stamp(addr: SocketAddr) -> String {
    let reply = get(addr, "/stamped/x", &[]).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.header("x-stamp").expect("x-stamp header").to_owned()
}

/// Replaces `path` the way deploy tools do: a temp file in the same directory, renamed over.
fn replace_by_rename(path: &Path, bytes: &[u8]) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes).expect("write temp file");
    std::fs::rename(&temp, path).expect("rename over");
}

fn component(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("read a built component")
}

/// Starts on stamp-a, lets `break_it` damage the plugin file, checks stamp-a keeps
/// serving with the error reported, then recovers with a good stamp-b.
async fn refused_then_recovered(
    plugin_settings: &str,
    break_it: impl FnOnce(&Path),
    expected: &str,
) {
    let site = Site::start(plugin_settings).await;
    assert_eq!(stamp(site.addr()).await, "stamp-a");
    let serving = site.stamp_status();

    break_it(&site.plugin);
    let refused = site
        .stamp_status_until("the bad version is refused", |s| s.failed_reloads >= 1)
        .await;
    let error = refused.last_error.as_deref().expect("last_error is set");
    assert!(
        error.contains("stamp"),
        "the error names the plugin: {error}"
    );
    assert!(error.contains(expected), "{error}");
    assert_eq!(
        (refused.content_hash.as_str(), refused.reloads),
        (serving.content_hash.as_str(), 0)
    );
    for _ in 0..3 {
        assert_eq!(
            stamp(site.addr()).await,
            "stamp-a",
            "the old version serves"
        );
    }

    replace_by_rename(&site.plugin, &component(STAMP_B));
    site.serves("stamp-b").await;
    let recovered = site
        .stamp_status_until("the good version is recorded", |s| s.reloads == 1)
        .await;
    assert_eq!(recovered.last_error, None);
    assert_ne!(recovered.content_hash, serving.content_hash);
    site.gateway.stop().await;
}

#[tokio::test]
async fn truncated_component_is_refused_and_the_old_version_serves() {
    refused_then_recovered(
        "",
        |path| {
            let whole = component(STAMP_B);
            std::fs::write(path, &whole[..whole.len() / 2]).expect("overwrite in place");
        },
        "not a valid WebAssembly component",
    )
    .await;
}

#[tokio::test]
async fn garbage_file_is_refused_and_the_old_version_serves() {
    refused_then_recovered(
        "",
        |path| replace_by_rename(path, b"\0asm but not really a component"),
        "not a valid WebAssembly component",
    )
    .await;
}

#[tokio::test]
async fn component_without_the_route_role_is_refused() {
    refused_then_recovered(
        "",
        |path| replace_by_rename(path, &component(MISBEHAVE)),
        "does not export the transform role",
    )
    .await;
}

#[tokio::test]
async fn ungranted_import_is_refused() {
    refused_then_recovered(
        "",
        |path| replace_by_rename(path, &component(USES_KV)),
        "imports `archway:plugin/kv@0.1.0` but its config does not grant it",
    )
    .await;
}

#[tokio::test]
async fn init_error_is_refused() {
    refused_then_recovered(
        "[plugins.config]\nmode = \"bad-init\"",
        |path| replace_by_rename(path, &component(MISBEHAVE)),
        "bad-init fixture refuses to start",
    )
    .await;
}

#[tokio::test]
async fn init_past_its_deadline_is_refused() {
    refused_then_recovered(
        "timeout_ms = 200\n[plugins.config]\nmode = \"loop-in-init\"",
        |path| replace_by_rename(path, &component(MISBEHAVE)),
        "exceeded its 200 ms deadline",
    )
    .await;
}

#[tokio::test]
async fn deleted_file_is_refused_and_the_old_version_serves() {
    refused_then_recovered(
        "",
        |path| std::fs::remove_file(path).expect("delete the plugin file"),
        "cannot read",
    )
    .await;
}

#[tokio::test]
async fn trap_in_init_is_refused_until_the_config_stops_it() {
    let settings = "[plugins.config]\ntrap_in_init = \"stamp-b\"";
    let site = Site::start(settings).await;
    replace_by_rename(&site.plugin, &component(STAMP_B));
    let refused = site
        .stamp_status_until("the trapping version is refused", |s| s.failed_reloads >= 1)
        .await;
    let error = refused.last_error.expect("last_error is set");
    assert!(error.contains("plugin stamp failed to start"), "{error}");
    assert_eq!(stamp(site.addr()).await, "stamp-a");

    let upstream = upstream().await;
    replace_by_rename(&site.config, site_config(upstream, "", "").as_bytes());
    site.serves("stamp-b").await;
    assert_eq!(site.stamp_status().last_error, None);
    assert_eq!(site.gateway.config_status().last_error, None);
    site.gateway.stop().await;
}

#[tokio::test]
async fn broken_config_keeps_the_previous_one_serving() {
    let site = Site::start("").await;
    let upstream = upstream().await;
    let broken = [
        ("[[routes]\n".to_owned(), "TOML parse error"),
        (String::new(), "the config file is empty"),
        (
            "# a copy cut off after its first comment\n".to_owned(),
            "the config file is empty",
        ),
        (
            site_config(upstream, "", "[server.oops]\n"),
            "unknown field",
        ),
        (
            site_config(
                upstream,
                "",
                "[[routes]]\nid = \"ghost\"\nservice_name = \"echo\"\npath_pattern = \"/ghost\"\n\
                 requires_auth = false\ntransform = [\"nope\"]\n",
            ),
            "transform plugin nope is not defined",
        ),
    ];
    for (attempt, (text, expected)) in broken.into_iter().enumerate() {
        replace_by_rename(&site.config, text.as_bytes());
        let status = eventually("the broken config is refused", || async {
            let status = site.gateway.config_status();
            (status.failed_reloads > attempt as u64).then_some(status)
        })
        .await;
        let error = status.last_error.expect("last_error is set");
        assert!(
            error.contains("archway.toml"),
            "the error names the file: {error}"
        );
        assert!(error.contains(expected), "{error}");
        assert_eq!(stamp(site.addr()).await, "stamp-a", "the old config serves");
    }

    // listen cannot change live: the rest of the config applies, the old socket serves.
    let good = site_config(
        upstream,
        "",
        "[[routes]]\nid = \"added\"\nservice_name = \"echo\"\npath_pattern = \"/added/*\"\n\
         requires_auth = false\n",
    )
    .replace("[server]\n", "[server]\nlisten = \"127.0.0.1:1\"\n");
    std::fs::write(&site.config, good).expect("overwrite the config");
    eventually("the new route serves", || async {
        (get(site.addr(), "/added/x", &[]).await.status == 200).then_some(())
    })
    .await;
    let status = site.gateway.config_status();
    assert_eq!((status.last_error, status.reloads), (None, 1));
    assert_eq!(stamp(site.addr()).await, "stamp-a");
    site.gateway.stop().await;
}

/// Counts of the load clients.
#[derive(Default)]
struct Load {
    sent: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
    /// The version a swap waits for, and when a client first saw it.
    expected: Mutex<(String, Option<Instant>)>,
}

impl Load {
    fn record(&self, outcome: Result<String, String>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(version) => {
                let mut expected = self.expected.lock().expect("expected lock");
                if expected.0 == version && expected.1.is_none() {
                    expected.1 = Some(Instant::now());
                }
            }
            Err(failure) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.first_failure
                    .lock()
                    .expect("failure lock")
                    .get_or_insert(failure);
            }
        }
    }
}

/// One client on a kept-alive connection, sending until `stop`.
async fn load_client(addr: SocketAddr, load: Arc<Load>, stop: Arc<AtomicBool>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: http::Uri = format!("http://{addr}/stamped/load").parse().expect("uri");
    while !stop.load(Ordering::Relaxed) {
        let outcome = match client.get(uri.clone()).await {
            Err(error) => Err(format!("request failed: {error}")),
            Ok(response) => {
                let status = response.status();
                let version = response
                    .headers()
                    .get("x-stamp")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = response.into_body().collect().await;
                match (status.as_u16(), version, body) {
                    (200, Some(version), Ok(_)) if version.starts_with("stamp-") => Ok(version),
                    (status, version, body) => Err(format!(
                        "status {status}, x-stamp {version:?}, body ok: {}",
                        body.is_ok()
                    )),
                }
            }
        };
        load.record(outcome);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_replaced_20_times_under_load_fails_no_request() {
    let site = Site::start("").await;
    let versions = [
        ("stamp-b", component(STAMP_B)),
        ("stamp-a", component(STAMP_A)),
    ];
    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(load_client(site.addr(), load.clone(), stop.clone())))
        .collect();

    let started = Instant::now();
    let mut latencies = Vec::new();
    for swap in 0..20 {
        let (version, bytes) = &versions[swap % 2];
        *load.expected.lock().expect("expected lock") = ((*version).to_owned(), None);
        if swap % 4 == 3 {
            std::fs::write(&site.plugin, bytes).expect("overwrite in place");
        } else {
            replace_by_rename(&site.plugin, bytes);
        }
        let written = Instant::now();
        let seen = eventually(&format!("swap {swap} to {version} serves"), || async {
            load.expected.lock().expect("expected lock").1
        })
        .await;
        let latency = seen.saturating_duration_since(written);
        assert!(
            latency < Duration::from_secs(1),
            "swap {swap} took {latency:?}"
        );
        latencies.push(latency);
        // A stretch of steady load on the new version before the next swap.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("load client ends");
    }

    let sent = load.sent.load(Ordering::Relaxed);
    let failed = load.failed.load(Ordering::Relaxed);
    latencies.sort();
    println!(
        "20 swaps under load: {sent} requests in {:.1?}, {failed} failed; reload latency \
         (file written -> first response from the new version) median {:?}, max {:?}",
        started.elapsed(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    assert_eq!(
        failed,
        0,
        "first failure: {:?}",
        load.first_failure.lock().expect("failure lock")
    );
    assert!(sent >= 1000, "a steady load ran: {sent} requests");
    let status = site.stamp_status();
    assert_eq!((status.reloads, status.last_error), (20, None));
    site.gateway.stop().await;
}

#[tokio::test]
async fn stop_stops_the_watcher_and_drains_a_slow_request() {
    // An upstream that answers 500 ms after the request arrived, and says when it did.
    let (slow_addr, request_arrived) = late_upstream(Duration::from_millis(500)).await;
    let site = Site::start("").await;
    let config = site_config(
        slow_addr,
        "",
        "[[routes]]\nid = \"slow\"\nservice_name = \"echo\"\npath_pattern = \"/slow\"\n\
         requires_auth = false\n",
    );
    replace_by_rename(&site.config, config.as_bytes());
    eventually("the config with the slow route applies", || async {
        (site.gateway.config_status().reloads == 1).then_some(())
    })
    .await;

    let addr = site.addr();
    let in_flight = tokio::spawn(async move { get(addr, "/slow", &[]).await });
    request_arrived
        .await
        .expect("the slow upstream got the request");
    tokio::time::timeout(PATIENCE, site.gateway.stop())
        .await
        .expect("stop ends within the grace period");
    let reply = in_flight.await.expect("request task");
    assert_eq!((reply.status, &reply.body[..]), (200, &b"slow"[..]));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn compiled_plugins_are_cached_and_a_restart_does_not_recompile() {
    let cache = scratch_dir().join("cache");
    let config = format!(
        "[server]\ncache_dir = {cache:?}\n\
         [[plugins]]\nname = \"stamp\"\npath = \"{STAMP_A}\"\n"
    );
    let upstream = upstream().await;
    archway_tests::gateway(&config, upstream).await.stop().await;
    let compiled = compiled_artifacts(&cache);
    assert!(
        !compiled.is_empty(),
        "{} holds the compiled component",
        cache.display()
    );

    archway_tests::gateway(&config, upstream).await.stop().await;
    assert_eq!(
        compiled_artifacts(&cache),
        compiled,
        "the restart compiled nothing: no artifact was written again"
    );
}

/// The compiled artifacts under `dir` with their modification times (left out: wasmtime's
/// usage statistics, which every load updates, and its workers' hidden lock files).
fn compiled_artifacts(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut artifacts: Vec<_> = walk(dir)
        .into_iter()
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            !name.starts_with('.') && !name.ends_with(".stats")
        })
        .map(|path| {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .expect("artifact metadata");
            (path, modified)
        })
        .collect();
    artifacts.sort();
    artifacts
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A key set `k` of the RS256 public key `public_key` (a file of `tests/keys`, or any
/// path), a `jwt-auth` plugin on it and a route `/secure/*` that requires it.
fn key_set_config(upstream: SocketAddr, public_key: &Path) -> String {
    let extra = format!(
        "[jwt.key_sets.k]\nalgorithms = [\"RS256\"]\npublic_key_file = {public_key:?}\n\
         [[plugins]]\nname = \"jwt\"\nbuiltin = \"jwt-auth\"\ncapabilities = [\"jwt\", \"log\"]\n\
         key_sets = [\"k\"]\n[plugins.config]\nkey_set = \"k\"\n\
         [[routes]]\nid = \"secure\"\nservice_name = \"echo\"\npath_pattern = \"/secure/*\"\n\
         authenticate = [\"jwt\"]\n"
    );
    site_config(upstream, "", &extra)
}

/// The status of `GET /secure/x` with `token`.
async fn secure(addr: SocketAddr, token: &str) -> u16 {
    let bearer = format!("Bearer {token}");
    get(addr, "/secure/x", &[("authorization", &bearer)])
        .await
        .status
}

#[tokio::test]
async fn a_rotated_key_file_applies_without_a_restart_and_a_missing_one_is_refused() {
    use archway_tests::tokens::{key_file, now, sign, signing_key};
    use jsonwebtoken::Algorithm;

    let site = Site::start("").await;
    let upstream = upstream().await;
    let claims = serde_json::json!({"sub": "alice", "exp": now() + 600});
    let old = sign(Algorithm::RS256, None, &signing_key("rsa.key"), &claims);
    let new = sign(Algorithm::RS256, None, &signing_key("rsa2.key"), &claims);
    let pem = |name: &str| std::fs::read(key_file(name)).expect("test key");

    // The config names a key file beside it, as a deployment does.
    let key = site.config.with_file_name("users.pem");
    std::fs::write(&key, pem("rsa.pub.pem")).expect("key written");
    replace_by_rename(&site.config, key_set_config(upstream, &key).as_bytes());
    eventually("the key set serves", || async {
        (secure(site.addr(), &old).await == 200).then_some(())
    })
    .await;
    assert_eq!(secure(site.addr(), &new).await, 401);

    // The key file is rotated in place; the config does not change.
    replace_by_rename(&key, &pem("rsa2.pub.pem"));
    eventually("the rotated key serves", || async {
        (secure(site.addr(), &new).await == 200).then_some(())
    })
    .await;
    assert_eq!(
        secure(site.addr(), &old).await,
        401,
        "the old key no longer verifies"
    );

    let missing = site.config.with_file_name("gone.pem");
    replace_by_rename(&site.config, key_set_config(upstream, &missing).as_bytes());
    let refused = eventually("the config with a missing key file is refused", || async {
        let status = site.gateway.config_status();
        (status.failed_reloads >= 1).then_some(status)
    })
    .await;
    let error = refused.last_error.expect("last_error is set");
    assert!(
        error.contains("jwt key set k: cannot read public_key_file"),
        "{error}"
    );
    assert_eq!(
        secure(site.addr(), &new).await,
        200,
        "the serving keys stay"
    );
    site.gateway.stop().await;
}
