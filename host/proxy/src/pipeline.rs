//! The request pipeline, written once. Each phase either hands the request on or ends it
//! with a response (`ControlFlow::Break`); plugins run in the order the route lists
//! them and the first deny ends the chain.
//!
//! ```text
//! check path -> route -> rate limit -> body limit -> authenticate* -> authorize (permissions, plugins*)
//!   -> transform-request* -> dispatch (upstream | handler) -> transform-response* (reverse)
//! ```

use std::net::IpAddr;
use std::ops::ControlFlow::{self, Break, Continue};

use archway_config::FailurePolicy;
use archway_runtime::{CallResult, Denial, Plugin, RequestContext, ResponseContext};
use archway_store::Store;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;

use crate::body::{ProxyBody, full};
use crate::error::{GatewayError, envelope};
use crate::limit;
use crate::path;
use crate::route::{Dispatch, Route};
use crate::snapshot::Snapshot;
use crate::upstream::{self, Upstream};

/// The pipeline's phases, named in logs when a plugin fails.
#[derive(Clone, Copy, Debug)]
pub enum Phase {
    /// Establishing the principal.
    Authenticate,
    /// Checking permissions and policies.
    Authorize,
    /// Editing the request.
    TransformRequest,
    /// Producing the response (upstream or handler).
    Dispatch,
    /// Editing the response.
    TransformResponse,
}

type Flow<T> = ControlFlow<Response<ProxyBody>, T>;

/// Runs one request through the pipeline to its response.
pub async fn run(
    snapshot: &Snapshot,
    upstream: &Upstream,
    limits: Option<&Store>,
    request: Request<Incoming>,
    client_ip: IpAddr,
) -> (Response<ProxyBody>, Option<std::sync::Arc<str>>) {
    let (parts, body) = request.into_parts();
    let path = match path::check(parts.uri.path()) {
        Ok(path) => path,
        Err(why) => return (GatewayError::BadRequest.response(why), None),
    };
    let Some(matched) = snapshot.router.find(&parts.method, path) else {
        let msg = format!("no route for {} {path}", parts.method);
        return (GatewayError::NotFound.response(&msg), None);
    };
    let route = matched.route;
    let counted = match limit::check(limits, &route, client_ip).await {
        Continue(counted) => counted,
        Break(response) => return (response, Some(route.id.clone())),
    };
    let mut context = RequestContext {
        method: parts.method,
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        client_ip,
        route_id: route.id.clone(),
        params: matched.params,
        tenant: None,
        principal: None,
        body: None,
    };
    let mut response = match through_plugins(&route, upstream, &mut context, body).await {
        Continue(response) | Break(response) => response,
    };
    if let Some(counted) = &counted {
        limit::report(response.headers_mut(), counted);
    }
    (response, Some(route.id.clone()))
}

async fn through_plugins(
    route: &Route,
    upstream: &Upstream,
    context: &mut RequestContext,
    body: Incoming,
) -> Flow<Response<ProxyBody>> {
    let stream = read_body(route, context, body).await?;
    authenticate(route, context)?;
    authorize(route, context)?;
    transform_request(route, context)?;
    let response = dispatch(route, upstream, context, stream).await?;
    transform_response(route, context, response)
}

/// Enforces the body limit; buffers the body when a plugin on the route reads it.
async fn read_body(
    route: &Route,
    context: &mut RequestContext,
    body: Incoming,
) -> Flow<Option<Incoming>> {
    let declared = context
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > route.max_body_bytes) {
        return Break(
            GatewayError::PayloadTooLarge.response("request body is over the route's limit"),
        );
    }
    if !route.buffers_body {
        return Continue(Some(body));
    }
    let limit = usize::try_from(route.max_body_bytes).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            context.body = Some(collected.to_bytes());
            Continue(None)
        }
        Err(_) => {
            Break(GatewayError::PayloadTooLarge.response("request body is over the route's limit"))
        }
    }
}

fn authenticate(route: &Route, context: &mut RequestContext) -> Flow<()> {
    for plugin in &route.authenticate {
        if let Some(Some(principal)) = decide(
            route,
            Phase::Authenticate,
            plugin,
            plugin.authenticate(context),
        )? {
            context.tenant = principal.tenant.clone();
            context.principal = Some(principal);
            break;
        }
    }
    if route.config.requires_auth && context.principal.is_none() {
        return Break(GatewayError::Unauthenticated.response("authentication required"));
    }
    Continue(())
}

fn authorize(route: &Route, context: &mut RequestContext) -> Flow<()> {
    let required = &route.config.required_permissions;
    if !required.is_empty() {
        let Some(principal) = &context.principal else {
            return Break(GatewayError::Unauthenticated.response("authentication required"));
        };
        let has = |p: &String| principal.permissions.contains(p);
        let allowed = if route.config.permission_check_strategy == "all" {
            required.iter().all(has)
        } else {
            required.iter().any(has)
        };
        if !allowed {
            return Break(GatewayError::Forbidden.response("insufficient permissions"));
        }
    }
    for plugin in &route.authorize {
        decide(route, Phase::Authorize, plugin, plugin.authorize(context))?;
    }
    Continue(())
}

