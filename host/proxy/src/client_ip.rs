//! Who the client is, so that limits keyed on its address cannot be dodged: the socket's
//! peer, unless the peer is a trusted proxy; then the rightmost `X-Forwarded-For` hop that
//! is not a trusted proxy. The `X-Forwarded-For` and `X-Forwarded-Proto` the upstream gets
//! are settled here too.

use std::net::IpAddr;

use archway_config::Network;
use http::{HeaderMap, HeaderName, HeaderValue};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The connection a request arrived on.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The socket's remote address.
    pub address: IpAddr,
    /// Whether the gateway terminated TLS on the connection.
    pub tls: bool,
    /// Whether it came in on the admin listener (`[server] admin_listen`).
    pub admin: bool,
}

impl Peer {
    /// The scheme the client used to reach the gateway.
    fn scheme(self) -> HeaderValue {
        HeaderValue::from_static(if self.tls { "https" } else { "http" })
    }
}

/// The client's address for a request from `peer`; replaces the request's
/// `X-Forwarded-For` with what the upstream should see: the trusted chain with `peer`
/// appended, or only `peer` when the peer is not trusted (a client's own list is a claim,
/// not a fact). `X-Forwarded-Proto` is the connection's scheme, unless a trusted proxy
/// already said which scheme its client used.
pub(crate) fn resolve(peer: Peer, headers: &mut HeaderMap, trusted: &[Network]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|network| network.contains(ip));
    let peer_is_trusted = is_trusted(peer.address);
    if !peer_is_trusted || !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, peer.scheme());
    }
    let peer = peer.address;
    if !peer_is_trusted {
        set_forwarded_for(headers, peer.to_string());
        return peer;
    }
    let chain: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in chain.iter().rev() {
        let Ok(hop) = hop.parse::<IpAddr>() else {
            // An unreadable hop: the last trusted proxy is as far as the chain is known.
            break;
        };
        client = hop.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    let appended = if chain.is_empty() {
        peer.to_string()
    } else {
        format!("{}, {peer}", chain.join(", "))
    };
    set_forwarded_for(headers, appended);
    client
}

/// Sets the header to `chain`: addresses and text read from header values, so it is a
/// valid value.
fn set_forwarded_for(headers: &mut HeaderMap, chain: String) {
    let value = HeaderValue::try_from(chain).expect("addresses and header text form a valid value");
    headers.insert(X_FORWARDED_FOR, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("valid address")
    }

    fn resolve_with(peer: &str, forwarded: &[&str], trusted: &[&str]) -> (IpAddr, String) {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append(
                X_FORWARDED_FOR,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        let trusted: Vec<Network> = trusted
            .iter()
            .map(|n| n.parse().expect("network"))
            .collect();
        let peer = Peer {
            address: ip(peer),
            tls: false,
            admin: false,
        };
        let client = resolve(peer, &mut headers, &trusted);
        let sent = headers[&X_FORWARDED_FOR]
            .to_str()
            .expect("ASCII")
            .to_owned();
        (client, sent)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let (client, sent) = resolve_with("203.0.113.9", &["1.2.3.4"], &["10.0.0.0/8"]);
        assert_eq!(client, ip("203.0.113.9"));
        assert_eq!(sent, "203.0.113.9", "the claim is not passed on");
        let (client, _) = resolve_with("203.0.113.9", &["1.2.3.4"], &[]);
        assert_eq!(client, ip("203.0.113.9"), "no proxy is trusted by default");
    }

    #[test]
    fn through_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8", "127.0.0.1"];
        let (client, sent) =
            resolve_with("127.0.0.1", &["6.6.6.6, 198.51.100.7, 10.1.1.1"], &trusted);
        assert_eq!(
            client,
            ip("198.51.100.7"),
            "the spoofed leftmost hop is ignored"
        );
        assert_eq!(sent, "6.6.6.6, 198.51.100.7, 10.1.1.1, 127.0.0.1");
        let (client, _) = resolve_with("127.0.0.1", &["198.51.100.7", "10.1.1.1"], &trusted);
        assert_eq!(client, ip("198.51.100.7"), "repeated headers form one list");
        let (client, _) = resolve_with("127.0.0.1", &["10.2.2.2, 10.1.1.1"], &trusted);
        assert_eq!(client, ip("10.2.2.2"), "all trusted: the leftmost");
        let (client, _) = resolve_with("127.0.0.1", &[], &trusted);
        assert_eq!(client, ip("127.0.0.1"), "no header: the peer");
        let (client, _) = resolve_with("127.0.0.1", &["198.51.100.7, junk, 10.1.1.1"], &trusted);
        assert_eq!(client, ip("10.1.1.1"), "an unreadable hop ends the chain");
    }

    #[test]
    fn the_scheme_is_the_connections_unless_a_trusted_proxy_names_it() {
        let trusted: Vec<Network> = vec!["10.0.0.0/8".parse().expect("network")];
        let proto = |address: &str, tls: bool, claimed: Option<&'static str>| {
            let mut headers = HeaderMap::new();
            if let Some(claimed) = claimed {
                headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(claimed));
            }
            let peer = Peer {
                address: ip(address),
                tls,
                admin: false,
            };
            resolve(peer, &mut headers, &trusted);
            headers[&X_FORWARDED_PROTO].clone()
        };
        assert_eq!(proto("203.0.113.9", true, None), "https");
        assert_eq!(proto("203.0.113.9", false, None), "http");
        assert_eq!(
            proto("203.0.113.9", false, Some("https")),
            "http",
            "an untrusted client's claim is replaced"
        );
        assert_eq!(proto("10.1.1.1", false, Some("https")), "https");
        assert_eq!(proto("10.1.1.1", true, None), "https");
    }
}
