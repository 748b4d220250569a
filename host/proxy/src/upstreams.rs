//! What outlives snapshots on the upstream side: the pooled clients, and per service and
//! instance the state its requests build up (in flight, health, breaker, retry budget,
//! bulkhead), so a reload or an admin change keeps it; and the health probes, which
//! follow the snapshot serving now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use archway_config::{Endpoint, ServiceConfig};

use crate::bulkhead::Bulkhead;
use crate::client::Clients;
use crate::health::HealthChecks;
use crate::retry::RetryBudget;
use crate::service::{InstanceState, ServiceState, Services};
use crate::traffic::Traffic;

/// The gateway's upstream state, shared by every snapshot it builds.
#[derive(Debug)]
pub struct Upstreams {
    clients: Arc<Clients>,
    services: Mutex<HashMap<String, Arc<ServiceState>>>,
    /// What each service served, kept across snapshots.
    traffic: Mutex<HashMap<String, Arc<Traffic>>>,
    /// By service, instance id and base URL: a moved instance starts afresh.
    instances: Mutex<HashMap<(String, String, String), Arc<InstanceState>>>,
    checks: HealthChecks,
}

impl Default for Upstreams {
    /// Upstream state with clients that trust the system's roots.
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl Upstreams {
    /// Upstream state whose services reach their instances through `clients`.
    pub fn new(clients: Arc<Clients>) -> Self {
        Self {
            clients,
            services: Mutex::default(),
            traffic: Mutex::default(),
            instances: Mutex::default(),
            checks: HealthChecks::default(),
        }
    }

    /// The client pools.
    pub fn clients(&self) -> &Arc<Clients> {
        &self.clients
    }

    /// The state of a service's instance, taken up from earlier snapshots when the
    /// instance was there (with the same URL); its registered status applied.
    pub(crate) fn instance(&self, service: &str, endpoint: &Endpoint) -> Arc<InstanceState> {
        let key = (
            service.to_owned(),
            endpoint.id.clone(),
            endpoint.url.clone(),
        );
        let mut instances = self
            .instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let state = instances
            .entry(key)
            .or_insert_with(|| Arc::new(InstanceState::new(service, endpoint)));
        state.health.register(endpoint.status);
        state.clone()
    }

    /// The shared state of a service; a bulkhead whose caps changed starts afresh.
    pub(crate) fn service(&self, config: &ServiceConfig) -> Arc<ServiceState> {
        let caps = (config.max_concurrent_requests, config.max_waiting_requests);
        let mut services = self.services.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = || {
            Arc::new(ServiceState {
                bulkhead: Bulkhead::new(caps.0, caps.1),
                budget: RetryBudget::new(&config.retry_budget),
            })
        };
        let state = services.entry(config.name.clone()).or_insert_with(&fresh);
        if !state.bulkhead.has_caps(caps.0, caps.1) {
            *state = fresh();
        }
        state.clone()
    }

    /// The traffic counts of a service.
    pub(crate) fn traffic(&self, service: &str) -> Arc<Traffic> {
        self.traffic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(service.to_owned())
            .or_default()
            .clone()
    }

    /// Serves `services` from now on: their instances' registered statuses apply, state
    /// of services and instances no longer there is forgotten, and probes follow them.
    pub(crate) fn serve(&self, services: &Services) {
        for (_, service) in services.iter() {
            for instance in &service.instances {
                instance.state.health.register(instance.status);
            }
        }
        self.services
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|name, _| services.get(name).is_some());
        self.traffic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|name, _| services.get(name).is_some());
        self.instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(name, _, _), state| {
                services.get(name).is_some_and(|service| {
                    service
                        .instances
                        .iter()
                        .any(|instance| Arc::ptr_eq(&instance.state, state))
                })
            });
        self.checks.follow(services);
    }
}
