//! Keep-alive HTTP/1 connections to upstreams, on hyper's connection-level client: one
//! idle list per scheme and authority, a connection lent to one request at a time and
//! given back the moment its response body ends, so no task waits to return it and no
//! request pays for more than a lock and a readiness check.

use std::collections::HashMap;
use std::error::Error;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::rt::{Read, Write};
use tower_service::Service;

use crate::body::UpstreamBody;

/// Where a pooled connection goes: requests to the same scheme and authority share one.
type Key = (Scheme, Authority);

/// A connection to lend: hyper's handle for sending on it.
type Sender = SendRequest<UpstreamBody>;

/// Why a request got no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made; nothing was sent.
    Connect(Box<dyn Error + Send + Sync>),
    /// The connection failed after the request may have been sent.
    Sending(hyper::Error),
}

/// How long a connection may sit idle, and how many may per upstream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Idle longer than this, a connection is closed.
    pub(crate) idle_timeout: Duration,
    /// Idle connections kept per upstream; more are closed when their response ends.
    pub(crate) max_idle: usize,
    /// hyper's read buffer for a connection, which bounds a response head.
    pub(crate) max_buf_size: usize,
}

/// The idle connections of one client, by upstream.
#[derive(Debug)]
pub(crate) struct Pool {
    limits: Limits,
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    /// Whether a task closes connections idle past the timeout (one runs while any idle).
    reaping: AtomicBool,
}

/// A connection waiting for its next request.
#[derive(Debug)]
struct Idle {
    sender: Sender,
    since: Instant,
}

impl Pool {
    /// An empty pool.
    pub(crate) fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            idle: Mutex::default(),
            reaping: AtomicBool::new(false),
        })
    }

    /// Sends `request` (absolute URI) on an idle connection to its upstream, or on a new one
    /// from `connector`; the response's body gives the connection back when it ends. A
    /// pooled connection that the upstream closed before the request went out is passed
    /// over for the next (or a new one), with the request unsent.
    pub(crate) async fn send<C>(
        self: &Arc<Self>,
        connector: &C,
        request: Request<UpstreamBody>,
    ) -> Result<Response<PooledBody>, SendError>
    where
        C: Service<Uri> + Clone,
        C::Response: Read + Write + Unpin + Send + 'static,
        C::Error: Into<Box<dyn Error + Send + Sync>>,
    {
        let (key, mut request) =
            origin_form(request).expect("upstream requests are built with an absolute URI");
        loop {
            let (mut sender, reused) = match self.checkout(&key) {
                Some(sender) => (sender, true),
                None => (self.connect(connector, &key).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.lend(key, sender, response)),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::Sending(failed.into_error())),
                },
            }
        }
    }

    /// The response, its body holding `sender` until it ends; a connection that switched
    /// protocols is the tunnel's now and never comes back.
    fn lend(
        self: &Arc<Self>,
        key: Key,
        sender: Sender,
        response: Response<Incoming>,
    ) -> Response<PooledBody> {
        let returning = (response.status() != StatusCode::SWITCHING_PROTOCOLS).then(|| Returning {
            pool: Arc::downgrade(self),
            key,
            sender,
        });
        response.map(|body| {
            let mut pooled = PooledBody { body, returning };
            if pooled.body.is_end_stream() {
                pooled.give_back();
            }
            pooled
        })
    }

    /// The most recently used idle connection to `key` that is ready for a request;
    /// closed and expired ones are dropped, busy ones (their last response just ended and
    /// hyper has not yet seen it) stay for later.
    fn checkout(&self, key: &Key) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(key)?;
        let mut context = Context::from_waker(Waker::noop());
        let mut busy = Vec::new();
        let mut ready = None;
        while let Some(mut entry) = list.pop() {
            if entry.since.elapsed() >= self.limits.idle_timeout {
                // The rest of the list is older still.
                list.clear();
                break;
            }
            match entry.sender.poll_ready(&mut context) {
                Poll::Ready(Ok(())) => {
                    ready = Some(entry.sender);
                    break;
                }
                Poll::Ready(Err(_)) => {}
                Poll::Pending => busy.push(entry),
            }
        }
        list.extend(busy.into_iter().rev());
        ready
    }

    /// A new connection to `key`, its task spawned.
    async fn connect<C>(&self, connector: &C, key: &Key) -> Result<Sender, SendError>
    where
        C: Service<Uri> + Clone,
        C::Response: Read + Write + Unpin + Send + 'static,
        C::Error: Into<Box<dyn Error + Send + Sync>>,
    {
        let target = Uri::builder()
            .scheme(key.0.clone())
            .authority(key.1.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| SendError::Connect(e.into()))?;
        let io = connector
            .clone()
            .call(target)
            .await
            .map_err(|e| SendError::Connect(e.into()))?;
        let (sender, connection) = http1::Builder::new()
            .max_buf_size(self.limits.max_buf_size)
            .handshake(io)
            .await
            .map_err(|e| SendError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(target: "archway.upstream", %error, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// Takes a connection back after its response ended, within the per-upstream cap.
    fn give_back(self: &Arc<Self>, key: Key, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            let list = idle.entry(key).or_default();
            if list.len() >= self.limits.max_idle {
                return;
            }
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
        if !self.reaping.swap(true, Ordering::AcqRel) {
            tokio::spawn(reap(Arc::downgrade(self)));
        }
    }

    /// Closes connections idle past the timeout; says whether any are left.
    fn expire(&self) -> bool {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|_, list| {
            list.retain(|entry| {
                entry.since.elapsed() < self.limits.idle_timeout && !entry.sender.is_closed()
            });
            !list.is_empty()
        });
        let any = !idle.is_empty();
        if !any {
            self.reaping.store(false, Ordering::Release);
        }
        any
    }
}

/// Expires idle connections every idle timeout while the pool has any (and lives).
async fn reap(pool: Weak<Pool>) {
    /// Lets the next idle connection start a reaper if this one's runtime shuts down.
    struct Reaping(Weak<Pool>);
    impl Drop for Reaping {
        fn drop(&mut self) {
            if let Some(pool) = self.0.upgrade() {
                pool.reaping.store(false, Ordering::Release);
            }
        }
    }
    let _reaping = Reaping(pool.clone());
    loop {
        let Some(interval) = pool.upgrade().map(|pool| pool.limits.idle_timeout) else {
            return;
        };
        tokio::time::sleep(interval).await;
        match pool.upgrade() {
            Some(pool) if pool.expire() => {}
            _ => return,
        }
    }
}

/// The request's upstream and the request itself in origin form, with a `Host` header
/// for the upstream when it has none (the default port left out, as browsers do); `None`
/// when its URI is not absolute.
fn origin_form(request: Request<UpstreamBody>) -> Option<(Key, Request<UpstreamBody>)> {
    let (mut parts, body) = request.into_parts();
    let mut uri = std::mem::take(&mut parts.uri).into_parts();
    let scheme = uri.scheme.take()?;
    let authority = uri.authority.take()?;
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, host_header(&scheme, &authority));
    }
    uri.path_and_query
        .get_or_insert_with(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::from_parts(uri).expect("a path and query alone is an origin-form URI");
    Some(((scheme, authority), Request::from_parts(parts, body)))
}

