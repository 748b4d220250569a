//! Builds the reply to one request: health, a sized byte body, a page of sample orders,
//! the task scheduler's pages, or the JSON echo.

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};

/// The largest body `GET /bytes/{n}` serves: 10 MiB.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// Answers one request; errors only when reading the request body fails.
pub(crate) async fn respond(
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if request.method() == Method::GET {
        let path = request.uri().path();
        if path == "/health" {
            return Ok(json_response(StatusCode::OK, &json!({"status": "ok"})));
        }
        if let Some(n) = path.strip_prefix("/bytes/") {
            return Ok(sized(n));
        }
        if let Some(n) = path.strip_prefix("/sample/orders/") {
            return Ok(match n.parse::<usize>() {
                Ok(n) if n <= crate::orders::MAX_ORDERS => {
                    json_response(StatusCode::OK, &crate::orders::page(n))
                }
                _ => json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": format!("/sample/orders/{{n}} needs 0 <= n <= {}", crate::orders::MAX_ORDERS)}),
                ),
            });
        }
    }
    if request.method() == Method::POST && crate::scheduler::serves(request.uri().path()) {
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect().await?.to_bytes();
        let query: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return Ok(json_response(
            StatusCode::OK,
            &crate::scheduler::page(&path, &query),
        ));
    }
    echo(request).await
}

/// `GET /bytes/{n}`: `n` bytes of `x`, sliced from one shared buffer so no request copies.
fn sized(n: &str) -> Response<Full<Bytes>> {
    static FILLER: OnceLock<Bytes> = OnceLock::new();
    match n.parse::<usize>() {
        Ok(n) if n <= MAX_BYTES => {
            let filler = FILLER.get_or_init(|| Bytes::from(vec![b'x'; MAX_BYTES]));
            let mut response = Response::new(Full::new(filler.slice(..n)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            response
        }
        _ => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("/bytes/{{n}} needs 0 <= n <= {MAX_BYTES}, got {n:?}")}),
        ),
    }
}

/// The JSON echo; the body is counted frame by frame, never buffered.
async fn echo(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, mut body) = request.into_parts();
    let mut body_bytes = 0usize;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            body_bytes += data.len();
        }
    }
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        // Repeated headers fold into one comma-separated value, as HTTP allows.
        match headers.get_mut(name.as_str()) {
            Some(Value::String(seen)) => {
                seen.push_str(", ");
                seen.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value.into_owned()));
            }
        }
    }
    let echo = json!({
        "service": "upstream",
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_bytes": body_bytes,
    });
    Ok(json_response(StatusCode::OK, &echo))
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).expect("a serde_json::Value always serialises");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
