//! Token verification with the key sets a plugin's config grants in `key_sets` (the `jwt`
//! import): the host pins the algorithms, checks `exp`, `nbf`, `iss`, `aud` and the
//! revocation list, and returns the claims. In native tests, [`fake::answer`] stands in.
//!
//! ```
//! use archway_sdk::jwt::{self, JwtError};
//!
//! jwt::fake::answer("users", |token| match token {
//!     "good" => Ok(archway_sdk::serde_json::json!({"sub": "alice"})),
//!     _ => Err(JwtError::InvalidSignature),
//! });
//! assert_eq!(jwt::verify("good", "users").unwrap()["sub"], "alice");
//! assert!(matches!(jwt::verify("forged", "users"), Err(JwtError::InvalidSignature)));
//! assert!(matches!(jwt::verify("good", "admins"), Err(JwtError::UnknownKeySet(_))));
//! ```

pub use crate::bindings::jwt::JwtError;

use serde_json::Value;

/// Verifies `token` with the key set `key_set` and returns its claims (a JSON object).
pub fn verify(token: &str, key_set: &str) -> Result<Value, JwtError> {
    let claims = imp::verify(token, key_set)?;
    serde_json::from_str(&claims)
        .map_err(|_| JwtError::Malformed("the host returned claims that are not JSON".to_owned()))
}

/// Whether `token` has the shape of a JWT (three base64url parts), so an authenticator
/// can leave other bearer tokens to the next one.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let base64url = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !header.is_empty()
        && !payload.is_empty()
        && [header, payload, signature].into_iter().all(base64url)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    pub(super) use crate::bindings::jwt::verify;
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{JwtError, fake};

    pub(super) fn verify(token: &str, key_set: &str) -> Result<String, JwtError> {
        fake::verify(token, key_set)
    }
}

/// The native stand-in for the host's key sets, per test thread.
#[cfg(not(target_arch = "wasm32"))]
pub mod fake {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use serde_json::Value;

    use super::JwtError;

    type Answer = Box<dyn Fn(&str) -> Result<Value, JwtError>>;

    thread_local! {
        static KEY_SETS: RefCell<HashMap<String, Answer>> = RefCell::default();
    }

    /// Makes the key set `key_set` verify tokens with `answer`; a key set with no
    /// answer is unknown.
    pub fn answer(key_set: &str, answer: impl Fn(&str) -> Result<Value, JwtError> + 'static) {
        KEY_SETS.with(|sets| {
            sets.borrow_mut()
                .insert(key_set.to_owned(), Box::new(answer))
        });
    }

    pub(super) fn verify(token: &str, key_set: &str) -> Result<String, JwtError> {
        KEY_SETS.with(|sets| match sets.borrow().get(key_set) {
            Some(answer) => answer(token).map(|claims| claims.to_string()),
            None => Err(JwtError::UnknownKeySet(format!(
                "key set {key_set} is not in this plugin's key_sets"
            ))),
        })
    }
}
