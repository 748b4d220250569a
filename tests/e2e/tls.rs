//! TLS termination: clients that trust the test CAs reach routes over HTTPS, with
//! HTTP/1.1 or HTTP/2 as ALPN settles, get the certificate their SNI names, and see a
//! replaced certificate file on new connections without a restart; a certificate that
//! cannot be used is refused while the serving one stays.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archway_tests::servers::{second_ca, second_server_cert, test_ca, test_server_cert};
use archway_tests::{scratch_dir, upstream};
use bytes::Bytes;
use http::Version;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The longest a certificate change may take to show, even on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// A gateway config terminating TLS with `certificates` (`[[server.tls.certificates]]`
/// tables), in front of the echo upstream at `/r/*`.
fn config(upstream: SocketAddr, certificates: &str) -> String {
    format!(
        "[log]\naccess_log = false\n{certificates}\n\
         [[services]]\nname = \"echo\"\nurl = \"http://{upstream}\"\n\
         [[routes]]\nid = \"r\"\nservice_name = \"echo\"\npath_pattern = \"/r/*\"\n\
         target_url = \"/*\"\nrequires_auth = false\n"
    )
}

/// One `[[server.tls.certificates]]` table.
fn certificate(cert: &Path, key: &Path, names: &[&str]) -> String {
    format!(
        "[[server.tls.certificates]]\ncert_file = {cert:?}\nkey_file = {key:?}\nserver_names = {names:?}\n"
    )
}

/// Starts a gateway on `text`, a whole config.
async fn gateway(text: &str) -> archway::Running {
    archway_tests::gateway(text, upstream().await).await
}

/// Opens a TLS connection to `addr` asking for `server_name`, trusting both test CAs and
/// offering `alpn`.
async fn connect(addr: SocketAddr, server_name: &str, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in [test_ca(), second_ca()] {
        roots
            .add(CertificateDer::from_pem_file(ca).expect("test CA"))
            .expect("a usable CA");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(server_name.to_owned()).expect("a server name");
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with a certificate the test CAs sign")
}

/// The certificate the gateway presented on `stream`.
fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    let (_, session) = stream.get_ref();
    session.peer_certificates().expect("a server certificate")[0].clone()
}

/// The first certificate of a PEM file.
fn certificate_in(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).expect("a PEM certificate")
}

/// `GET path` on `stream` in the protocol ALPN chose: the response's version, status and
/// JSON body.
async fn get_over(stream: TlsStream<TcpStream>, path: &str) -> (Version, u16, serde_json::Value) {
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(stream);
    let request = http::Request::get(format!("https://localhost{path}"))
        .body(Empty::<Bytes>::new())
        .expect("a request");
    let response = if h2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2 handshake");
        tokio::spawn(connection);
        sender.send_request(request).await.expect("h2 answer")
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        let (mut parts, body) = request.into_parts();
        parts.uri = path.parse().expect("a path");
        parts.headers.insert(
            http::header::HOST,
            http::HeaderValue::from_static("localhost"),
        );
        let request = http::Request::from_parts(parts, body);
        sender.send_request(request).await.expect("HTTP/1.1 answer")
    };
    let (version, status) = (response.version(), response.status().as_u16());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&body).expect("a JSON body");
    (version, status, json)
}

#[tokio::test]
async fn https_clients_get_http2_or_http1_as_alpn_settles() {
    let (cert, key) = test_server_cert();
    let gw = gateway(&config(upstream().await, &certificate(&cert, &key, &[]))).await;
    for (alpn, version) in [
        (&[&b"h2"[..], b"http/1.1"][..], Version::HTTP_2),
        (&[&b"http/1.1"[..]][..], Version::HTTP_11),
        (&[][..], Version::HTTP_11),
    ] {
        let stream = connect(gw.addr(), "localhost", alpn).await;
        let (got, status, echo) = get_over(stream, "/r/secure?x=1").await;
        assert_eq!((got, status), (version, 200), "ALPN {alpn:?}");
        assert_eq!(echo["path"], "/secure", "ALPN {alpn:?}");
        assert_eq!(echo["query"], "x=1");
        assert_eq!(
            echo["headers"]["x-forwarded-proto"], "https",
            "the upstream learns the client's scheme"
        );
    }
    // A plain-HTTP client on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(gw.addr()).await.expect("connect");
    plain
        .write_all(b"GET /r/plain HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was not closed");
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP was answered");
    gw.stop().await;
}

#[tokio::test]
async fn sni_chooses_the_certificate_that_names_the_server() {
    let (cert, key) = test_server_cert();
    let (second, second_key) = second_server_cert();
    let certificates =
        certificate(&cert, &key, &[]) + &certificate(&second, &second_key, &["api.archway.test"]);
    let gw = gateway(&config(upstream().await, &certificates)).await;
    let named = connect(gw.addr(), "api.archway.test", &[b"h2"]).await;
    assert_eq!(presented(&named), certificate_in(&second));
    let (_, status, _) = get_over(named, "/r/named").await;
    assert_eq!(status, 200);
    let unnamed = connect(gw.addr(), "localhost", &[b"h2"]).await;
    assert_eq!(
        presented(&unnamed),
        certificate_in(&cert),
        "a name no certificate lists gets the first"
    );
    let no_sni = connect(gw.addr(), "127.0.0.1", &[]).await;
    assert_eq!(
        presented(&no_sni),
        certificate_in(&cert),
        "no SNI (an IP address) gets the first"
    );
    gw.stop().await;
}