/// `authority` without user information, and without its port where that is the scheme's.
fn host_header(scheme: &Scheme, authority: &Authority) -> HeaderValue {
    let default_port = match scheme.as_str() {
        "https" => 443,
        _ => 80,
    };
    let host_and_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, after)| after);
    let value = match authority.port_u16() {
        Some(port) if port != default_port => host_and_port,
        _ => authority.host(),
    };
    HeaderValue::from_str(value).expect("an authority's host and port make a header value")
}

/// An upstream's response body, which gives its connection back to the pool when it ends
/// (dropped before, it closes the connection, as HTTP/1 has no other way to abort).
#[derive(Debug)]
pub struct PooledBody {
    body: Incoming,
    returning: Option<Returning>,
}

/// A lent connection, on its way back.
#[derive(Debug)]
struct Returning {
    pool: Weak<Pool>,
    key: Key,
    sender: Sender,
}

impl PooledBody {
    fn give_back(&mut self) {
        if let Some(Returning { pool, key, sender }) = self.returning.take()
            && let Some(pool) = pool.upgrade()
        {
            pool.give_back(key, sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.give_back(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.give_back(),
            Poll::Ready(Some(Err(_))) => self.returning = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_leaves_out_the_schemes_own_port() {
        let host = |scheme: Scheme, authority: &str| {
            host_header(&scheme, &authority.parse().expect("authority"))
        };
        assert_eq!(host(Scheme::HTTP, "api.internal:80"), "api.internal");
        assert_eq!(host(Scheme::HTTPS, "api.internal:443"), "api.internal");
        assert_eq!(host(Scheme::HTTP, "api.internal:8080"), "api.internal:8080");
        assert_eq!(host(Scheme::HTTPS, "api.internal:80"), "api.internal:80");
        assert_eq!(host(Scheme::HTTP, "127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(host(Scheme::HTTP, "user@api.internal"), "api.internal");
    }

    #[test]
    fn a_request_goes_out_in_origin_form_with_its_upstream_as_host() {
        let mut request = Request::new(UpstreamBody::Right(Default::default()));
        *request.uri_mut() = "http://10.0.0.7:8080/orders/7?side=buy"
            .parse()
            .expect("uri");
        let ((scheme, authority), request) = origin_form(request).expect("absolute");
        assert_eq!(
            (scheme.as_str(), authority.as_str()),
            ("http", "10.0.0.7:8080")
        );
        assert_eq!(request.uri(), "/orders/7?side=buy");
        assert_eq!(request.headers()[header::HOST], "10.0.0.7:8080");

        let mut request = Request::new(UpstreamBody::Right(Default::default()));
        *request.uri_mut() = "https://idp.example".parse().expect("uri");
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("kept.example"));
        let (_, request) = origin_form(request).expect("absolute");
        assert_eq!(request.uri(), "/");
        assert_eq!(request.headers()[header::HOST], "kept.example");

        let mut request = Request::new(UpstreamBody::Right(Default::default()));
        *request.uri_mut() = "/no/upstream".parse().expect("uri");
        assert!(origin_form(request).is_none());
    }
}
