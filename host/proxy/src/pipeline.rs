//! The request pipeline, written once. Each phase either hands the request on or ends it
//! with a response (`ControlFlow::Break`); plugins run in the order the route lists
//! them, the first deny ends the chain, and the route's `timeout_seconds` bounds
//! everything after routing.
//!
//! ```text
//! admit head (limits, Host) -> client address (trusted proxies) -> canonical path
//!   -> CORS preflight (answered here) -> route and version (client identity and
//!   hop-by-hop headers removed) -> route-wide and per-address limits
//!   -> body limit -> one credential -> authenticate* (+ permissions of its roles)
//!   -> per-caller limits (principal and tenant, or address) -> principal required?
//!   -> quotas of the principal -> tenant (the principal's, else claimed by header or
//!   host) and its limit -> authorize (permissions, plugins*) -> the tenant's policy
//!   plugins* (within its call cap) -> identity headers
//!   -> response cache (a hit answers here, skipping what follows up to compression)
//!   -> transform-request* -> dispatch -> transform-response* (reverse) -> kept by the cache
//!   -> compression (by Accept-Encoding)
//!
//! dispatch: a handler plugin, or the upstream through `forward`: bulkhead -> healthy
//!   instance with its breaker closed (balancer) -> pooled client -> retries (budget)
//!
//! a WebSocket handshake on a route with `websocket = true` takes the same path, its
//! upgrade kept for the upstream; the server splices a 101 answer into a tunnel.
//! ```
//!
//! Plugin calls (and the limits' store calls) are boxed where they are made: their
//! futures are kilobytes, and unboxed they would make every request's future, which is
//! moved several times on its way, that large on routes that never call them.

use std::net::IpAddr;
use std::ops::ControlFlow::{self, Break, Continue};
use std::sync::Arc;

use archway_config::{ErrorFormat, FailurePolicy};
use archway_runtime::{
    CallResult, Denial, Plugin, PluginSpan, Principal, RequestHead, ResponseHead, strip_hop_by_hop,
};
use archway_store::Store;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::Limited;
use hyper::body::Body;
use tokio::time::Instant;

use crate::admit;
use crate::body::{ClientBody, ProxyBody, ReadError, declared_length, full, read_whole};
use crate::cache::ResponseCache;
use crate::client_ip::{self, Peer};
use crate::compress;
use crate::error::{GatewayError, envelope};
use crate::forward::{ForwardError, Outgoing, Plan, forward};
use crate::limit;
use crate::path;
use crate::retry;
use crate::route::{Dispatch, Route};
use crate::router::Miss;
use crate::snapshot::{RoleGrants, Snapshot};
use crate::tenants::Policies;
use crate::tunnel::Upgrade;
use crate::upstream;

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

/// Request bodies up to this size are read before they are forwarded on routes that
/// retry, so a retry can send them again.
const REPLAY_BYTES: u64 = 64 * 1024;

/// A request's answer, and what the access log and metrics say about it.
pub struct Answered {
    /// The response for the client.
    pub response: Response<ProxyBody>,
    /// The route that matched, if one did.
    pub route: Option<Arc<Route>>,
    /// The client's address (see `client_ip`); the peer's when the head was refused.
    pub client: IpAddr,
    /// Who called, and the plugin calls made.
    pub seen: Seen,
}

/// What the pipeline learnt on the way: the caller and, for a traced request, its
/// plugin calls.
#[derive(Debug, Default)]
pub struct Seen {
    /// The principal's subject.
    pub subject: Option<String>,
    /// The request's tenant.
    pub tenant: Option<String>,
    /// The plugin calls, when the request is traced.
    pub spans: Vec<PluginSpan>,
}

/// Runs one request that arrived from `peer` through the pipeline to its response;
/// a `traced` request records its plugin calls.
pub async fn run(
    snapshot: &Snapshot,
    limits: Option<&Store>,
    cache: &ResponseCache,
    request: Request<ClientBody>,
    peer: Peer,
    traced: bool,
) -> Answered {
    let (mut parts, body) = request.into_parts();
    if let Err((error, why)) = admit::check(&snapshot.config().server, &parts) {
        let format = format_before_routing(snapshot, &parts);
        let response = error.response(format, why);
        let client = peer.address;
        return Answered {
            response,
            route: None,
            client,
            seen: Seen::default(),
        };
    }
    let trusted = &snapshot.config().server.trusted_proxies;
    let client = client_ip::resolve(peer, &mut parts.headers, trusted);
    let request = Admitted {
        parts,
        body,
        client,
        traced,
        admin_listener: peer.admin,
    };
    let (response, route, seen) = answer(snapshot, limits, cache, request).await;
    Answered {
        response,
        route,
        client,
        seen,
    }
}