#[tokio::test]
async fn curl_with_the_test_ca_gets_an_answer_over_https() {
    let curl = Path::new("/usr/bin/curl");
    if !curl.exists() {
        eprintln!("skipped: no curl at {}", curl.display());
        return;
    }
    let (cert, key) = test_server_cert();
    let gw = gateway(&config(upstream().await, &certificate(&cert, &key, &[]))).await;
    let port = gw.addr().port();
    let mut command = std::process::Command::new(curl);
    command
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(test_ca())
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg("--write-out")
        .arg("\n%{http_code} %{http_version}")
        .arg(format!("https://localhost:{port}/r/curl"));
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("curl's task")
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "curl failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (body, outcome) = stdout.rsplit_once('\n').expect("body, then the outcome");
    let echo: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(echo["path"], "/curl");
    assert!(outcome.starts_with("200 "), "{outcome}");
    gw.stop().await;
}

/// A gateway started from a config file whose certificate is `cert.pem` and `key.pem`
/// beside it (copies of the test server's), reloading changed files.
struct Site {
    dir: PathBuf,
    gateway: archway::Running,
}

impl Site {
    async fn start() -> Self {
        let dir = scratch_dir();
        let (cert, key) = test_server_cert();
        std::fs::copy(cert, dir.join("cert.pem")).expect("copy cert");
        std::fs::copy(key, dir.join("key.pem")).expect("copy key");
        let text = config(
            upstream().await,
            &certificate(Path::new("cert.pem"), Path::new("key.pem"), &[]),
        );
        let gateway = archway_tests::watching(&dir.join("archway.toml"), &text).await;
        Self { dir, gateway }
    }

    /// Replaces a file beside the config the way deploys do: write a temp file, rename.
    fn replace(&self, name: &str, contents: &[u8]) {
        let temp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&temp, contents).expect("write temp file");
        std::fs::rename(&temp, self.dir.join(name)).expect("rename over");
    }

    /// Replaces file `name` with `contents` and waits until the gateway refuses it with
    /// an error naming `what`.
    async fn replace_refused(&self, name: &str, contents: &[u8], what: &str) {
        let before = self.gateway.config_status().failed_reloads;
        self.replace(name, contents);
        let started = Instant::now();
        loop {
            let status = self.gateway.config_status();
            let error = status.last_error.unwrap_or_default();
            if status.failed_reloads > before && error.contains(what) {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no refusal naming {what} within {PATIENCE:?}: {error}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Installs the second test certificate in place of the first, key first, and waits
    /// until new connections get it.
    async fn swap_to_second(&self) {
        let (cert, key) = second_server_cert();
        self.replace("key.pem", &std::fs::read(key).expect("key"));
        self.replace("cert.pem", &std::fs::read(&cert).expect("cert"));
        let wanted = certificate_in(&cert);
        let started = Instant::now();
        loop {
            let stream = connect(self.gateway.addr(), "localhost", &[b"h2"]).await;
            if presented(&stream) == wanted {
                let (_, status, _) = get_over(stream, "/r/after-swap").await;
                assert_eq!(status, 200);
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the new certificate was not served within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_replaced_certificate_serves_new_connections_without_a_restart() {
    let site = Site::start().await;
    let (cert, _) = test_server_cert();
    let before = connect(site.gateway.addr(), "localhost", &[b"h2"]).await;
    assert_eq!(presented(&before), certificate_in(&cert));
    site.swap_to_second().await;
    let (_, status, _) = get_over(before, "/r/open-before-the-swap").await;
    assert_eq!(
        status, 200,
        "a connection opened before the swap keeps working"
    );
    site.gateway.stop().await;
}

#[tokio::test]
async fn a_broken_certificate_is_refused_and_the_serving_one_stays() {
    let site = Site::start().await;
    site.swap_to_second().await;
    let (second, _) = second_server_cert();
    // A key that is not the certificate's: the test server's key under the second cert.
    let (_, other_key) = test_server_cert();
    let other_key = std::fs::read(other_key).expect("key");
    site.replace_refused("key.pem", &other_key, "server.tls: key_file")
        .await;
    let error = site.gateway.config_status().last_error.unwrap_or_default();
    assert!(error.contains("does not match the certificate"), "{error}");
    let stream = connect(site.gateway.addr(), "localhost", &[b"h2"]).await;
    assert_eq!(
        presented(&stream),
        certificate_in(&second),
        "the old one serves"
    );
    let (_, status, _) = get_over(stream, "/r/still").await;
    assert_eq!(status, 200);
    site.replace_refused("cert.pem", b"not a certificate", "server.tls: cert_file")
        .await;
    let stream = connect(site.gateway.addr(), "localhost", &[b"http/1.1"]).await;
    assert_eq!(
        presented(&stream),
        certificate_in(&second),
        "the old one serves"
    );
    site.gateway.stop().await;
}
