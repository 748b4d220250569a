//! `archway token` and `archway tokens revoke`: a minted token verifies with its key set
//! and carries the claims asked for; a revoked one is refused afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use archway_config::Config;
use archway_jwt::{FetchFuture, FetchJwks, KeySets, Verifier, VerifyError};
use archway_store::{Store, StoreConfig};

/// Nothing in these configs is fetched.
struct NoFetch;

impl FetchJwks for NoFetch {
    fn fetch(&self, _url: &str, _ca: Option<&Path>) -> FetchFuture {
        Box::pin(async { Err("not fetched".to_owned()) })
    }
}

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/keys")
}

/// A config with an HMAC and an ES256 key set (the test keys) and an embedded store.
fn config() -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = keys_dir();
    let path = dir.path().join("archway.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\npath = \"store.redb\"\n\
             [jwt.key_sets.demo]\nalgorithms = [\"HS256\"]\nsecret_file = \"{}\"\nissuer = \"demo\"\n\
             [jwt.key_sets.ec]\nalgorithms = [\"ES256\"]\npublic_key_file = \"{}\"\n",
            keys.join("hmac.secret").display(),
            keys.join("ec.pub.pem").display(),
        ),
    )
    .expect("config written");
    (path, dir)
}

fn archway(args: &[&str]) -> Result<String, String> {
    let output = Command::new(env!("CARGO_BIN_EXE_archway"))
        .args(args)
        .output()
        .expect("archway runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    match output.status.success() {
        true => Ok(text(&output.stdout)),
        false => Err(text(&output.stderr)),
    }
}

async fn verifier(config: &Path, store: Option<Store>) -> Verifier {
    let config = Config::load(config).expect("config");
    let fetch: Arc<dyn FetchJwks> = Arc::new(NoFetch);
    let sets = KeySets::load(&config.jwt, &KeySets::default(), &fetch).expect("key sets");
    let verifier = Verifier::new(store);
    verifier.install(Arc::new(sets));
    verifier
}

#[tokio::test]
async fn minted_tokens_verify_and_revoked_ones_do_not() {
    let (config, dir) = config();
    let path = config.to_str().expect("UTF-8 path");
    let token = archway(&[
        "token",
        "--config",
        path,
        "--key-set",
        "demo",
        "--subject",
        "alice",
        "--tenant",
        "acme",
        "--role",
        "reader",
        "--permission",
        "orders.read",
    ])
    .expect("minted");
    let ec = archway(&[
        "token",
        "--config",
        path,
        "--key-set",
        "ec",
        "--subject",
        "bob",
        "--private-key",
        keys_dir().join("ec.key").to_str().expect("UTF-8 path"),
    ])
    .expect("minted with the private key");
    let refused = archway(&[
        "token",
        "--config",
        path,
        "--key-set",
        "ec",
        "--subject",
        "bob",
    ])
    .expect_err("a public-key set needs --private-key");
    assert!(refused.contains("--private-key"), "{refused}");

    let claims = verifier(&config, None)
        .await
        .verify("demo", &token)
        .await
        .expect("verifies");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["roles"][0], "reader");
    assert_eq!(claims["permissions"][0], "orders.read");
    assert_eq!(claims["iss"], "demo");
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() == 32));
    let ec_claims = verifier(&config, None)
        .await
        .verify("ec", &ec)
        .await
        .expect("verifies");
    assert_eq!(ec_claims["sub"], "bob");

    // The token comes on standard input, so it never shows in `ps`.
    let mut revoke = Command::new(env!("CARGO_BIN_EXE_archway"))
        .args(["tokens", "revoke", "--config", path, "--token", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("archway runs");
    {
        use std::io::Write;
        let mut stdin = revoke.stdin.take().expect("stdin");
        writeln!(stdin, "{token}").expect("token written");
    }
    let output = revoke.wait_with_output().expect("archway ends");
    assert!(output.status.success(), "revoke failed");
    let revoked = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(revoked.starts_with("revoked jti "), "{revoked}");
    let store = Store::open(&StoreConfig::Embedded {
        path: dir.path().join("store.redb"),
    })
    .await
    .expect("store");
    let verifier = verifier(&config, Some(store)).await;
    assert_eq!(
        verifier.verify("demo", &token).await,
        Err(VerifyError::Revoked)
    );
    assert!(
        verifier.verify("ec", &ec).await.is_ok(),
        "only the revoked token"
    );
}
