//! Plugins' `upstream` calls, sent to the services of the snapshot serving now through
//! the same pooled clients as the proxy's own forwarding.

use std::sync::Arc;

use arc_swap::ArcSwap;
use archway_config::LoadBalanceStrategy;
use archway_runtime::{
    ServiceCall, ServiceCallError, ServiceCallFuture, ServiceCalls, ServiceReply,
};
use http::{Request, Uri};
use http_body_util::{Either, Full};

use crate::body::{ReadError, read_whole};
use crate::service::{Service, Services};

/// The services plugins may call: the current snapshot's, swapped with it.
#[derive(Debug, Default)]
pub struct ServiceDirectory {
    services: ArcSwap<Services>,
}

impl ServiceDirectory {
    /// Calls from now on go to these services.
    pub(crate) fn serve(&self, services: Arc<Services>) {
        self.services.store(services);
    }
}

impl ServiceCalls for ServiceDirectory {
    fn call(&self, call: ServiceCall) -> ServiceCallFuture {
        let service = self.services.load().get(&call.service).cloned();
        Box::pin(async move {
            let service =
                service.ok_or_else(|| ServiceCallError::UnknownService(call.service.clone()))?;
            send(&service, call).await
        })
    }
}

/// Sends one call and reads the whole response, up to the call's body limit.
async fn send(service: &Service, call: ServiceCall) -> Result<ServiceReply, ServiceCallError> {
    let name = &call.service;
    let _admitted = service.bulkhead.enter().await.map_err(|_| {
        ServiceCallError::Unavailable(format!("service {name} is at its request limit"))
    })?;
    let instance = service
        .pick(LoadBalanceStrategy::RoundRobin)
        .ok_or_else(|| {
            ServiceCallError::Unavailable(format!("no instance of service {name} takes requests"))
        })?;
    let _in_flight = instance.start();
    let uri = Uri::builder()
        .scheme(instance.scheme.clone())
        .authority(instance.authority.clone())
        .path_and_query(call.path)
        .build()
        .map_err(|e| ServiceCallError::Invalid(format!("service {name}: {e}")))?;
    let mut request = Request::new(Either::Right(Full::new(call.body)));
    *request.method_mut() = call.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = call.headers;
    let response = service.client.send(request).await.map_err(|error| {
        tracing::debug!(target: "archway.upstream", service = name, %error, "plugin call failed");
        ServiceCallError::Unavailable(format!("service {name}: {}", error.client_message()))
    })?;
    let (parts, body) = response.into_parts();
    let limit = call.max_response_bytes;
    let body = read_whole(&parts.headers, body, limit as u64)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge => ServiceCallError::TooLarge(limit),
            ReadError::Broken(_) => {
                ServiceCallError::Unavailable(format!("service {name} broke off the response"))
            }
        })?;
    Ok(ServiceReply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}