fn transform_request(route: &Route, context: &mut RequestContext) -> Flow<()> {
    for plugin in &route.transform {
        if let Some(changes) = decide(
            route,
            Phase::TransformRequest,
            plugin,
            plugin.on_request(context),
        )? {
            changes.apply(context);
        }
    }
    Continue(())
}

async fn dispatch(
    route: &Route,
    upstream: &Upstream,
    context: &mut RequestContext,
    stream: Option<Incoming>,
) -> Flow<Response<ProxyBody>> {
    match &route.dispatch {
        Dispatch::Handler(plugin) => {
            let Some(answer) = decide(route, Phase::Dispatch, plugin, plugin.handle(context))?
            else {
                return Break(GatewayError::Internal.response("handler skipped after failure"));
            };
            let mut response = Response::new(full(answer.body));
            *response.status_mut() = answer.status;
            *response.headers_mut() = answer.headers;
            Continue(response)
        }
        Dispatch::Upstream { authority } => {
            let upstream_path = route.target.path(&context.path, &context.params);
            // Response transforms may read the request headers, so keep them when any run.
            let mut headers = if route.transform.is_empty() {
                std::mem::take(&mut context.headers)
            } else {
                context.headers.clone()
            };
            let body = match (context.body.clone(), stream) {
                (Some(buffered), _) => {
                    headers.remove(header::CONTENT_LENGTH);
                    Either::Right(Full::new(buffered))
                }
                (None, Some(stream)) => {
                    let limit = usize::try_from(route.max_body_bytes).unwrap_or(usize::MAX);
                    Either::Left(Limited::new(stream, limit))
                }
                (None, None) => Either::Right(Full::new(Bytes::new())),
            };
            let request = match upstream::request(context, authority, &upstream_path, headers, body)
            {
                Ok(request) => request,
                Err(error) => return Break(error.response("cannot build the upstream request")),
            };
            match upstream.send(request, route.timeout).await {
                Ok(response) => Continue(response.map(Either::Left)),
                Err(error) => Break(error.response(upstream_message(error))),
            }
        }
    }
}

fn upstream_message(error: GatewayError) -> &'static str {
    match error {
        GatewayError::Timeout => "upstream timed out",
        _ => "upstream unavailable",
    }
}

fn transform_response(
    route: &Route,
    context: &mut RequestContext,
    response: Response<ProxyBody>,
) -> Flow<Response<ProxyBody>> {
    if route.transform.is_empty() {
        return Continue(response);
    }
    let (mut parts, mut body) = response.into_parts();
    let mut head = ResponseContext {
        status: parts.status,
        headers: std::mem::take(&mut parts.headers),
    };
    for plugin in route.transform.iter().rev() {
        let result = plugin.on_response(context, &mut head);
        if let Some(mut changes) = decide(route, Phase::TransformResponse, plugin, result)? {
            changes.apply_head(&mut head);
            if let Some(new_body) = changes.body.take() {
                head.headers.remove(header::CONTENT_LENGTH);
                body = full(new_body);
            }
        }
    }
    parts.status = head.status;
    parts.headers = head.headers;
    Continue(Response::from_parts(parts, body))
}

/// A plugin's answer as pipeline flow: its value, its deny as the response, or — when
/// the call broke — the route's failure policy (`None` when skipped).
fn decide<T>(
    route: &Route,
    phase: Phase,
    plugin: &Plugin,
    result: CallResult<T>,
) -> Flow<Option<T>> {
    match result {
        Ok(Ok(value)) => Continue(Some(value)),
        Ok(Err(denial)) => Break(denial_response(denial)),
        Err(error) => {
            tracing::error!(
                target: "archway.plugin",
                plugin = plugin.name(), route = &*route.id, phase = ?phase, %error, "plugin call failed"
            );
            match route.config.plugin_failure {
                FailurePolicy::Skip => Continue(None),
                FailurePolicy::Closed => {
                    Break(GatewayError::Internal.response("a plugin on this route failed"))
                }
            }
        }
    }
}

/// A deny as the client sees it: the plugin's own body, or the gateway envelope.
fn denial_response(denial: Denial) -> Response<ProxyBody> {
    let mut response = if denial.body.is_empty() {
        let code = GatewayError::for_status(denial.status).code();
        envelope(denial.status, code, &denial.message)
    } else {
        let mut response = Response::new(full(denial.body));
        *response.status_mut() = denial.status;
        response
    };
    extend_headers(response.headers_mut(), denial.headers);
    response
}

fn extend_headers(target: &mut HeaderMap, extra: HeaderMap) {
    for (name, value) in extra {
        if let Some(name) = name {
            target.insert(name, value);
        }
    }
}
