//! A service's TLS settings read into a rustls client config: the CA certificates it
//! trusts (the system's roots unless it names a CA file) and the client certificate it
//! presents for mutual TLS, if any. What the files hold, not where they are, decides
//! which pool a service shares.

use std::path::Path;
use std::sync::Arc;

use archway_config::ServiceConfig;
use rustls::{ClientConfig, RootCertStore};

use crate::pem::{PemFile, TlsError};

/// Where a service's TLS material is.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TlsSettings<'a> {
    /// PEM CA certificates trusted instead of the system's roots.
    pub(crate) ca_file: Option<&'a Path>,
    /// The certificate the service is shown, when it asks for one.
    pub(crate) client_cert: Option<ClientCertFiles<'a>>,
}

/// A client certificate chain and its private key, both PEM.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientCertFiles<'a> {
    /// The certificate chain, the gateway's own certificate first.
    pub(crate) cert_file: &'a Path,
    /// Its private key: PKCS#8, PKCS#1 or SEC1.
    pub(crate) key_file: &'a Path,
}

impl<'a> From<&'a ServiceConfig> for TlsSettings<'a> {
    fn from(config: &'a ServiceConfig) -> Self {
        // Validation refuses a certificate without its key, and the reverse.
        let client_cert = config
            .client_cert_file
            .as_deref()
            .zip(config.client_key_file.as_deref())
            .map(|(cert_file, key_file)| ClientCertFiles {
                cert_file,
                key_file,
            });
        Self {
            ca_file: config.ca_file.as_deref(),
            client_cert,
        }
    }
}

impl<'a> TlsSettings<'a> {
    /// Reads the files now, so a changed file takes effect on the next snapshot.
    pub(crate) fn read(&self) -> Result<TlsFiles<'a>, TlsError> {
        let ca = self
            .ca_file
            .map(|path| PemFile::read("ca_file", path))
            .transpose()?;
        let client_cert = self
            .client_cert
            .map(|files| {
                Ok::<_, TlsError>((
                    PemFile::read("client_cert_file", files.cert_file)?,
                    PemFile::read("client_key_file", files.key_file)?,
                ))
            })
            .transpose()?;
        Ok(TlsFiles { ca, client_cert })
    }
}

/// A service's TLS files as read.
#[derive(Debug)]
pub(crate) struct TlsFiles<'a> {
    ca: Option<PemFile<'a>>,
    client_cert: Option<(PemFile<'a>, PemFile<'a>)>,
}

/// The contents of a service's TLS files: services whose files hold the same share a pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TlsKey {
    ca: Option<Vec<u8>>,
    client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles<'_> {
    /// What the files hold.
    pub(crate) fn key(&self) -> TlsKey {
        TlsKey {
            ca: self.ca.as_ref().map(|ca| ca.pem.clone()),
            client_cert: self
                .client_cert
                .as_ref()
                .map(|(cert, key)| (cert.pem.clone(), key.pem.clone())),
        }
    }

    /// The rustls config: `system_roots` unless a CA file is named, and the client
    /// certificate when one is.
    pub(crate) fn client_config(
        &self,
        system_roots: &Arc<RootCertStore>,
    ) -> Result<ClientConfig, TlsError> {
        let roots = match &self.ca {
            Some(ca) => Arc::new(ca.roots()?),
            None => system_roots.clone(),
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default TLS versions")
            .with_root_certificates(roots);
        let Some((cert, key)) = &self.client_cert else {
            return Ok(builder.with_no_client_auth());
        };
        builder
            .with_client_auth_cert(cert.certificates()?, key.private_key()?)
            .map_err(|error| match error {
                rustls::Error::InconsistentKeys(_) => key.mismatch(cert),
                rustls::Error::InvalidCertificate(_) => {
                    cert.error(format!("not a usable certificate: {error}"))
                }
                error => key.error(format!("not a usable private key: {error}")),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn tls_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tls")
    }

    fn config(ca: Option<&Path>, cert: &Path, key: &Path) -> Result<ClientConfig, TlsError> {
        let settings = TlsSettings {
            ca_file: ca,
            client_cert: Some(ClientCertFiles {
                cert_file: cert,
                key_file: key,
            }),
        };
        settings
            .read()?
            .client_config(&Arc::new(RootCertStore::empty()))
    }

    fn refused(result: Result<ClientConfig, TlsError>, expected: &str) {
        let err = result.expect_err("refused").to_string();
        assert!(err.contains(expected), "{err}");
    }

    #[test]
    fn a_client_certificate_and_its_key_make_a_config_that_presents_it() {
        let dir = tls_dir();
        let config = config(
            Some(&dir.join("ca.pem")),
            &dir.join("client.pem"),
            &dir.join("client.key"),
        )
        .expect("usable");
        assert!(config.client_auth_cert_resolver.has_certs());
        let plain = TlsSettings::default()
            .read()
            .expect("nothing to read")
            .client_config(&Arc::new(RootCertStore::empty()))
            .expect("usable");
        assert!(!plain.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn errors_name_the_file_that_is_wrong() {
        let dir = tls_dir();
        let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
        let missing = dir.join("missing.pem");
        refused(
            config(None, &missing, &key),
            &format!("client_cert_file {}: ", missing.display()),
        );
        refused(
            config(None, &cert, &missing),
            &format!("client_key_file {}: ", missing.display()),
        );
        refused(
            config(None, &key, &key),
            &format!("client_cert_file {}: holds no certificate", key.display()),
        );
        refused(
            config(None, &cert, &cert),
            &format!(
                "client_key_file {}: not a PEM private key file",
                cert.display()
            ),
        );
        refused(
            config(None, &cert, &dir.join("server.key")),
            &format!(
                "client_key_file {}: does not match the certificate in {}",
                dir.join("server.key").display(),
                cert.display()
            ),
        );
        refused(
            config(Some(&key), &cert, &key),
            &format!("ca_file {}: holds no certificate", key.display()),
        );
    }

    #[test]
    fn equal_contents_make_equal_keys_wherever_the_files_are() {
        let dir = tls_dir();
        let copy = tempfile::tempdir().expect("temp dir");
        std::fs::copy(dir.join("client.pem"), copy.path().join("client.pem")).expect("copy");
        let key = |cert_dir: &Path, key_file: &str| {
            TlsSettings {
                ca_file: None,
                client_cert: Some(ClientCertFiles {
                    cert_file: &cert_dir.join("client.pem"),
                    key_file: &dir.join(key_file),
                }),
            }
            .read()
            .expect("readable")
            .key()
        };
        assert_eq!(key(&dir, "client.key"), key(copy.path(), "client.key"));
        assert_ne!(key(&dir, "client.key"), key(&dir, "server.key"));
        assert_ne!(
            key(&dir, "client.key"),
            TlsSettings::default().read().expect("nothing").key()
        );
    }
}