/// A request whose head was admitted, from the client at `client`.
struct Admitted {
    parts: http::request::Parts,
    body: ClientBody,
    client: IpAddr,
    traced: bool,
    /// Whether it came in on the admin listener.
    admin_listener: bool,
}

/// Routes an admitted request and answers it; also returns the route that matched and
/// what was seen on the way.
async fn answer(
    snapshot: &Snapshot,
    limits: Option<&Store>,
    cache: &ResponseCache,
    request: Admitted,
) -> (Response<ProxyBody>, Option<Arc<Route>>, Seen) {
    let Admitted {
        parts,
        body,
        client: client_ip,
        traced,
        admin_listener,
    } = request;
    // With an admin listener, admin routes are found there only and others only here.
    let separate = snapshot.config().server.admin_listen.is_some();
    let here = |route: &Route| !separate || route.admin == admin_listener;
    let upgrade = Upgrade::requested(&parts.headers);
    let unmatched = || snapshot.config().unmatched_error_format(parts.uri.path());
    let path = match path::canonical(parts.uri.path()) {
        Ok(path) => path,
        Err(why) => {
            let refused = GatewayError::BadRequest.response(unmatched(), why);
            return (refused, None, Seen::default());
        }
    };
    let origin = parts.headers.get(header::ORIGIN).cloned();
    if let Some(origin) = &origin
        && let Some(requested) = preflight_method(&parts.method, &parts.headers)
        && let Ok((matched, _)) = snapshot
            .router()
            .find_request(&requested, &path, &parts.headers)
        && here(&matched.route)
        && let Some(cors) = &matched.route.cors
    {
        let answer = cors.preflight(origin, &requested).unwrap_or_else(|| {
            let refused = "this origin or method is not allowed here";
            matched.route.error(GatewayError::Forbidden, refused)
        });
        return (answer, Some(matched.route.clone()), Seen::default());
    }
    let (matched, path) = match snapshot
        .router()
        .find_request(&parts.method, &path, &parts.headers)
    {
        Ok(found) if here(&found.0.route) => found,
        Ok(_) | Err(Miss::NoRoute) => {
            let msg = format!("no route for {} {path}", parts.method);
            let missed = GatewayError::NotFound.response(unmatched(), &msg);
            return (missed, None, Seen::default());
        }
        Err(Miss::NoVersion { route, version }) => {
            let msg = format!("version {version} of {path} does not exist");
            let missed = route.error(GatewayError::NotFound, &msg);
            return (missed, Some(route), Seen::default());
        }
    };
    let route = matched.route;
    let claimed = match snapshot.tenants().claimed(&parts) {
        Ok(claimed) => claimed,
        Err(why) => {
            return (
                route.error(GatewayError::BadRequest, &why),
                Some(route),
                Seen::default(),
            );
        }
    };
    let mut counted = None;
    let method = parts.method.clone();
    let accept = accepted_encodings(&route, &parts.headers);
    let upgrade = upgrade.filter(|_| route.config.websocket);
    let mut seen = Seen::default();
    let mut response = 'answer: {
        if let Break(refused) = limit::check_client(limits, &route, client_ip, &mut counted).await {
            break 'answer refused;
        }
        let deadline = Instant::now() + route.timeout;
        let mut head = RequestHead {
            method: parts.method,
            path: path.to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            client_ip,
            route: route.info.clone(),
            params: matched.params,
            tenant: None,
            principal: None,
            body: None,
            deadline: Some(deadline),
            spans: traced.then(Vec::new),
            sample: fastrand::f64(),
        };
        for name in route.identity.all() {
            head.headers.remove(name);
        }
        // The client's `Connection` header and the headers it names describe its hop to
        // the gateway; applied before any plugin runs, they cannot strip a header the
        // gateway or a plugin sets later.
        strip_hop_by_hop(&mut head.headers);
        let edge = Edge { limits, cache };
        let handled = through_plugins(
            &route,
            snapshot,
            edge,
            Caller {
                head: &mut head,
                claimed,
            },
            body,
            &mut counted,
            upgrade,
        );
        let response = match tokio::time::timeout_at(deadline, handled).await {
            Ok(Continue(response) | Break(response)) => response,
            Err(_) => route.error(GatewayError::Timeout, "the route's timeout passed"),
        };
        seen = Seen {
            subject: head.principal.take().map(|principal| principal.subject),
            tenant: head.tenant.take(),
            spans: head.spans.take().unwrap_or_default(),
        };
        response
    };
    if let Some(counted) = &counted {
        limit::report(response.headers_mut(), counted);
    }
    // Every answer on a route with CORS rules carries them, the gateway's own errors too.
    if let (Some(cors), Some(origin)) = (&route.cors, &origin) {
        cors.decorate(origin, response.headers_mut());
    }
    let response = compress::respond(&route, &method, &accept, response);
    (response, Some(route), seen)
}

