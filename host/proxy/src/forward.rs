//! Sending one request to a service: its bulkhead admits it, the balancer picks a
//! healthy instance whose breaker lets it pass, and a failed try goes again — to
//! another instance where there is one — while the method, the body, the retry count,
//! the service's retry budget and the deadline allow. Every outcome feeds the
//! instance's health and breaker. Route forwarding and plugins' calls both come here.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant as StdInstant};

use archway_config::LoadBalanceStrategy;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full, Limited};
use tokio::time::Instant;

use crate::body::{ClientBody, Handoff, Relayed, UpstreamBody};
use crate::breaker::Passed;
use crate::error::GatewayError;
use crate::pool::PooledBody;
use crate::retry::backoff;
use crate::service::{InFlight, Instance, Service};
use crate::upstream::UpstreamError;

/// A try that times out counts against its instance only when it had at least this long.
const MIN_BLAMED_TRY: Duration = Duration::from_millis(250);

/// How one request may be sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// How an instance is chosen.
    pub(crate) strategy: LoadBalanceStrategy,
    /// Whether instances' breakers are consulted and fed.
    pub(crate) breaker: bool,
    /// Tries after the first, at most.
    pub(crate) retries: u32,
    /// Whether the request may be sent again after it may have reached an upstream.
    pub(crate) resend: bool,
    /// When the whole request must be answered (the pipeline enforces it; tries that it
    /// cuts off count against their instance, and no retry waits past it).
    pub(crate) deadline: Option<Instant>,
}

/// Why no upstream answer came back.
#[derive(Debug)]
pub(crate) enum ForwardError {
    /// The service's bulkhead is full.
    Full,
    /// No instance is healthy and takes requests.
    NoInstance,
    /// Every instance that would take it has its breaker open.
    AllOpen,
    /// The last try failed.
    Upstream(UpstreamError),
}

impl ForwardError {
    /// What the client is told, and why.
    pub(crate) fn answer(&self, service: &str) -> (GatewayError, String) {
        match self {
            Self::Full => (
                GatewayError::Unavailable,
                format!("service {service} is at its request limit"),
            ),
            Self::NoInstance => (
                GatewayError::Unavailable,
                format!("no instance of service {service} is available"),
            ),
            Self::AllOpen => (
                GatewayError::CircuitOpen,
                format!("service {service} is failing; its circuit breaker is open"),
            ),
            Self::Upstream(error) => (error.gateway_error(), error.client_message().to_owned()),
        }
    }
}

/// A try that failed, kept in case it is the last.
enum Failed {
    /// The upstream answered 502, 503 or 504.
    Answered(Response<PooledBody>, InFlight),
    /// No answer came.
    Error(UpstreamError),
}

/// Sends the request `build` makes for an instance and a body, by `plan`; the answer's
/// body keeps the instance counted and the bulkhead slot held until it ends.
pub(crate) async fn forward(
    service: &Service,
    plan: Plan,
    mut body: Outgoing,
    mut build: impl FnMut(&Instance, UpstreamBody) -> Result<Request<UpstreamBody>, UpstreamError>,
) -> Result<Response<Relayed>, ForwardError> {
    let admitted = service
        .shared
        .bulkhead
        .enter()
        .await
        .map_err(|_| ForwardError::Full)?;
    service.shared.budget.earn(&service.retry_budget);
    let mut tried = Vec::new();
    let mut last = None;
    for attempt in 0..=plan.retries {
        if attempt > 0 {
            let wait = backoff(attempt - 1);
            let out_of_time = plan.deadline.is_some_and(|d| Instant::now() + wait >= d);
            if out_of_time || !service.shared.budget.spend() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        let (index, passed) = match choose(service, plan, &tried) {
            Ok(chosen) => chosen,
            Err(refused) if last.is_none() => return Err(refused),
            Err(_) => break,
        };
        let Some(upstream_body) = body.next_try() else {
            break;
        };
        let instance = &service.instances[index];
        let request = build(instance, upstream_body).map_err(ForwardError::Upstream)?;
        let in_flight = instance.start();
        let trying = Trying {
            service,
            instance,
            passed,
            started: StdInstant::now(),
            deadline: plan.deadline,
        };
        let sent = service.client.send(request).await;
        let now = StdInstant::now();
        service
            .duration
            .record((now - trying.started).as_secs_f64());
        let failed = match sent {
            Ok(response) if !retryable_status(response.status()) => {
                trying.finish(!response.status().is_server_error(), now);
                return Ok(response.map(|b| Relayed::new(b, (in_flight, admitted))));
            }
            Ok(response) => Failed::Answered(response, in_flight),
            Err(error) if !error.blames_upstream() => {
                trying.abandon();
                return Err(ForwardError::Upstream(error));
            }
            Err(error) => {
                tracing::debug!(target: "archway.upstream", service = &*service.name, instance = &*instance.id, %error, "try failed");
                Failed::Error(error)
            }
        };
        trying.finish(false, now);
        tried.push(index);
        let may_retry = match &failed {
            Failed::Error(error) if !error.may_have_reached_upstream() => body.reclaim(),
            _ => plan.resend && body.reclaim(),
        };
        last = Some(failed);
        if !may_retry {
            break;
        }
    }
    match last {
        Some(Failed::Answered(response, in_flight)) => {
            Ok(response.map(|b| Relayed::new(b, (in_flight, admitted))))
        }
        Some(Failed::Error(error)) => Err(ForwardError::Upstream(error)),
        None => Err(ForwardError::NoInstance),
    }
}

/// A try in flight. Finished, its outcome feeds the instance; dropped unfinished because
/// the route's deadline passed (the pipeline answers 504), it counts as a failure when
/// it had at least [`MIN_BLAMED_TRY`]; dropped for another reason (the client left), it
/// counts as nothing.
struct Trying<'s> {
    service: &'s Service,
    instance: &'s Instance,
    passed: Option<Passed<'s>>,
    started: StdInstant,
    deadline: Option<Instant>,
}

