//! The three encodings an introspection call needs, small enough to keep here rather than
//! add crates to every plugin build: form values, HTTP Basic credentials, and the hex of
//! a token's SHA-256 (the only form in which a token reaches the store).

use sha2::{Digest, Sha256};

/// `application/x-www-form-urlencoded` for one name or value: everything but RFC 3986
/// unreserved characters is percent-encoded (so `+` and `/` in tokens survive).
pub(crate) fn form_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The `Authorization` value for client credentials (RFC 6749 §2.3.1: each part is
/// form-encoded before the Basic encoding).
pub(crate) fn basic_auth(client_id: &str, client_secret: &str) -> String {
    let credentials = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
    format!("Basic {}", base64(credentials.as_bytes()))
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |word, (i, &b)| word | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (word >> (18 - 6 * i)) & 0x3f;
                encoded.push(char::from(ALPHABET[index as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    encoded
}

/// The lower-case hex of the token's SHA-256.
pub(crate) fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn basic_auth_form_encodes_each_part() {
        assert_eq!(
            basic_auth("gateway", "s3cret"),
            "Basic Z2F0ZXdheTpzM2NyZXQ="
        );
        // "a:b" and "c d" become "a%3Ab" and "c%20d" before base64.
        assert_eq!(
            basic_auth("a:b", "c d"),
            format!("Basic {}", base64(b"a%3Ab:c%20d"))
        );
    }

    #[test]
    fn form_encoding_keeps_only_unreserved_characters() {
        assert_eq!(form_encode("mF_9.B5f-4~1"), "mF_9.B5f-4~1");
        assert_eq!(form_encode("a+b/c=&d é"), "a%2Bb%2Fc%3D%26d%20%C3%A9");
    }

    #[test]
    fn sha256_hex_is_the_standard_digest() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
