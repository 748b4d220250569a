//! Checks a request head against `[server]`'s limits and HTTP's rules before it is
//! routed: header count and size (431), target length (414), one well-formed `Host`
//! (400, RFC 9112 3.2), and a body framed once (400, RFC 9112 6.3; see `framing`). hyper's own parser limits sit above these (see `listener`), so a
//! client over them gets the gateway's error envelope rather than hyper's empty answer.

use archway_config::ServerConfig;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::uri::Authority;
use http::{HeaderMap, Version};

use crate::error::GatewayError;
use crate::framing::DoublyFramed;

/// Why a request head is refused: the error, and the client's message.
pub(crate) type Refusal = (GatewayError, &'static str);

/// Admits a request head, or says why not.
pub(crate) fn check(server: &ServerConfig, parts: &Parts) -> Result<(), Refusal> {
    if parts.extensions.get::<DoublyFramed>().is_some() {
        return Err((
            GatewayError::BadRequest,
            "the request has both Transfer-Encoding and Content-Length",
        ));
    }
    let target = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > server.max_uri_bytes {
        return Err((GatewayError::UriTooLong, "the request target is too long"));
    }
    if parts.headers.len() > server.max_headers {
        return Err((
            GatewayError::HeadersTooLarge,
            "the request has too many headers",
        ));
    }
    if header_bytes(&parts.headers) > server.max_header_bytes {
        return Err((
            GatewayError::HeadersTooLarge,
            "the request headers are too large",
        ));
    }
    check_host(parts.version, &parts.headers)
}

/// The sum of the header names' and values' lengths.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// HTTP/1.1 requires exactly one `Host`; no version may send two or a malformed one
/// (HTTP/2 carries the authority in `:authority` and may leave `Host` out).
fn check_host(version: Version, headers: &HeaderMap) -> Result<(), Refusal> {
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => {
            Err((GatewayError::BadRequest, "the request has no Host header"))
        }
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err((
            GatewayError::BadRequest,
            "the request has more than one Host header",
        )),
        (Some(host), None) if !well_formed_host(host) => Err((
            GatewayError::BadRequest,
            "the request's Host header is malformed",
        )),
        (Some(_), None) => Ok(()),
    }
}

/// `uri-host [":" port]`: an authority without user info, whose port (if any) is a number.
fn well_formed_host(value: &HeaderValue) -> bool {
    let Ok(authority) = Authority::try_from(value.as_bytes()) else {
        return false;
    };
    let text = authority.as_str();
    let host = authority.host();
    let port = &text[host.len()..];
    !host.is_empty()
        && !text.contains('@')
        && (port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(version: Version, hosts: &[&str]) -> Parts {
        let mut request = http::Request::builder().uri("/a?b=c").version(version);
        for host in hosts {
            request = request.header(header::HOST, *host);
        }
        request.body(()).expect("request").into_parts().0
    }

    fn refused(version: Version, hosts: &[&str]) -> Option<&'static str> {
        check(&ServerConfig::default(), &parts(version, hosts))
            .err()
            .map(|(_, why)| why)
    }

    #[test]
    fn one_well_formed_host_passes() {
        for host in ["api.example", "api.example:8080", "127.0.0.1:1", "[::1]:80"] {
            assert_eq!(refused(Version::HTTP_11, &[host]), None, "{host}");
        }
        assert_eq!(refused(Version::HTTP_10, &[]), None);
        assert_eq!(refused(Version::HTTP_2, &[]), None);
    }

    #[test]
    fn missing_repeated_or_malformed_hosts_are_refused() {
        assert_eq!(
            refused(Version::HTTP_11, &[]),
            Some("the request has no Host header")
        );
        assert_eq!(
            refused(Version::HTTP_11, &["a.example", "b.example"]),
            Some("the request has more than one Host header")
        );
        for host in [
            "",
            "user@a.example",
            "a.example:http",
            "a b",
            "a.example:99999",
        ] {
            assert_eq!(
                refused(Version::HTTP_11, &[host]),
                Some("the request's Host header is malformed"),
                "{host:?}"
            );
        }
    }

    #[test]
    fn limits_answer_431_and_414() {
        let server = ServerConfig {
            max_headers: 8,
            max_header_bytes: 1024,
            max_uri_bytes: 256,
            ..ServerConfig::default()
        };
        let mut many = parts(Version::HTTP_11, &["a.example"]);
        for index in 0..8 {
            many.headers.insert(
                header::HeaderName::try_from(format!("x-{index}")).expect("name"),
                HeaderValue::from_static("1"),
            );
        }
        assert_eq!(
            check(&server, &many).map_err(|e| e.0),
            Err(GatewayError::HeadersTooLarge)
        );
        let mut large = parts(Version::HTTP_11, &["a.example"]);
        let value = HeaderValue::try_from("v".repeat(1024)).expect("value");
        large.headers.insert("x-large", value);
        assert_eq!(
            check(&server, &large).map_err(|e| e.0),
            Err(GatewayError::HeadersTooLarge)
        );
        let mut long = parts(Version::HTTP_11, &["a.example"]);
        long.uri = format!("/{}", "a".repeat(256)).parse().expect("uri");
        assert_eq!(
            check(&server, &long).map_err(|e| e.0),
            Err(GatewayError::UriTooLong)
        );
    }
}
