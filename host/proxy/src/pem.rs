//! PEM files of TLS material (certificates, CA certificates, private keys) read with
//! errors that name the setting and the file, for the upstream client and the listener.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS file (a service's or the listener's) cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{field} {path}: {reason}")]
pub struct TlsError {
    /// The setting that names the file.
    field: &'static str,
    /// The file.
    path: PathBuf,
    /// What is wrong with it.
    reason: String,
}

/// One PEM file: the setting that names it, where it is, what it held when read.
#[derive(Debug)]
pub(crate) struct PemFile<'a> {
    field: &'static str,
    path: &'a Path,
    pub(crate) pem: Vec<u8>,
}

impl<'a> PemFile<'a> {
    /// Reads the file `field` names.
    pub(crate) fn read(field: &'static str, path: &'a Path) -> Result<Self, TlsError> {
        let pem = std::fs::read(path).map_err(|e| TlsError {
            field,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self { field, path, pem })
    }

    /// An error about this file.
    pub(crate) fn error(&self, reason: impl Into<String>) -> TlsError {
        TlsError {
            field: self.field,
            path: self.path.to_owned(),
            reason: reason.into(),
        }
    }

    /// Every certificate in the file; at least one.
    pub(crate) fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = CertificateDer::pem_slice_iter(&self.pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(format!("not a PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(self.error("holds no certificate"));
        }
        Ok(certs)
    }

    /// The file's certificates as trust anchors.
    pub(crate) fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in self.certificates()? {
            roots
                .add(cert)
                .map_err(|e| self.error(format!("not a usable CA certificate: {e}")))?;
        }
        Ok(roots)
    }

    /// The file's (first) private key.
    pub(crate) fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(&self.pem)
            .map_err(|e| self.error(format!("not a PEM private key file: {e}")))
    }

    /// This key file does not hold the key of the certificate in `cert`.
    pub(crate) fn mismatch(&self, cert: &PemFile<'_>) -> TlsError {
        self.error(format!(
            "does not match the certificate in {}",
            cert.path.display()
        ))
    }
}
