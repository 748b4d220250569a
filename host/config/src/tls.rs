//! TLS termination on the gateway's listener (`[server.tls]`): the certificates it
//! presents, each for the server names a client asks for by SNI, the first one for
//! clients that name none (or a name no certificate lists).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The listener's TLS settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificates, the default one first.
    pub certificates: Vec<CertificateConfig>,
}

/// One certificate chain, its key and the server names it answers for.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// A PEM certificate chain, the server's own certificate first.
    pub cert_file: PathBuf,
    /// Its PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// The names (lower-case DNS names) whose SNI selects this certificate; the first
    /// certificate may list none, as the default.
    #[serde(default)]
    pub server_names: Vec<String>,
}

impl TlsConfig {
    /// Resolves the certificate files against the config directory.
    pub(crate) fn resolve(&mut self, base: &Path) {
        for certificate in &mut self.certificates {
            for path in [&mut certificate.cert_file, &mut certificate.key_file] {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
    }

    /// Every file the certificates are read from, for the file watcher.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.certificates
            .iter()
            .flat_map(|c| [c.cert_file.as_path(), c.key_file.as_path()])
    }

    /// What is wrong with these settings, one line each.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.certificates.is_empty() {
            problems.push("certificates lists no certificate".to_owned());
        }
        let mut seen = HashSet::new();
        for (index, certificate) in self.certificates.iter().enumerate() {
            if index > 0 && certificate.server_names.is_empty() {
                problems.push(format!(
                    "certificate {} ({}) lists no server_names, so no client would get it \
                     (only the first certificate is the default)",
                    index + 1,
                    certificate.cert_file.display()
                ));
            }
            for name in &certificate.server_names {
                if !is_dns_name(name) {
                    problems.push(format!(
                        "server name {name:?} must be a lower-case DNS name (letters, digits, - and .)"
                    ));
                } else if !seen.insert(name.as_str()) {
                    problems.push(format!(
                        "server name {name} is listed by more than one certificate"
                    ));
                }
            }
        }
        problems
    }
}

/// Lower-case labels of letters, digits and `-`, joined by dots.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: &[&str]) -> CertificateConfig {
        CertificateConfig {
            cert_file: PathBuf::from("a.pem"),
            key_file: PathBuf::from("a.key"),
            server_names: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn only_the_first_certificate_may_list_no_names_and_names_are_unique_dns_names() {
        let good = TlsConfig {
            certificates: vec![certificate(&[]), certificate(&["api.example.com"])],
        };
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        let bad = TlsConfig {
            certificates: vec![
                certificate(&["Api.example.com"]),
                certificate(&[]),
                certificate(&["a.example", "a.example"]),
            ],
        };
        let problems = bad.problems().join("\n");
        assert!(
            problems.contains("\"Api.example.com\" must be a lower-case DNS name"),
            "{problems}"
        );
        assert!(
            problems.contains("certificate 2 (a.pem) lists no server_names"),
            "{problems}"
        );
        assert!(
            problems.contains("a.example is listed by more than one certificate"),
            "{problems}"
        );
        let none = TlsConfig {
            certificates: vec![],
        };
        assert_eq!(none.problems(), ["certificates lists no certificate"]);
    }
}
