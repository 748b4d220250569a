//! Upstream services resolved for serving: each name with its instances (scheme and
//! `host:port`, weight, health check), the balancer that picks one per request, the
//! settings of its health checks, breakers and retry budget, and the pooled client that
//! trusts what the service's TLS settings say. What requests build up (in flight,
//! health, breakers, budget, bulkhead) lives in [`Upstreams`] and outlives snapshots.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use archway_config::{
    BreakerConfig, Endpoint, HealthConfig, LoadBalanceStrategy, Probe, RetryBudgetConfig,
    ServiceConfig,
};
use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};
use metrics::Histogram;

use crate::balance::Balancer;
use crate::breaker::Breaker;
use crate::bulkhead::Bulkhead;
use crate::client::{HttpClient, TlsError};
use crate::health::Health;
use crate::metrics::upstream_duration;
use crate::retry::RetryBudget;
use crate::traffic::Traffic;
use crate::upstreams::Upstreams;

/// One upstream service.
#[derive(Debug)]
pub struct Service {
    /// Its name.
    pub(crate) name: String,
    /// Its instances, in config order.
    pub(crate) instances: Vec<Instance>,
    balancer: Balancer,
    /// Its bulkhead and retry budget.
    pub(crate) shared: Arc<ServiceState>,
    /// What it served, for the contract's metrics.
    pub(crate) traffic: Arc<Traffic>,
    /// When its instances are marked unhealthy.
    pub(crate) health: HealthConfig,
    /// Its instances' breaker settings.
    pub(crate) breaker: BreakerConfig,
    /// Its retry budget's settings.
    pub(crate) retry_budget: RetryBudgetConfig,
    /// The pool its requests go through.
    pub client: HttpClient,
    /// How long it takes to answer forwarded requests.
    pub(crate) duration: Histogram,
}

/// What a service's requests share across snapshots: the cap on them in flight and the
/// budget their retries spend.
#[derive(Debug)]
pub(crate) struct ServiceState {
    /// The cap on requests in flight to it.
    pub(crate) bulkhead: Bulkhead,
    /// Its retry budget.
    pub(crate) budget: RetryBudget,
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
    /// Its status as registered.
    pub(crate) status: archway_config::InstanceStatus,
    /// Its active health check.
    pub(crate) probe: Option<Probe>,
    /// What its requests build up.
    pub(crate) state: Arc<InstanceState>,
}

/// What requests to one instance build up, kept across snapshots.
#[derive(Debug)]
pub(crate) struct InstanceState {
    /// Requests sent to it and not yet answered whole.
    in_flight: AtomicUsize,
    /// Whether it takes requests.
    pub(crate) health: Health,
    /// Its circuit breaker.
    pub(crate) breaker: Breaker,
}

impl InstanceState {
    /// The state of a newly registered instance of `service`.
    pub(crate) fn new(service: &str, endpoint: &Endpoint) -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            health: Health::new(service, &endpoint.id, endpoint.status),
            breaker: Breaker::default(),
        }
    }
}

impl Instance {
    /// The instance for `endpoint`, with `state`; `None` when its URL lacks a scheme or
    /// authority.
    pub(crate) fn new(endpoint: &Endpoint, state: Arc<InstanceState>) -> Option<Self> {
        let uri: Uri = endpoint.url.parse().ok()?;
        Some(Self {
            id: endpoint.id.clone(),
            scheme: uri.scheme()?.clone(),
            authority: uri.authority()?.clone(),
            weight: endpoint.weight,
            draining: endpoint.status == archway_config::InstanceStatus::Draining,
            status: endpoint.status,
            probe: endpoint.probe.clone(),
            state,
        })
    }

    /// The URI of `path_and_query` on this instance.
    pub(crate) fn uri(&self, path_and_query: PathAndQuery) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }

    /// Counts a request in flight to this instance until the guard drops.
    pub(crate) fn start(&self) -> InFlight {
        self.state.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.state.clone())
    }

    /// Requests in flight to it now.
    pub(crate) fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::Relaxed)
    }
}

/// A request in flight to an instance, counted until dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<InstanceState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Service {
    /// The instance for the next request by `strategy` among those `eligible` says may
    /// take it (by index).
    pub(crate) fn pick(
        &self,
        strategy: LoadBalanceStrategy,
        eligible: impl Fn(usize, &Instance) -> bool,
    ) -> Option<usize> {
        self.balancer.pick(&self.instances, strategy, eligible)
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
    /// Its TLS files (CA, client certificate or key) cannot be used.
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
    /// Resolves every configured service, taking up the state `upstreams` keeps.
    pub fn build(configs: &[ServiceConfig], upstreams: &Upstreams) -> Result<Self, ServiceError> {
        configs
            .iter()
            .map(|config| Ok((config.name.clone(), Arc::new(resolve(config, upstreams)?))))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The service with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<Service>> {
        self.0.get(name)
    }

    /// How many instances take requests now, of `service` or of all when `None`.
    pub fn healthy_instances(&self, service: Option<&str>) -> usize {
        let now = std::time::Instant::now();
        self.0
            .iter()
            .filter(|(name, _)| service.is_none_or(|s| s == name.as_str()))
            .flat_map(|(_, service)| &service.instances)
            .filter(|instance| instance.state.health.is_up(now))
            .count()
    }

    /// Whether instance `id` of service `name` takes requests now (its registered status
    /// and what health checks and ejections concluded); `None` when there is no such one.
    pub fn instance_up(&self, name: &str, id: &str) -> Option<bool> {
        let instance = self.get(name)?.instances.iter().find(|i| i.id == id)?;
        Some(instance.state.health.is_up(std::time::Instant::now()))
    }

    /// Every service, with its name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Arc<Service>)> {
        self.0
            .iter()
            .map(|(name, service)| (name.as_str(), service))
    }
}

fn resolve(config: &ServiceConfig, upstreams: &Upstreams) -> Result<Service, ServiceError> {
    let instances = config
        .endpoints()
        .into_iter()
        .map(|endpoint| {
            let state = upstreams.instance(&config.name, &endpoint);
            Instance::new(&endpoint, state).ok_or(ServiceError::BadUrl {
                service: config.name.clone(),
                url: endpoint.url,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let client = upstreams
        .clients()
        .for_service(config.into())
        .map_err(|source| ServiceError::Tls {
            service: config.name.clone(),
            source,
        })?;
    Ok(Service {
        name: config.name.clone(),
        instances,
        balancer: Balancer::default(),
        shared: upstreams.service(config),
        traffic: upstreams.traffic(&config.name),
        health: config.health.clone(),
        breaker: config.circuit_breaker.clone(),
        retry_budget: config.retry_budget.clone(),
        client,
        duration: upstream_duration(&config.name),
    })
}
