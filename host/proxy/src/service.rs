//! Upstream services resolved for serving: each name with its instances (scheme and
//! `host:port`), the balancer that picks one per request, and the pooled client that
//! trusts what the service's TLS settings say.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use archway_config::{LoadBalanceStrategy, ServiceConfig};
use http::Uri;
use http::uri::{Authority, Scheme};
use metrics::Histogram;

use crate::balance::Balancer;
use crate::bulkhead::Bulkhead;
use crate::client::{Clients, HttpClient, TlsError};
use crate::metrics::upstream_duration;

/// One upstream service.
#[derive(Debug)]
pub struct Service {
    /// Its instances, in config order.
    pub(crate) instances: Vec<Instance>,
    balancer: Balancer,
    /// The cap on requests in flight to it.
    pub(crate) bulkhead: Bulkhead,
    /// The pool its requests go through.
    pub client: HttpClient,
    /// How long it takes to answer forwarded requests.
    pub(crate) duration: Histogram,
}

/// One instance of a service.
#[derive(Debug)]
pub struct Instance {
    /// Its id (the service's name for a service with one `url`).
    pub id: String,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Its `host:port`.
    pub authority: Authority,
    /// Its share under `weighted` balancing.
    pub(crate) weight: u32,
    /// Whether it takes no new requests.
    pub(crate) draining: bool,
    /// Requests sent to it and not yet answered (response head).
    in_flight: AtomicUsize,
}

impl Instance {
    /// The instance at `url` (`scheme://host:port`); `None` when the URL lacks either.
    pub(crate) fn new(id: &str, url: &str, weight: u32, draining: bool) -> Option<Self> {
        let uri: Uri = url.parse().ok()?;
        Some(Self {
            id: id.to_owned(),
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
            weight,
            draining,
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Counts a request in flight to this instance until the guard drops.
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Requests in flight to it now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// A request in flight to an instance, counted until dropped.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Service {
    /// The instance for the next request by `strategy`; `None` when none takes requests.
    pub(crate) fn pick(&self, strategy: LoadBalanceStrategy) -> Option<&Instance> {
        self.balancer.pick(&self.instances, strategy)
    }
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
    let instances = config
        .endpoints()
        .into_iter()
        .map(|endpoint| {
            Instance::new(
                &endpoint.id,
                &endpoint.url,
                endpoint.weight,
                endpoint.draining,
            )
            .ok_or(ServiceError::BadUrl {
                service: config.name.clone(),
                url: endpoint.url,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let client = clients
        .for_service(config.ca_file.as_deref())
        .map_err(|source| ServiceError::Tls {
            service: config.name.clone(),
            source,
        })?;
    Ok(Service {
        instances,
        balancer: Balancer::default(),
        bulkhead: Bulkhead::new(config.max_concurrent_requests, config.max_waiting_requests),
        client,
        duration: upstream_duration(&config.name),
    })
}
