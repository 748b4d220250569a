//! The responses the gateway itself produces, in the route's error format: `admin` (the
//! admin contract's `{"code": "F40400", "msg": "...", "content": {}}`) or `trading` (the
//! trading contract's `{"error": true, "code": "NOT_FOUND", "message": "...",
//! "details": {}, "timestamp": "..."}`). Each status the gateway produces has one code per
//! format, taken from the contract's table where it has one and defined here where it
//! does not; bodies never carry internals.

use std::time::SystemTime;

use archway_config::ErrorFormat;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use crate::body::{ProxyBody, full};

/// An error the gateway answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// 400: the request is malformed (ambiguous path encoding, bad `Host`).
    BadRequest,
    /// 401: no or bad credentials.
    Unauthenticated,
    /// 403: not allowed.
    Forbidden,
    /// 404: no route matches.
    NotFound,
    /// 413: the body is over the route's limit.
    PayloadTooLarge,
    /// 414: the request target is longer than the server allows.
    UriTooLong,
    /// 431: the request's headers are more or larger than the server allows.
    HeadersTooLarge,
    /// 429: rate limited.
    RateLimited,
    /// 500: a plugin or the gateway failed.
    Internal,
    /// 502: the upstream could not be reached or answered badly.
    BadUpstream,
    /// 503: the upstream (or a service the route needs) is unavailable.
    Unavailable,
    /// 503: every instance that would take the request has its circuit breaker open.
    CircuitOpen,
    /// 504: the upstream or the route did not finish in time.
    Timeout,
}

impl GatewayError {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadUpstream => StatusCode::BAD_GATEWAY,
            Self::Unavailable | Self::CircuitOpen => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The code in `format`'s table.
    pub fn code(self, format: ErrorFormat) -> &'static str {
        match format {
            ErrorFormat::Admin => match self {
                Self::BadRequest => "F40000",
                Self::Unauthenticated => "F40001",
                Self::Forbidden => "F40003",
                Self::NotFound => "F40400",
                Self::PayloadTooLarge => "F41300",
                Self::UriTooLong => "F41400",
                Self::HeadersTooLarge => "F43100",
                Self::RateLimited => "F42900",
                Self::Internal => "F50000",
                Self::BadUpstream => "F50200",
                Self::Unavailable => "F50300",
                Self::CircuitOpen => "F50301",
                Self::Timeout => "F50400",
            },
            ErrorFormat::Trading => match self {
                Self::BadRequest => "INVALID_PARAMETER",
                Self::Unauthenticated => "UNAUTHORIZED",
                Self::Forbidden => "FORBIDDEN",
                Self::NotFound => "NOT_FOUND",
                Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
                Self::UriTooLong => "URI_TOO_LONG",
                Self::HeadersTooLarge => "HEADERS_TOO_LARGE",
                Self::RateLimited => "RATE_LIMITED",
                Self::Internal => "INTERNAL_ERROR",
                Self::BadUpstream => "BAD_GATEWAY",
                Self::Unavailable | Self::CircuitOpen => "SERVICE_UNAVAILABLE",
                Self::Timeout => "GATEWAY_TIMEOUT",
            },
        }
    }

    /// The error for a plugin's deny status: the matching code, or the closest class.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            413 => Self::PayloadTooLarge,
            414 => Self::UriTooLong,
            431 => Self::HeadersTooLarge,
            429 => Self::RateLimited,
            502 => Self::BadUpstream,
            503 => Self::Unavailable,
            504 => Self::Timeout,
            s if s < 500 => Self::BadRequest,
            _ => Self::Internal,
        }
    }

    /// This error's response in `format`, with `message` for the client.
    pub fn response(self, format: ErrorFormat, message: &str) -> http::Response<ProxyBody> {
        envelope(format, self.status(), self.code(format), message)
    }
}

/// An error response in `format` with any status (a deny keeps the plugin's status).
pub fn envelope(
    format: ErrorFormat,
    status: StatusCode,
    code: &str,
    message: &str,
) -> http::Response<ProxyBody> {
    let body = match format {
        ErrorFormat::Admin => serde_json::json!({ "code": code, "msg": message, "content": {} }),
        ErrorFormat::Trading => serde_json::json!({
            "error": true,
            "code": code,
            "message": message,
            "details": {},
            "timestamp": crate::timestamp::rfc3339(SystemTime::now()),
        }),
    };
    let mut response = http::Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn json(response: http::Response<ProxyBody>) -> serde_json::Value {
        let body = response
            .into_body()
            .collect()
            .await
            .expect("full body")
            .to_bytes();
        serde_json::from_slice(&body).expect("json")
    }

    #[tokio::test]
    async fn admin_envelope_has_code_msg_and_empty_content() {
        let response = GatewayError::NotFound.response(ErrorFormat::Admin, "no route for GET /x");
        assert_eq!(response.status(), 404);
        assert_eq!(
            json(response).await,
            serde_json::json!({"code": "F40400", "msg": "no route for GET /x", "content": {}})
        );
    }

    #[tokio::test]
    async fn trading_envelope_has_error_code_message_details_and_timestamp() {
        let response = GatewayError::RateLimited.response(ErrorFormat::Trading, "slow down");
        assert_eq!(response.status(), 429);
        let body = json(response).await;
        assert_eq!(body["error"], true);
        assert_eq!(body["code"], "RATE_LIMITED");
        assert_eq!(body["message"], "slow down");
        assert_eq!(body["details"], serde_json::json!({}));
        let timestamp = body["timestamp"].as_str().expect("timestamp");
        assert_eq!(timestamp.len(), "2026-01-04T10:00:00Z".len(), "{timestamp}");
    }

    #[test]
    fn deny_statuses_map_to_contract_codes() {
        let code = |status| GatewayError::for_status(status).code(ErrorFormat::Admin);
        assert_eq!(code(StatusCode::UNAUTHORIZED), "F40001");
        assert_eq!(code(StatusCode::FORBIDDEN), "F40003");
        assert_eq!(code(StatusCode::IM_A_TEAPOT), "F40000");
        assert_eq!(
            GatewayError::for_status(StatusCode::FORBIDDEN).code(ErrorFormat::Trading),
            "FORBIDDEN"
        );
    }
}
