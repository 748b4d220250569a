//! `archway keys create | list | revoke` on an embedded store, and what it says while
//! another process holds that store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use archway_store::{Store, StoreConfig};

/// A config with one `api-key-auth` plugin and an embedded store, in a fresh directory.
fn config() -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("archway.toml");
    std::fs::write(
        &path,
        "[store]\npath = \"store.redb\"\n\
         [[plugins]]\nname = \"api-keys\"\nbuiltin = \"api-key-auth\"\n\
         capabilities = [\"kv\"]\nshare = [\"api-keys\"]\n",
    )
    .expect("config written");
    (path, dir)
}

fn archway(config: &Path, args: &[&str]) -> Output {
    let (command, rest) = args.split_first().expect("a keys subcommand");
    Command::new(env!("CARGO_BIN_EXE_archway"))
        .args(["keys", command, "--config"])
        .arg(config)
        .args(rest)
        .output()
        .expect("archway runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "archway failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// The value of the line `<label>: <value>`.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.strip_prefix(label)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label}: line in {text}"))
}

#[test]
fn keys_are_created_listed_and_revoked() {
    let (config, dir) = config();
    let created = stdout(&archway(
        &config,
        &[
            "create",
            "--subject",
            "alice",
            "--tenant",
            "acme",
            "--role",
            "trader",
            "--permission",
            "orders.read",
            "--per-minute",
            "60",
            "--per-day",
            "1000",
            "--expires-in-days",
            "30",
        ],
    ));
    let (id, key) = (field(&created, "id"), field(&created, "key"));
    assert!(key.starts_with("ak_"), "{created}");

    let listed = stdout(&archway(&config, &["list"]));
    let row = listed
        .lines()
        .find(|l| l.starts_with(id))
        .expect("the key is listed");
    for shown in ["alice", "acme", "60/min 1000/day", "active"] {
        assert!(row.contains(shown), "{shown} in {row}");
    }
    assert!(!listed.contains(key), "the key is never shown again");
    let hash = archway::keys::key_hash(key);
    assert!(!listed.contains(&hash), "nor its hash");
    let store_file = std::fs::read(dir.path().join("store.redb")).expect("store file");
    assert!(
        !store_file.windows(key.len()).any(|w| w == key.as_bytes()),
        "the store file does not hold the key"
    );

    let revoked = stdout(&archway(&config, &["revoke", id]));
    assert_eq!(revoked.trim(), format!("revoked {id}"));
    let listed = stdout(&archway(&config, &["list"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(id) && l.ends_with("revoked")),
        "{listed}"
    );
    let unknown = archway(&config, &["revoke", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key with id nope"));
}

#[tokio::test]
async fn an_embedded_store_in_use_elsewhere_is_explained() {
    let (config, dir) = config();
    let _held = Store::open(&StoreConfig::Embedded {
        path: dir.path().join("store.redb"),
    })
    .await
    .expect("this process holds the store, as a running gateway would");
    let refused = archway(&config, &["list"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is open in another process") && stderr.contains("stop that gateway"),
        "{stderr}"
    );
}

#[test]
fn a_config_without_the_plugin_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("archway.toml");
    std::fs::write(&path, "[store]\npath = \"store.redb\"\n").expect("config written");
    let refused = archway(&path, &["list"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("builtin = \"api-key-auth\""), "{stderr}");
}
