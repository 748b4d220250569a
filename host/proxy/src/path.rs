//! The canonical request path, made once before routing; the router matches it and the
//! upstream receives it, so the two never read one path differently.
//!
//! The rule: percent-escapes of unreserved characters (letters, digits, `-`, `.`, `_`,
//! `~`) are decoded and every other escape is written in upper case (RFC 3986 6.2.2);
//! then a path is refused when it does not start with `/`, has an empty segment (`//`),
//! a `.` or `..` segment, a `;` (path parameters) or a backslash, plain or encoded, an
//! encoded `/` or control character, or an escape of an escape (`%25` before two hex
//! digits: double encoding). Letter case is kept: paths match case-sensitively.

use std::borrow::Cow;

/// The canonical form of `path`, or why it is refused.
pub fn canonical(path: &str) -> Result<Cow<'_, str>, &'static str> {
    if !path.starts_with('/') {
        return Err("path must start with /");
    }
    let path = decode_unreserved(path)?;
    if path.contains('\\') {
        return Err("backslash in path");
    }
    if path.contains(';') {
        return Err("path parameters (;) in path");
    }
    if path.contains("//") {
        return Err("empty path segment");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("dot segment in path");
    }
    Ok(path)
}

/// Decodes escapes of unreserved characters and upper-cases the rest; refuses escapes
/// that are malformed or would change the path's structure once decoded.
fn decode_unreserved(path: &str) -> Result<Cow<'_, str>, &'static str> {
    if !path.contains('%') {
        return Ok(Cow::Borrowed(path));
    }
    let bytes = path.as_bytes();
    let mut canonical = String::with_capacity(path.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'%' {
            let next = path[at..]
                .find('%')
                .map_or(path.len(), |offset| at + offset);
            canonical.push_str(&path[at..next]);
            at = next;
            continue;
        }
        let byte = bytes
            .get(at + 1..at + 3)
            .filter(|hex| is_hex_pair(hex))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
            .ok_or("malformed percent-escape in path")?;
        match byte {
            b'/' => return Err("encoded slash in path"),
            b'\\' => return Err("encoded backslash in path"),
            b';' => return Err("path parameters (;) in path"),
            0..=0x1f | 0x7f => return Err("encoded control character in path"),
            b'%' if bytes.get(at + 3..at + 5).is_some_and(is_hex_pair) => {
                return Err("double-encoded escape in path");
            }
            _ if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                canonical.push(char::from(byte));
            }
            _ => canonical.push_str(&format!("%{byte:02X}")),
        }
        at += 3;
    }
    Ok(Cow::Owned(canonical))
}

fn is_hex_pair(pair: &[u8]) -> bool {
    pair.iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn plain_paths_pass_unchanged() {
        for path in ["/api/v1/users/7", "/", "/a/b/", "/files/100%25"] {
            assert_eq!(canonical(path).as_deref(), Ok(path));
        }
    }

    #[test]
    fn unreserved_escapes_decode_and_others_are_upper_cased() {
        assert_eq!(canonical("/%61dmin/x").as_deref(), Ok("/admin/x"));
        assert_eq!(canonical("/a/%7Euser").as_deref(), Ok("/a/~user"));
        assert_eq!(canonical("/caf%c3%a9").as_deref(), Ok("/caf%C3%A9"));
        assert_eq!(canonical("/q%3fx").as_deref(), Ok("/q%3Fx"));
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for path in [
            "a/b",
            "/a/%2F/b",
            "/a/%2f/b",
            "/public/..%2fadmin/x",
            "/a/%2e%2e/b",
            "/a/%2E/b",
            "/a/../b",
            "/a/./b",
            "/a//b",
            "//admin/x",
            "/a\\b",
            "/a%5cb",
            "/a%00",
            "/a%0d%0a",
            "/admin;x/y",
            "/admin%3b/y",
            "/a/%252e%252e/b",
            "/a/%252F",
            "/a/%2",
            "/a/%zz",
            "/a/%+a",
        ] {
            assert!(canonical(path).is_err(), "{path} should be refused");
        }
    }
}