/// The error format for a request refused before routing: its route's when its path is
/// canonical and routes, else the one for unmatched paths.
fn format_before_routing(snapshot: &Snapshot, parts: &http::request::Parts) -> ErrorFormat {
    let path = parts.uri.path();
    path::canonical(path)
        .ok()
        .and_then(|path| snapshot.router().find(&parts.method, &path))
        .map_or_else(
            || snapshot.config().unmatched_error_format(path),
            |matched| matched.route.config.error_format,
        )
}

/// The request's `Accept-Encoding` values, when the route compresses (none otherwise).
fn accepted_encodings(route: &Route, headers: &HeaderMap) -> Vec<HeaderValue> {
    match route.compress_min_bytes {
        Some(_) => headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .cloned()
            .collect(),
        None => Vec::new(),
    }
}

/// The method a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) asks about.
fn preflight_method(method: &http::Method, headers: &HeaderMap) -> Option<http::Method> {
    if method != http::Method::OPTIONS {
        return None;
    }
    let requested = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    http::Method::from_bytes(requested.as_bytes()).ok()
}

/// The state at the edge a request is counted in and answered from.
#[derive(Clone, Copy)]
struct Edge<'a> {
    /// The rate-limit counters.
    limits: Option<&'a Store>,
    cache: &'a ResponseCache,
}

/// The request on its way through the plugins, and the tenant it claims should it have
/// no principal.
struct Caller<'h> {
    head: &'h mut RequestHead,
    claimed: Option<String>,
}

/// The phases after routing; `counted` is the tightest budget counted so far, which the
/// response reports.
async fn through_plugins(
    route: &Route,
    snapshot: &Snapshot,
    Edge { limits, cache }: Edge<'_>,
    Caller { head, claimed }: Caller<'_>,
    body: ClientBody,
    counted: &mut Option<limit::Counted>,
    upgrade: Option<Upgrade>,
) -> Flow<Response<ProxyBody>> {
    let mut stream = read_body(route, head, body).await?;
    let authenticated = authenticate(route, snapshot.roles(), head).await;
    let caller = match (&authenticated, &head.principal) {
        (Continue(Some(issuer)), Some(principal)) => limit::Caller::Principal {
            issuer: issuer.name(),
            principal,
        },
        _ => limit::Caller::Anonymous(head.client_ip),
    };
    // A request that ends without a principal (a denied credential included) is counted
    // by its address, so guessing credentials is limited too.
    limit::check_caller(limits, route, caller, counted).await?;
    if let (Continue(Some(issuer)), Some(principal)) = (&authenticated, &head.principal) {
        limit::check_quotas(limits, route, issuer.name(), principal, counted).await?;
    }
    authenticated?;
    if head.principal.is_none() {
        head.tenant = claimed;
    }
    let tenants = snapshot.tenants();
    if let Some(tenant) = &head.tenant {
        let rpm = tenants.rate_limit_rpm(tenant);
        limit::check_tenant(limits, route, tenant, rpm, counted).await?;
    }
    authorize(route, head).await?;
    if let Some(policies) = head.tenant.as_deref().and_then(|t| tenants.policies(t)) {
        tenant_policies(route, policies, head, &mut stream).await?;
    }
    forward_identity(route, head);
    let miss = cache.look_up(route, head).await?;
    let path_replaced = transform_request(route, head).await?;
    let response = dispatch(route, head, stream, path_replaced, upgrade).await?;
    let response = transform_response(route, head, response).await?;
    Continue(match miss {
        Some(miss) => miss.keep(response),
        None => response,
    })
}

