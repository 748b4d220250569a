//! Query strings as plugins need them: split into `name=value` pairs and
//! percent-decoded the way browsers and HTML forms encode them (`+` is a space).

/// Decodes `%XX` escapes and `+` (a space in query strings). A malformed escape stays as
/// it is, and bytes that are not UTF-8 become U+FFFD, so decoding never fails.
///
/// ```
/// assert_eq!(archway_sdk::percent_decode("a%20b+c%2F%E2%82%AC"), "a b c/€");
/// assert_eq!(archway_sdk::percent_decode("100%"), "100%");
/// ```
pub fn percent_decode(text: &str) -> String {
    decode(text, true)
}

/// Decodes `%XX` escapes in a path segment, where `+` is a plus sign.
///
/// ```
/// assert_eq!(archway_sdk::path_decode("node+1%2Fa"), "node+1/a");
/// ```
pub fn path_decode(text: &str) -> String {
    decode(text, false)
}

/// Escapes every byte but RFC 3986's unreserved characters, for a path segment or a
/// query value.
///
/// ```
/// assert_eq!(archway_sdk::percent_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
/// ```
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                encoded.push(char::from(byte));
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space`.
fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) if plus_is_space => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Every `name=value` pair of a query string, decoded, in order; a pair without `=` has
/// an empty value.
///
/// ```
/// let pairs = archway_sdk::query_pairs("q=rust+wasm&page=2&flag");
/// assert_eq!(pairs, [("q".into(), "rust wasm".into()), ("page".into(), "2".into()), ("flag".into(), String::new())]);
/// ```
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_escapes_stay_as_they_are() {
        for text in ["%", "%2", "%zz", "%+1", "%-1", "a%"] {
            assert_eq!(percent_decode(text), text.replace('+', " "), "{text}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters() {
        assert_eq!(percent_decode("%FFok"), "\u{FFFD}ok");
    }

    #[test]
    fn empty_pairs_are_skipped_and_repeated_names_kept() {
        assert_eq!(
            query_pairs("&a=1&&a=2&"),
            [
                ("a".to_owned(), "1".to_owned()),
                ("a".to_owned(), "2".to_owned())
            ]
        );
    }
}
