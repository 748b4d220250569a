//! The responses the gateway itself produces: the admin contract's envelope
//! `{"code": "F40400", "msg": "...", "content": {}}` with its code table.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use crate::body::{ProxyBody, full};

/// An error the gateway answers with, by the admin contract's code table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// 400 F40000: the request is malformed (ambiguous path encoding).
    BadRequest,
    /// 401 F40001: no or bad credentials.
    Unauthenticated,
    /// 403 F40003: not allowed.
    Forbidden,
    /// 404 F40400: no route matches.
    NotFound,
    /// 413 F41300: the body is over the route's limit.
    PayloadTooLarge,
    /// 429 F42900: rate limited.
    RateLimited,
    /// 500 F50000: a plugin or the gateway failed.
    Internal,
    /// 502 F50200: the upstream could not be reached or answered badly.
    BadUpstream,
    /// 503 F50300: the upstream is unavailable.
    Unavailable,
    /// 504 F50400: the upstream did not answer in time.
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
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadUpstream => StatusCode::BAD_GATEWAY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The contract's code.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "F40000",
            Self::Unauthenticated => "F40001",
            Self::Forbidden => "F40003",
            Self::NotFound => "F40400",
            Self::PayloadTooLarge => "F41300",
            Self::RateLimited => "F42900",
            Self::Internal => "F50000",
            Self::BadUpstream => "F50200",
            Self::Unavailable => "F50300",
            Self::Timeout => "F50400",
        }
    }

    /// The error for a plugin's deny status: the matching code, or the closest class.
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            413 => Self::PayloadTooLarge,
            429 => Self::RateLimited,
            502 => Self::BadUpstream,
            503 => Self::Unavailable,
            504 => Self::Timeout,
            s if s < 500 => Self::BadRequest,
            _ => Self::Internal,
        }
    }

    /// The envelope response with this error's status and `msg`.
    pub fn response(self, msg: &str) -> http::Response<ProxyBody> {
        envelope(self.status(), self.code(), msg)
    }
}

/// An envelope response with any status (a deny keeps the plugin's exact status).
pub fn envelope(status: StatusCode, code: &str, msg: &str) -> http::Response<ProxyBody> {
    let body = serde_json::json!({ "code": code, "msg": msg, "content": {} });
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

    #[tokio::test]
    async fn envelope_has_code_msg_and_empty_content() {
        let response = GatewayError::NotFound.response("no route for GET /x");
        assert_eq!(response.status(), 404);
        let body = response
            .into_body()
            .collect()
            .await
            .expect("full body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"code": "F40400", "msg": "no route for GET /x", "content": {}})
        );
    }

    #[test]
    fn deny_statuses_map_to_contract_codes() {
        assert_eq!(
            GatewayError::for_status(StatusCode::UNAUTHORIZED).code(),
            "F40001"
        );
        assert_eq!(
            GatewayError::for_status(StatusCode::FORBIDDEN).code(),
            "F40003"
        );
        assert_eq!(
            GatewayError::for_status(StatusCode::IM_A_TEAPOT).code(),
            "F40000"
        );
    }
}
