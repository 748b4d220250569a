//! Upstream services resolved for serving: each name with its scheme, `host:port` and
//! the pooled client that trusts what the service's TLS settings say.

use std::collections::HashMap;
use std::sync::Arc;

use archway_config::ServiceConfig;
use http::Uri;
use http::uri::{Authority, Scheme};
use metrics::Histogram;

use crate::client::{Clients, HttpClient, TlsError};
use crate::metrics::upstream_duration;

/// One upstream service.
#[derive(Debug)]
pub struct Service {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The service's `host:port`.
    pub authority: Authority,
    /// The pool its requests go through.
    pub client: HttpClient,
    /// How long it takes to answer forwarded requests.
    pub(crate) duration: Histogram,
}

/// Why a service cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The URL has no scheme or authority (config validation catches this for files).
    #[error("service {service}: url {url:?} needs a scheme and host:port")]
    BadUrl {
        /// The service name.
        service: String,
        /// Its URL.
        url: String,
    },
    /// Its CA file cannot be used.
    #[error("service {service}: {source}")]
    Tls {
        /// The service name.
        service: String,
        /// The TLS problem.
        source: TlsError,
    },
}

/// The services of one snapshot, by name.
#[derive(Debug, Default)]
pub struct Services(HashMap<String, Arc<Service>>);

impl Services {
    /// Resolves every configured service.
    pub fn build(configs: &[ServiceConfig], clients: &Clients) -> Result<Self, ServiceError> {
        configs
            .iter()
            .map(|config| Ok((config.name.clone(), Arc::new(resolve(config, clients)?))))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The service with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<Service>> {
        self.0.get(name)
    }
}

fn resolve(config: &ServiceConfig, clients: &Clients) -> Result<Service, ServiceError> {
    let bad_url = || ServiceError::BadUrl {
        service: config.name.clone(),
        url: config.url.clone(),
    };
    let uri: Uri = config.url.parse().map_err(|_| bad_url())?;
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(bad_url());
    };
    let client = clients
        .for_service(config.ca_file.as_deref())
        .map_err(|source| ServiceError::Tls {
            service: config.name.clone(),
            source,
        })?;
    Ok(Service {
        scheme: scheme.clone(),
        authority: authority.clone(),
        client,
        duration: upstream_duration(&config.name),
    })
}
