//! Response compression on routes that enable it: a response the client accepts in gzip,
//! brotli or zstd (see [`negotiate`]) is compressed as it streams, unless it is too small
//! to gain (a declared length under `min_bytes`), already encoded, of a type that is
//! compressed already (images but SVG, audio, video, archives), an event stream, marked
//! `no-transform`, or has no body (HEAD, 204, 304). Every response that could be
//! compressed says `Vary: Accept-Encoding`, so caches downstream keep the codings apart.

mod encoder;
mod negotiate;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use hyper::body::Body;

use crate::body::{ProxyBody, declared_length};
use crate::route::Route;
pub use encoder::Compressed;
use encoder::Encoder;

/// `response` compressed for a client whose request had `accept` (its
/// `Accept-Encoding` values), when `route` compresses and the response gains from it.
pub(crate) fn respond(
    route: &Route,
    method: &Method,
    accept: &[HeaderValue],
    response: Response<ProxyBody>,
) -> Response<ProxyBody> {
    let Some(min_bytes) = route.compress_min_bytes else {
        return response;
    };
    if method == Method::HEAD || !compressible(response.status(), response.headers()) {
        return response;
    }
    let length = declared_length(response.headers()).or(response.body().size_hint().exact());
    if length.is_some_and(|length| length < min_bytes) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    add_vary(&mut parts.headers);
    let Some(encoding) = negotiate::choose(accept.iter()) else {
        return Response::from_parts(parts, body);
    };
    let encoder = match Encoder::new(encoding) {
        Ok(encoder) => encoder,
        Err(error) => {
            tracing::warn!(target: "archway.compress", route = &*route.id, %error, "encoder failed to start; sent uncompressed");
            return Response::from_parts(parts, body);
        }
    };
    let body = Compressed::wrap(body, encoder);
    let headers = &mut parts.headers;
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(encoding.token()),
    );
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ACCEPT_RANGES);
    weaken_etag(headers);
    Response::from_parts(parts, body)
}

/// Whether a response of this status and head may be compressed at all.
fn compressible(status: StatusCode, headers: &HeaderMap) -> bool {
    if status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT
        )
    {
        return false;
    }
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|coding| !coding.as_bytes().eq_ignore_ascii_case(b"identity"));
    let no_transform = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-transform"));
    let type_compressed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(already_compressed);
    !encoded && !no_transform && !type_compressed
}

/// Media types whose bytes are compressed already (or, for event streams, must not wait
/// in an encoder).
fn already_compressed(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("image", subtype)) => subtype != "svg+xml",
        Some(("audio" | "video", _)) => true,
        Some(("application", subtype)) => matches!(
            subtype,
            "zip"
                | "gzip"
                | "x-gzip"
                | "zstd"
                | "x-bzip2"
                | "x-xz"
                | "x-7z-compressed"
                | "vnd.rar"
                | "x-rar-compressed"
                | "octet-stream"
        ),
        Some(("text", "event-stream")) => true,
        _ => false,
    }
}

/// Adds `accept-encoding` to `Vary` unless it is there (or `Vary: *` covers it).
fn add_vary(headers: &mut HeaderMap) {
    let listed = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|name| name == "*" || name.eq_ignore_ascii_case("accept-encoding"));
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// A strong `ETag` names the uncompressed bytes; the compressed ones get its weak form.
fn weaken_etag(headers: &mut HeaderMap) {
    if let Some(etag) = headers.get(header::ETAG)
        && !etag.as_bytes().starts_with(b"W/")
    {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(etag.as_bytes());
        if let Ok(weak) = HeaderValue::from_bytes(&weak) {
            headers.insert(header::ETAG, weak);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    #[test]
    fn compressed_media_types_are_skipped() {
        for skipped in [
            "image/png",
            "IMAGE/JPEG; q=1",
            "video/mp4",
            "application/zip",
            "text/event-stream",
        ] {
            assert!(!compressible(StatusCode::OK, &typed(skipped)), "{skipped}");
        }
        for kept in [
            "application/json",
            "text/html; charset=utf-8",
            "image/svg+xml",
        ] {
            assert!(compressible(StatusCode::OK, &typed(kept)), "{kept}");
        }
    }

    #[test]
    fn encoded_bodiless_and_no_transform_responses_are_skipped() {
        let mut encoded = typed("text/plain");
        encoded.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(!compressible(StatusCode::OK, &encoded));
        let mut fixed = typed("text/plain");
        fixed.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, No-Transform"),
        );
        assert!(!compressible(StatusCode::OK, &fixed));
        assert!(!compressible(StatusCode::NO_CONTENT, &typed("text/plain")));
        assert!(!compressible(
            StatusCode::NOT_MODIFIED,
            &typed("text/plain")
        ));
    }

    #[test]
    fn vary_and_etag_are_adjusted_once() {
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("x-lang"));
        headers.insert(header::ETAG, HeaderValue::from_static("\"v1\""));
        add_vary(&mut headers);
        add_vary(&mut headers);
        weaken_etag(&mut headers);
        weaken_etag(&mut headers);
        let vary: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["x-lang", "accept-encoding"]);
        assert_eq!(headers[header::ETAG], "W/\"v1\"");
    }
}
