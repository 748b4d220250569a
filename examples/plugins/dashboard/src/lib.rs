//! Example plugin: an aggregation. `GET /dashboard/{user}` calls three services at once
//! through the `upstream` import and answers one JSON document:
//!
//! - `profile`: `GET /users/{user}` on the `users` service (required: 502 without it);
//! - `orders`: `GET /orders?user={user}` on the `orders` service (required);
//! - `recommendations`: `GET /recommendations/{user}` on the `recommendations` service,
//!   optional: `null` plus an entry in `missing` when it fails or is slower than
//!   `recommendations_timeout_ms`.
//!
//! The wait is the slowest call's, not the sum, because `send_all` sends them together.

use archway_sdk::serde_json::{Map, Value, json};
use archway_sdk::upstream::{self, Call, UpstreamError};
use archway_sdk::{Deny, Handle, Plugin, Request, Response, percent_decode};
use serde::Deserialize;

/// How long the optional call may take.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Milliseconds to wait for recommendations before answering without them.
    #[serde(default = "default_recommendations_timeout_ms")]
    pub recommendations_timeout_ms: u32,
}

fn default_recommendations_timeout_ms() -> u32 {
    1000
}

/// Stateless apart from its config.
pub struct Dashboard {
    config: Config,
}

impl Plugin for Dashboard {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Self { config })
    }
}

impl Handle for Dashboard {
    fn handle(&self, request: &Request) -> Result<Response, Deny> {
        let user = request
            .param("user")
            .ok_or_else(|| Deny::bad_request("the route must capture {user}"))?;
        let id = percent_decode(&user);
        let query_user: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        let calls = vec![
            Call::get("users", &format!("/users/{user}")),
            Call::get("orders", &format!("/orders?user={query_user}")),
            Call::get("recommendations", &format!("/recommendations/{user}"))
                .timeout_ms(self.config.recommendations_timeout_ms),
        ];
        let mut replies = upstream::send_all(calls).into_iter();
        let mut next = || replies.next().expect("send_all answers every call");
        let profile = required("profile", next())?;
        let orders = required("orders", next())?;
        let mut missing = Map::new();
        let recommendations = optional(next()).unwrap_or_else(|why| {
            missing.insert("recommendations".to_owned(), Value::String(why));
            Value::Null
        });
        Ok(Response::json(
            200,
            &json!({
                "user": id,
                "profile": profile,
                "orders": orders,
                "recommendations": recommendations,
                "missing": missing,
            }),
        ))
    }
}

/// A part the dashboard cannot do without: its failure is a 502 naming it.
fn required(part: &str, reply: Result<Response, UpstreamError>) -> Result<Value, Deny> {
    optional(reply).map_err(|why| Deny::new(502, format!("{part} unavailable: {why}")))
}

/// A part's JSON, or why there is none.
fn optional(reply: Result<Response, UpstreamError>) -> Result<Value, String> {
    let response = reply.map_err(|error| match error {
        UpstreamError::Timeout => "timed out".to_owned(),
        UpstreamError::UnknownService(why)
        | UpstreamError::Unavailable(why)
        | UpstreamError::Invalid(why)
        | UpstreamError::TooLarge(why) => why,
    })?;
    if !(200..300).contains(&response.status) {
        return Err(format!("answered {}", response.status));
    }
    response
        .json_body()
        .map_err(|e| format!("answered with a body that is not JSON: {e}"))
}

archway_sdk::export!(Dashboard: handle);

#[cfg(test)]
mod tests {
    use archway_sdk::upstream::fake;
    use archway_sdk::{FakeRequest, Response};

    use super::*;

    fn dashboard() -> Dashboard {
        Dashboard::from_json("{}").expect("default config")
    }

    fn echo_service(name: &'static str) {
        fake::answer(name, |call| {
            Ok(Response::json(200, &json!({"path": call.path})))
        });
    }

    #[test]
    fn three_parts_become_one_document() {
        echo_service("users");
        echo_service("orders");
        echo_service("recommendations");
        let fake = FakeRequest::new("GET", "/dashboard/7").param("user", "7");
        let response = dashboard().handle(&fake.request()).expect("answered");
        let body: Value = response.json_body().expect("json");
        assert_eq!(body["profile"]["path"], "/users/7");
        assert_eq!(body["orders"]["path"], "/orders?user=7");
        assert_eq!(body["recommendations"]["path"], "/recommendations/7");
        let calls = fake::take_calls();
        assert_eq!(calls[2].timeout_ms, Some(1000));
    }

    #[test]
    fn a_missing_optional_part_is_null_and_named() {
        echo_service("users");
        echo_service("orders");
        fake::answer("recommendations", |_| Err(UpstreamError::Timeout));
        let fake = FakeRequest::new("GET", "/dashboard/7").param("user", "7");
        let body: Value = dashboard()
            .handle(&fake.request())
            .expect("answered")
            .json_body()
            .expect("json");
        assert_eq!(body["recommendations"], Value::Null);
        assert_eq!(body["missing"]["recommendations"], "timed out");
    }

    #[test]
    fn a_missing_required_part_is_a_502() {
        echo_service("orders");
        echo_service("recommendations");
        let fake = FakeRequest::new("GET", "/dashboard/7").param("user", "7");
        let deny = dashboard()
            .handle(&fake.request())
            .expect_err("no users service");
        assert_eq!(deny.status, 502);
        assert!(
            deny.message.starts_with("profile unavailable"),
            "{}",
            deny.message
        );
    }
}