/// Enforces the body limit; buffers the body when a plugin on the route reads it.
async fn read_body(
    route: &Route,
    head: &mut RequestHead,
    body: ClientBody,
) -> Flow<Option<ClientBody>> {
    if declared_length(&head.headers).is_some_and(|length| length > route.max_body_bytes) {
        return Break(body_too_large(route));
    }
    if !route.buffers_body {
        return Continue(Some(body));
    }
    buffer_body(route, head, body).await?;
    Continue(None)
}

/// Reads the whole body into the request for the plugins, within the route's limit.
async fn buffer_body(route: &Route, head: &mut RequestHead, body: ClientBody) -> Flow<()> {
    match read_whole(&head.headers, body, route.max_body_bytes).await {
        Ok(bytes) => {
            head.body = Some(bytes);
            Continue(())
        }
        Err(_) => Break(body_too_large(route)),
    }
}

fn body_too_large(route: &Route) -> Response<ProxyBody> {
    route.error(
        GatewayError::PayloadTooLarge,
        "request body is over the route's limit",
    )
}

/// Asks the route's authenticators in turn; the plugin that established the principal.
/// A route that requires one answers 401 without it.
async fn authenticate<'r>(
    route: &'r Route,
    roles: &RoleGrants,
    head: &mut RequestHead,
) -> Flow<Option<&'r Plugin>> {
    // A request has at most one of each credential header, so the gateway never checks
    // one value while the upstream reads another.
    for name in &route.identity.credentials {
        if head.headers.get_all(name).iter().nth(1).is_some() {
            let message = format!("the request carries more than one {name} header");
            return Break(route.error(GatewayError::BadRequest, &message));
        }
    }
    let mut issuer = None;
    for plugin in &route.authenticate {
        let answer = Box::pin(plugin.authenticate(head)).await;
        if let Some(Some(mut principal)) = decide(route, Phase::Authenticate, plugin, answer)? {
            grant_role_permissions(&mut principal, roles);
            head.tenant = principal.tenant.clone();
            head.principal = Some(principal);
            issuer = Some(&**plugin);
            break;
        }
    }
    if route.config.requires_auth && head.principal.is_none() {
        return Break(route.error(GatewayError::Unauthenticated, "authentication required"));
    }
    Continue(issuer)
}

async fn authorize(route: &Route, head: &mut RequestHead) -> Flow<()> {
    let required = &route.config.required_permissions;
    if !required.is_empty() {
        let Some(principal) = &head.principal else {
            return Break(route.error(GatewayError::Unauthenticated, "authentication required"));
        };
        let strategy = route.config.permission_check_strategy;
        if !strategy.allows(required, &principal.permissions) {
            let mut refused = route.error(GatewayError::Forbidden, "insufficient permissions");
            if carries_bearer_token(&head.headers) {
                // RFC 6750 3.1: the token is valid but does not grant enough.
                refused.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="insufficient_scope""#),
                );
            }
            return Break(refused);
        }
    }
    for plugin in &route.authorize {
        let answer = Box::pin(plugin.authorize(head)).await;
        decide(route, Phase::Authorize, plugin, answer)?;
    }
    Continue(())
}

/// Runs the request's tenant's policy plugins once the tenant has a free call slot (the
/// route's timeout bounds the wait), reading the body first if one of them reads it. A
/// policy that fails denies the request whatever the route's `plugin_failure`: a
/// tenant's policy is never skipped.
async fn tenant_policies(
    route: &Route,
    policies: &Policies,
    head: &mut RequestHead,
    stream: &mut Option<ClientBody>,
) -> Flow<()> {
    if policies.reads_body
        && let Some(body) = stream.take()
    {
        buffer_body(route, head, body).await?;
    }
    let _slot = policies
        .calls
        .acquire()
        .await
        .expect("the semaphore is never closed");
    for plugin in &policies.plugins {
        match Box::pin(plugin.authorize(head)).await {
            Ok(Ok(())) => {}
            Ok(Err(denial)) => return Break(denial_response(route, denial)),
            Err(error) => {
                tracing::error!(
                    target: "archway.plugin",
                    plugin = plugin.name(), route = &*route.id, phase = ?Phase::Authorize, %error,
                    "tenant policy plugin failed"
                );
                return Break(
                    route.error(GatewayError::Internal, "the tenant's policy plugin failed"),
                );
            }
        }
    }
    Continue(())
}