impl Trying<'_> {
    fn finish(mut self, succeeded: bool, now: StdInstant) {
        self.deadline = None;
        record(
            self.service,
            self.instance,
            self.passed.take(),
            succeeded,
            now,
        );
    }

    /// Ends a try that failed by the client's fault: nothing counts against the instance.
    fn abandon(mut self) {
        self.deadline = None;
    }
}

impl Drop for Trying<'_> {
    fn drop(&mut self) {
        let timed_out = self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline);
        let now = StdInstant::now();
        if timed_out && now - self.started >= MIN_BLAMED_TRY {
            record(self.service, self.instance, self.passed.take(), false, now);
        }
    }
}

/// Answers worth another try on another instance.
fn retryable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// The instance for the next try and how it passed its breaker: an untried one where
/// there is one, else any that takes requests.
fn choose<'s>(
    service: &'s Service,
    plan: Plan,
    tried: &[usize],
) -> Result<(usize, Option<Passed<'s>>), ForwardError> {
    let now = StdInstant::now();
    let up = |instance: &Instance| takes_requests(instance, now);
    let closed = |instance: &Instance| {
        !plan.breaker || instance.state.breaker.available(now, &service.breaker)
    };
    let mut lost = Vec::new();
    loop {
        let eligible =
            |index, instance: &Instance| up(instance) && closed(instance) && !lost.contains(&index);
        let untried = service.pick(plan.strategy, |index, instance| {
            eligible(index, instance) && !tried.contains(&index)
        });
        let Some(index) = untried.or_else(|| service.pick(plan.strategy, eligible)) else {
            break;
        };
        if !plan.breaker {
            return Ok((index, None));
        }
        let breaker = &service.instances[index].state.breaker;
        match breaker.pass(now, &service.breaker) {
            Some(passed) => return Ok((index, Some(passed))),
            // Another request took the half-open breaker's one probe.
            None => lost.push(index),
        }
    }
    match service.instances.iter().any(up) {
        true => Err(ForwardError::AllOpen),
        false => Err(ForwardError::NoInstance),
    }
}

/// Whether an instance takes requests: not draining, and healthy.
fn takes_requests(instance: &Instance, now: StdInstant) -> bool {
    !instance.draining && instance.state.health.is_up(now)
}

/// Feeds a try's outcome to the instance's breaker (when it passed one) and health.
fn record(
    service: &Service,
    instance: &Instance,
    passed: Option<Passed<'_>>,
    succeeded: bool,
    now: StdInstant,
) {
    let state = &instance.state;
    if let Some(passed) = passed
        && passed.record(succeeded, now, &service.breaker)
    {
        tracing::warn!(target: "archway.upstream", service = &*service.name, instance = &*instance.id, "circuit breaker opened");
    }
    if succeeded {
        state.health.succeeded();
    } else if state
        .health
        .failed(instance.probe.is_some(), &service.health, now, || {
            service
                .instances
                .iter()
                .any(|other| !std::ptr::eq(other, instance) && takes_requests(other, now))
        })
    {
        tracing::warn!(target: "archway.health", service = &*service.name, instance = &*instance.id, "instance marked unhealthy: its requests keep failing");
    }
}

/// A request body across tries: buffered bytes for each, or the client's stream for
/// the first and again while no try has read it.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Bytes every try can send.
    Buffered(Bytes),
    /// The client's stream: `ready` for the next try, or `handed` to the last one,
    /// which gives it back while unread.
    Streamed {
        ready: Option<Limited<ClientBody>>,
        handed: Option<Arc<Mutex<Option<Limited<ClientBody>>>>>,
    },
}

impl Outgoing {
    /// The client's stream, not yet handed to a try.
    pub(crate) fn streamed(stream: Limited<ClientBody>) -> Self {
        Self::Streamed {
            ready: Some(stream),
            handed: None,
        }
    }

    /// The body for the next try; `None` when the stream is gone.
    fn next_try(&mut self) -> Option<UpstreamBody> {
        match self {
            Self::Buffered(bytes) => Some(Either::Right(Full::new(bytes.clone()))),
            Self::Streamed { ready, handed } => {
                let (body, slot) = Handoff::new(ready.take()?);
                *handed = Some(slot);
                Some(Either::Left(body))
            }
        }
    }

    /// Takes the stream back from the failed try; `false` when it was read.
    fn reclaim(&mut self) -> bool {
        match self {
            Self::Buffered(_) => true,
            Self::Streamed { ready, handed } => {
                *ready = handed
                    .take()
                    .and_then(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).take());
                ready.is_some()
            }
        }
    }
}
