//! Bearer tokens (RFC 6750): reading one from `Authorization`, and the denials a token
//! authenticator answers with. The client learns only "invalid token", "token expired" or
//! that authentication is unavailable, never why a token failed.

use crate::{Deny, Request};

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
///
/// `Ok(None)` when there is no `Authorization` header or it uses another scheme (another
/// authenticator may know it); [`Deny::invalid_token`] when the scheme is Bearer but the
/// token is missing or not RFC 6750 `b64token` syntax.
///
/// ```
/// use archway_sdk::{FakeRequest, bearer_token};
///
/// let fake = FakeRequest::new("GET", "/").header("authorization", "bearer abc.DEF-1~");
/// assert_eq!(bearer_token(&fake.request()).ok(), Some(Some("abc.DEF-1~".to_owned())));
/// let basic = FakeRequest::new("GET", "/").header("authorization", "Basic dTpw");
/// assert_eq!(bearer_token(&basic.request()).ok(), Some(None));
/// let junk = FakeRequest::new("GET", "/").header("authorization", "Bearer a b");
/// assert_eq!(bearer_token(&junk.request()).err().map(|deny| deny.status), Some(401));
/// ```
pub fn bearer_token(request: &Request) -> Result<Option<String>, Deny> {
    let Some(value) = request.header("authorization") else {
        return Ok(None);
    };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim_start_matches(' ');
    if is_b64token(token) {
        Ok(Some(token.to_owned()))
    } else {
        Err(Deny::invalid_token())
    }
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

impl Deny {
    /// 401 for a token that is not valid (unknown, inactive, revoked, malformed, bad
    /// signature), with `www-authenticate: Bearer error="invalid_token"`.
    ///
    /// ```
    /// let deny = archway_sdk::Deny::invalid_token();
    /// assert_eq!((deny.status, deny.message.as_str()), (401, "invalid token"));
    /// assert_eq!(
    ///     deny.headers,
    ///     [("www-authenticate".to_owned(),
    ///       r#"Bearer error="invalid_token", error_description="invalid token""#.to_owned())]
    /// );
    /// assert!(deny.body.is_empty(), "the gateway writes its error envelope");
    /// ```
    pub fn invalid_token() -> Self {
        bearer_error("invalid token")
    }

    /// 401 for a token whose lifetime has passed, with
    /// `www-authenticate: Bearer error="invalid_token", error_description="token expired"`.
    pub fn token_expired() -> Self {
        bearer_error("token expired")
    }

    /// 503 when the service that checks tokens cannot answer: the request fails closed,
    /// and a retry may work. No `www-authenticate`: the token was not judged.
    ///
    /// ```
    /// let deny = archway_sdk::Deny::auth_unavailable();
    /// assert_eq!((deny.status, deny.message.as_str()), (503, "authentication service unavailable"));
    /// assert!(deny.headers.is_empty());
    /// ```
    pub fn auth_unavailable() -> Self {
        Self::new(503, "authentication service unavailable")
    }
}

/// A 401 whose message is also the challenge's `error_description`; `message` is one of
/// this module's fixed texts, so it needs no quoting.
fn bearer_error(message: &str) -> Deny {
    Deny::unauthorized(message).with_header(
        "www-authenticate",
        &format!(r#"Bearer error="invalid_token", error_description="{message}""#),
    )
}

#[cfg(test)]
mod tests {
    use crate::FakeRequest;

    use super::*;

    fn token(authorization: Option<&str>) -> Result<Option<String>, u16> {
        let mut fake = FakeRequest::new("GET", "/");
        if let Some(value) = authorization {
            fake = fake.header("Authorization", value);
        }
        bearer_token(&fake.request()).map_err(|deny| deny.status)
    }

    #[test]
    fn the_bearer_scheme_is_read_case_insensitively() {
        for header in [
            "Bearer t0k3n",
            "bearer t0k3n",
            "BEARER t0k3n",
            "Bearer   t0k3n ",
        ] {
            assert_eq!(
                token(Some(header)),
                Ok(Some("t0k3n".to_owned())),
                "{header}"
            );
        }
        assert_eq!(
            token(Some("Bearer mF_9.B5f-4.1JqM/+a==")),
            Ok(Some("mF_9.B5f-4.1JqM/+a==".to_owned()))
        );
    }

    #[test]
    fn no_header_or_another_scheme_is_left_to_other_authenticators() {
        assert_eq!(token(None), Ok(None));
        assert_eq!(token(Some("Basic dXNlcjpwYXNz")), Ok(None));
        assert_eq!(token(Some("Bearerish abc")), Ok(None));
        assert_eq!(token(Some("")), Ok(None));
    }

    #[test]
    fn a_bearer_header_without_a_well_formed_token_is_an_invalid_token() {
        for header in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Bearer ==",
            "Bearer a=b",
        ] {
            assert_eq!(token(Some(header)), Err(401), "{header:?}");
        }
    }

    #[test]
    fn token_denials_say_only_what_rfc_6750_lets_a_client_know() {
        let expired = Deny::token_expired();
        assert_eq!(
            (expired.status, expired.message.as_str()),
            (401, "token expired")
        );
        assert_eq!(
            expired.headers,
            [(
                "www-authenticate".to_owned(),
                r#"Bearer error="invalid_token", error_description="token expired""#.to_owned()
            )]
        );
        let unavailable = Deny::auth_unavailable();
        assert_eq!(unavailable.status, 503);
        assert!(unavailable.body.is_empty());
    }
}
