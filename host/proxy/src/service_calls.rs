//! Plugins' `upstream` calls, sent to the services of the snapshot serving now through
//! the same balancer, breakers, bulkheads and pooled clients as the proxy's own
//! forwarding.

use std::sync::Arc;

use arc_swap::ArcSwap;
use archway_config::LoadBalanceStrategy;
use archway_runtime::{
    ServiceCall, ServiceCallError, ServiceCallFuture, ServiceCalls, ServiceReply,
};
use http::Request;

use crate::body::{ReadError, read_whole};
use crate::forward::{ForwardError, Outgoing, Plan, forward};
use crate::retry;
use crate::service::{Service, Services};
use crate::upstream::UpstreamError;

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

/// Sends one call through the service's balancer, breakers and bulkhead (one retry when
/// the method allows it) and reads the whole response, up to the call's body limit.
async fn send(service: &Service, call: ServiceCall) -> Result<ServiceReply, ServiceCallError> {
    let name = &call.service;
    let plan = Plan {
        strategy: LoadBalanceStrategy::RoundRobin,
        breaker: true,
        retries: 1,
        resend: retry::may_resend(&call.method, false),
        deadline: None,
    };
    let (method, path, headers) = (call.method, call.path, call.headers);
    let forwarded = forward(
        service,
        plan,
        Outgoing::Buffered(call.body),
        |instance, body| {
            let uri =
                instance
                    .uri(path.clone())
                    .map_err(|error| UpstreamError::InvalidRequest {
                        authority: instance.authority.clone(),
                        reason: error.to_string(),
                    })?;
            let mut request = Request::new(body);
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri;
            *request.headers_mut() = headers.clone();
            Ok(request)
        },
    )
    .await;
    let response = forwarded.map_err(|error| {
        tracing::debug!(target: "archway.upstream", service = name, ?error, "plugin call failed");
        match error {
            ForwardError::Upstream(UpstreamError::InvalidRequest { reason, .. }) => {
                ServiceCallError::Invalid(format!("service {name}: {reason}"))
            }
            other => ServiceCallError::Unavailable(other.answer(name).1),
        }
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