/// Whether the request authenticates with `Authorization: Bearer`.
fn carries_bearer_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().get(..7))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer "))
}

/// Adds the permissions the principal's roles grant to its own, so routes can require
/// permissions while credentials carry roles.
fn grant_role_permissions(principal: &mut Principal, roles: &RoleGrants) {
    let granted = principal
        .roles
        .iter()
        .filter_map(|role| roles.get(role))
        .flatten();
    for permission in granted {
        if !principal.permissions.contains(permission) {
            principal.permissions.push(permission.clone());
        }
    }
}

/// Puts the principal in the identity headers (client copies were removed at the start);
/// a value that cannot be a header value is left out and logged.
fn forward_identity(route: &Route, head: &mut RequestHead) {
    let Some(principal) = &head.principal else {
        return;
    };
    let identity = &route.identity;
    let values = [
        (&identity.subject, Some(principal.subject.clone())),
        (&identity.tenant, principal.tenant.clone()),
        (
            &identity.roles,
            (!principal.roles.is_empty()).then(|| principal.roles.join(",")),
        ),
    ];
    for (name, value) in values {
        let Some(value) = value else { continue };
        match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(value) => {
                head.headers.insert(name.clone(), value);
            }
            Err(_) => {
                tracing::warn!(target: "archway.auth", route = &*route.id, header = %name, "principal value is not a valid header value; not forwarded");
            }
        }
    }
}

/// Runs the request transforms; says whether one replaced the path.
async fn transform_request(route: &Route, head: &mut RequestHead) -> Flow<bool> {
    let mut path_replaced = false;
    for plugin in &route.transform {
        let answer = Box::pin(plugin.on_request(head)).await;
        if let Some(changes) = decide(route, Phase::TransformRequest, plugin, answer)? {
            path_replaced |= changes.replaces_path();
            changes.apply(head);
        }
    }
    Continue(path_replaced)
}

async fn dispatch(
    route: &Route,
    head: &mut RequestHead,
    stream: Option<ClientBody>,
    path_replaced: bool,
    upgrade: Option<Upgrade>,
) -> Flow<Response<ProxyBody>> {
    match &route.dispatch {
        Dispatch::Handler(plugin) => {
            let answer = Box::pin(plugin.handle(head)).await;
            let Some(answer) = decide(route, Phase::Dispatch, plugin, answer)? else {
                return Break(route.error(GatewayError::Internal, "handler skipped after failure"));
            };
            let mut response = Response::new(full(answer.body));
            *response.status_mut() = answer.status;
            *response.headers_mut() = answer.headers;
            Continue(response)
        }
        Dispatch::Upstream(service) => {
            // A transform's new path replaces the one `target_url` would make.
            let upstream_path = if path_replaced {
                head.path.clone()
            } else {
                route.target.path(&head.path, &head.params)
            };
            let strip_credentials =
                !route.authenticate.is_empty() && !route.config.forward_credentials;
            let plan = Plan {
                strategy: route.config.load_balance_strategy,
                breaker: route.config.circuit_breaker_enabled,
                retries: route.config.retry_count,
                resend: retry::may_resend(&head.method, route.config.retry_non_idempotent),
                deadline: head.deadline,
            };
            let rewritten_body = head.body.is_some();
            let body = match (head.body.clone(), stream) {
                (Some(buffered), _) => Outgoing::Buffered(buffered),
                (None, Some(stream)) => outgoing(route, plan, &head.headers, stream).await?,
                (None, None) => Outgoing::Buffered(Bytes::new()),
            };
            // Each try gets its own copy of the headers; the request's stay for the
            // response transforms.
            let forwarded = forward(service, plan, body, |instance, body| {
                let mut headers = head.headers.clone();
                if strip_credentials {
                    for name in &route.identity.credentials {
                        headers.remove(name);
                    }
                }
                if rewritten_body {
                    // A plugin may have changed the body; the client's length no longer holds.
                    headers.remove(header::CONTENT_LENGTH);
                }
                let mut request = upstream::request(head, instance, &upstream_path, headers, body)?;
                if let Some(upgrade) = upgrade {
                    upgrade.restore(request.headers_mut());
                }
                Ok(request)
            })
            .await;
            match forwarded {
                Ok(response) => Continue(response.map(ProxyBody::Relayed)),
                Err(error) => {
                    if let ForwardError::Upstream(error) = &error
                        && error.blames_upstream()
                    {
                        tracing::warn!(target: "archway.upstream", route = &*route.id, %error, "upstream request failed");
                    }
                    let (error, message) = error.answer(&route.config.service_name);
                    Break(route.error(error, &message))
                }
            }
        }
    }
}

