//! What tells cached responses apart: the route, the method, the path and the query, and
//! on a request with a principal its tenant and subject, so two principals never share an
//! entry; then, for an upstream whose answers vary, the request's values of the headers
//! its `Vary` names. Keys are SHA-256 digests of those parts, each written with its
//! length, so no two different requests can make the same key.

use archway_runtime::RequestHead;
use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};

/// A cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key([u8; 32]);

impl Key {
    /// The request's key before any `Vary`: route, method, path, query and principal.
    pub(crate) fn primary(route: &str, head: &RequestHead) -> Self {
        let mut digest = Parts::default();
        digest.add(b"primary");
        digest.add(route.as_bytes());
        digest.add(head.method.as_str().as_bytes());
        digest.add(head.path.as_bytes());
        digest.optional(head.query.as_deref());
        match &head.principal {
            Some(principal) => {
                digest.add(b"principal");
                digest.optional(principal.tenant.as_deref());
                digest.add(principal.subject.as_bytes());
            }
            None => digest.add(b"anonymous"),
        }
        digest.finish()
    }

    /// The key of the variant that `headers` (the request's) select among responses that
    /// vary by `names`.
    pub(crate) fn variant(self, names: &[HeaderName], headers: &HeaderMap) -> Self {
        let mut digest = Parts::default();
        digest.add(b"variant");
        digest.add(&self.0);
        for name in names {
            digest.add(name.as_str().as_bytes());
            let values = headers.get_all(name);
            digest.add(&(values.iter().count() as u64).to_le_bytes());
            for value in values {
                digest.add(value.as_bytes());
            }
        }
        digest.finish()
    }

    /// The key as the shared tier names it: 64 hex digits.
    pub(crate) fn hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// A digest fed length-prefixed parts.
#[derive(Default)]
struct Parts(Sha256);

impl Parts {
    fn add(&mut self, part: &[u8]) {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part);
    }

    /// A part that may be missing, told apart from one that is empty.
    fn optional(&mut self, part: Option<&str>) {
        match part {
            Some(part) => {
                self.add(b"some");
                self.add(part.as_bytes());
            }
            None => self.add(b"none"),
        }
    }

    fn finish(self) -> Key {
        Key(self.0.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use archway_runtime::Principal;
    use http::HeaderValue;

    use super::*;

    fn head(path: &str, query: Option<&str>) -> RequestHead {
        RequestHead {
            method: http::Method::GET,
            path: path.to_owned(),
            query: query.map(str::to_owned),
            ..RequestHead::default()
        }
    }

    fn principal(subject: &str, tenant: Option<&str>) -> Principal {
        Principal {
            subject: subject.to_owned(),
            tenant: tenant.map(str::to_owned),
            roles: Vec::new(),
            permissions: Vec::new(),
            claims: "{}".to_owned(),
            quotas: Vec::new(),
        }
    }

    #[test]
    fn each_part_of_the_request_makes_its_own_key() {
        let base = Key::primary("r", &head("/a", Some("x=1")));
        assert_eq!(base, Key::primary("r", &head("/a", Some("x=1"))));
        let others = [
            Key::primary("r2", &head("/a", Some("x=1"))),
            Key::primary("r", &head("/b", Some("x=1"))),
            Key::primary("r", &head("/a", Some("x=2"))),
            Key::primary("r", &head("/a", None)),
            Key::primary("r", &head("/a", Some(""))),
            Key::primary("r", &head("/a?x=1", None)),
        ];
        for (index, other) in others.iter().enumerate() {
            assert_ne!(base, *other, "variation {index}");
        }
        let mut head_request = head("/a", Some("x=1"));
        head_request.method = http::Method::HEAD;
        assert_ne!(base, Key::primary("r", &head_request));
    }

    #[test]
    fn principals_never_share_a_key() {
        let as_principal = |subject, tenant| {
            let mut request = head("/a", None);
            request.principal = Some(principal(subject, tenant));
            Key::primary("r", &request)
        };
        let anonymous = Key::primary("r", &head("/a", None));
        let keys = [
            anonymous,
            as_principal("alice", None),
            as_principal("bob", None),
            as_principal("alice", Some("acme")),
            as_principal("alice", Some("")),
            as_principal("alice", Some("globex")),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn variants_follow_the_values_of_the_named_headers() {
        let base = Key::primary("r", &head("/a", None));
        let names = [HeaderName::from_static("accept-language")];
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("accept-language", HeaderValue::from_static(value));
            headers.insert("x-other", HeaderValue::from_static("ignored"));
            headers
        };
        assert_eq!(
            base.variant(&names, &with("en")),
            base.variant(&names, &with("en"))
        );
        assert_ne!(
            base.variant(&names, &with("en")),
            base.variant(&names, &with("fr"))
        );
        assert_ne!(
            base.variant(&names, &with("en")),
            base.variant(&names, &HeaderMap::new())
        );
        assert_eq!(base.hex().len(), 64);
    }
}
