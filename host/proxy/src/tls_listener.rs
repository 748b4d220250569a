//! TLS termination on the listener: the certificates of `[server.tls]` read into one
//! rustls server config that picks a certificate by SNI and offers ALPN `h2` and
//! `http/1.1`. A new set of certificates replaces the serving one whole, for new
//! connections; a set that cannot be used never gets that far.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use archway_config::TlsConfig;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::pem::{PemFile, TlsError};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listener's certificates as read: the default one, the others by server name,
/// and what their files held.
#[derive(Debug)]
pub struct CertificateSet {
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
    read_from: (TlsConfig, Vec<Vec<u8>>),
}

impl CertificateSet {
    /// Reads and checks every certificate of `config`: each file must be PEM, each key
    /// must be the key of its certificate.
    pub fn load(config: &TlsConfig) -> Result<Self, TlsError> {
        let provider = provider();
        let mut contents = Vec::new();
        let mut keys = Vec::new();
        for certificate in &config.certificates {
            let cert = PemFile::read("cert_file", &certificate.cert_file)?;
            let key = PemFile::read("key_file", &certificate.key_file)?;
            let certified =
                CertifiedKey::from_der(cert.certificates()?, key.private_key()?, &provider)
                    .map_err(|error| match error {
                        rustls::Error::InconsistentKeys(_) => key.mismatch(&cert),
                        rustls::Error::InvalidCertificate(_) | rustls::Error::General(_) => {
                            cert.error(format!("not a usable certificate: {error}"))
                        }
                        error => key.error(format!("not a usable private key: {error}")),
                    })?;
            keys.push((Arc::new(certified), &certificate.server_names));
            contents.extend([cert.pem, key.pem]);
        }
        let default = keys
            .first()
            .map(|(key, _)| key.clone())
            .expect("validation refuses a [server.tls] without certificates");
        let by_name = keys
            .iter()
            .flat_map(|(key, names)| names.iter().map(|name| (name.clone(), key.clone())))
            .collect();
        Ok(Self {
            default,
            by_name,
            read_from: (config.clone(), contents),
        })
    }

    /// The certificate for a client that asked for `server_name`.
    fn choose(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        server_name
            .and_then(|name| self.by_name.get(&name.to_ascii_lowercase()))
            .unwrap_or(&self.default)
            .clone()
    }
}

/// The serving certificates, swapped whole.
#[derive(Debug)]
pub struct Certificates {
    serving: ArcSwap<CertificateSet>,
}

impl Certificates {
    /// Serves `set`.
    pub fn new(set: CertificateSet) -> Arc<Self> {
        Arc::new(Self {
            serving: ArcSwap::from_pointee(set),
        })
    }

    /// The certificates of `config` read again; `None` when their settings and files
    /// hold what serves now.
    pub fn read(&self, config: &TlsConfig) -> Result<Option<CertificateSet>, TlsError> {
        let set = CertificateSet::load(config)?;
        let unchanged = set.read_from == self.serving.load().read_from;
        Ok((!unchanged).then_some(set))
    }

    /// Serves `set` to new connections; open ones keep theirs.
    pub fn install(&self, set: CertificateSet) {
        self.serving.store(Arc::new(set));
    }

    /// The handshake of the listener's connections, choosing from these certificates.
    pub(crate) fn acceptor(self: &Arc<Self>) -> Acceptor {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Acceptor(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.serving.load().choose(client_hello.server_name()))
    }
}

/// Runs the TLS handshake of accepted connections.
#[derive(Clone)]
pub(crate) struct Acceptor(TlsAcceptor);

impl Acceptor {
    /// The connection once its handshake is done; `None` (logged) when it failed or
    /// took too long.
    pub(crate) async fn accept(&self, stream: TcpStream) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.0.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(target: "archway.server", %error, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(target: "archway.server", "TLS handshake timed out");
                None
            }
        }
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use archway_config::CertificateConfig;

    use super::*;

    fn tls_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tls")
    }

    fn config(certificates: &[(&str, &str, &[&str])]) -> TlsConfig {
        TlsConfig {
            certificates: certificates
                .iter()
                .map(|(cert, key, names)| CertificateConfig {
                    cert_file: tls_dir().join(cert),
                    key_file: tls_dir().join(key),
                    server_names: names.iter().map(|n| (*n).to_owned()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn sni_picks_the_named_certificate_and_the_first_is_the_default() {
        let set = CertificateSet::load(&config(&[
            ("server.pem", "server.key", &[]),
            ("client.pem", "client.key", &["other.test"]),
        ]))
        .expect("usable");
        let server = |key: Arc<CertifiedKey>| key.cert[0] == set.default.cert[0];
        assert!(!server(set.choose(Some("other.test"))));
        assert!(!server(set.choose(Some("OTHER.test"))));
        assert!(server(set.choose(Some("unknown.test"))));
        assert!(server(set.choose(None)));
    }

    #[test]
    fn a_key_that_is_not_the_certificates_or_a_file_that_is_not_pem_is_refused() {
        let mismatch = CertificateSet::load(&config(&[("server.pem", "client.key", &[])]))
            .expect_err("wrong key")
            .to_string();
        assert!(
            mismatch.contains("client.key: does not match the certificate in"),
            "{mismatch}"
        );
        let not_pem = CertificateSet::load(&config(&[("server.key", "server.key", &[])]))
            .expect_err("no certificate")
            .to_string();
        assert!(
            not_pem.contains("server.key: holds no certificate"),
            "{not_pem}"
        );
    }

    #[test]
    fn reading_unchanged_files_again_finds_nothing_new() {
        let config = config(&[("server.pem", "server.key", &[])]);
        let certificates = Certificates::new(CertificateSet::load(&config).expect("usable"));
        assert!(certificates.read(&config).expect("usable").is_none());
        let mut renamed = config.clone();
        renamed.certificates[0].server_names = vec!["localhost".to_owned()];
        assert!(certificates.read(&renamed).expect("usable").is_some());
    }
}