/// The client's body for the upstream: streamed, or read first when it is small and a
/// failed try may send it again.
async fn outgoing(
    route: &Route,
    plan: Plan,
    headers: &HeaderMap,
    stream: ClientBody,
) -> Flow<Outgoing> {
    if stream.is_end_stream() {
        return Continue(Outgoing::Buffered(Bytes::new()));
    }
    let replayable = plan.retries > 0
        && plan.resend
        && declared_length(headers).is_some_and(|length| length <= REPLAY_BYTES);
    if replayable {
        return match read_whole(headers, stream, REPLAY_BYTES).await {
            Ok(bytes) => Continue(Outgoing::Buffered(bytes)),
            Err(_) => Break(route.error(
                GatewayError::BadRequest,
                "the request body could not be read",
            )),
        };
    }
    let limit = usize::try_from(route.max_body_bytes).unwrap_or(usize::MAX);
    Continue(Outgoing::streamed(Limited::new(stream, limit)))
}

async fn transform_response(
    route: &Route,
    head: &mut RequestHead,
    response: Response<ProxyBody>,
) -> Flow<Response<ProxyBody>> {
    if route.transform.is_empty() {
        return Continue(response);
    }
    let (mut parts, mut body) = response.into_parts();
    let mut response_head = ResponseHead {
        status: parts.status,
        headers: std::mem::take(&mut parts.headers),
        body: None,
    };
    if let Some(limit) = route.buffers_response_body {
        let buffered = read_response_body(route, &response_head.headers, body, limit).await?;
        response_head.body = Some(buffered.clone());
        body = full(buffered);
    }
    for plugin in route.transform.iter().rev() {
        let answer = Box::pin(plugin.on_response(head, &mut response_head)).await;
        if let Some(mut changes) = decide(route, Phase::TransformResponse, plugin, answer)? {
            changes.apply_head(&mut response_head);
            if let Some(new_body) = changes.body.take() {
                response_head.headers.remove(header::CONTENT_LENGTH);
                if response_head.body.is_some() {
                    // The next transform reads the body as this one left it.
                    response_head.body = Some(new_body.clone());
                }
                body = full(new_body);
            }
        }
    }
    parts.status = response_head.status;
    parts.headers = response_head.headers;
    Continue(Response::from_parts(parts, body))
}

/// Buffers a response body for the transforms that read it; one over `limit` bytes, or
/// one the upstream breaks off, answers 502.
async fn read_response_body(
    route: &Route,
    headers: &HeaderMap,
    body: ProxyBody,
    limit: u64,
) -> Flow<Bytes> {
    let too_large = || {
        tracing::warn!(target: "archway.upstream", route = &*route.id, limit, "response body over the route's limit for transforms");
        route.error(
            GatewayError::BadUpstream,
            "the upstream response is too large to transform",
        )
    };
    match read_whole(headers, body, limit).await {
        Ok(bytes) => Continue(bytes),
        Err(ReadError::TooLarge) => Break(too_large()),
        Err(ReadError::Broken(error)) => {
            tracing::warn!(target: "archway.upstream", route = &*route.id, %error, "upstream response body failed");
            Break(route.error(GatewayError::BadUpstream, "upstream unavailable"))
        }
    }
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
        Ok(Err(denial)) => Break(denial_response(route, denial)),
        Err(error) => {
            tracing::error!(
                target: "archway.plugin",
                plugin = plugin.name(), route = &*route.id, phase = ?phase, %error, "plugin call failed"
            );
            match route.config.plugin_failure {
                FailurePolicy::Skip => Continue(None),
                FailurePolicy::Closed => {
                    Break(route.error(GatewayError::Internal, "a plugin on this route failed"))
                }
            }
        }
    }
}

/// A deny as the client sees it: the plugin's own body, or the route's error envelope.
fn denial_response(route: &Route, denial: Denial) -> Response<ProxyBody> {
    let mut response = if denial.body.is_empty() {
        let format = route.config.error_format;
        let code = GatewayError::for_status(denial.status).code(format);
        envelope(format, denial.status, code, &denial.message)
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
