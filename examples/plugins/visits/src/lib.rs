//! Example plugin: counts visits per page in `kv` and logs each visit to a stream, so
//! every gateway node sharing the store sees the same counts and the same log.
//!
//! - `POST /visits/{page}`: counts a visit; answers `{"page", "visits", "id"}`.
//! - `GET /visits/{page}`: the count so far.
//! - `GET /visits?after=<id>&limit=<n>`: the visit log after `id` (`0`: from the start).

use archway_sdk::serde_json::json;
use archway_sdk::{Deny, Handle, Plugin, Request, Response, StoreError, kv, streams};

/// The stream every visit is appended to.
const LOG: &str = "visits";

/// Stateless: everything lives in the store.
pub struct Visits;

impl Plugin for Visits {
    type Config = archway_sdk::serde_json::Value;

    fn new(_config: archway_sdk::serde_json::Value) -> Result<Self, String> {
        Ok(Self)
    }
}

impl Handle for Visits {
    fn handle(&self, request: &Request) -> Result<Response, Deny> {
        let method = request.method();
        match (method.as_str(), request.param("page")) {
            ("POST", Some(page)) => count_visit(&page),
            ("GET", Some(page)) => visits(&page),
            ("GET", None) => log(request.query().as_deref().unwrap_or_default()),
            _ => Err(Deny::new(405, format!("{method} is not supported here"))),
        }
    }
}

fn count_visit(page: &str) -> Result<Response, Deny> {
    let visits = kv::incr(&key(page), 1).map_err(unavailable)?;
    let id = streams::append(LOG, &[("page", page), ("visits", &visits.to_string())])
        .map_err(unavailable)?;
    Ok(Response::json(
        200,
        &json!({"page": page, "visits": visits, "id": id}),
    ))
}

fn visits(page: &str) -> Result<Response, Deny> {
    let stored = kv::get(&key(page)).map_err(unavailable)?;
    let visits = stored
        .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(Response::json(
        200,
        &json!({"page": page, "visits": visits}),
    ))
}

fn log(query: &str) -> Result<Response, Deny> {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let after = param("after").unwrap_or("0");
    let limit = match param("limit") {
        Some(text) => text
            .parse()
            .map_err(|_| Deny::bad_request("limit must be a number"))?,
        None => 100,
    };
    let entries = streams::read_after(LOG, after, limit).map_err(unavailable)?;
    let entries: Vec<_> = entries
        .into_iter()
        .map(|entry| {
            let fields: archway_sdk::serde_json::Map<_, _> = entry
                .fields
                .into_iter()
                .map(|(name, value)| (name, value.into()))
                .collect();
            json!({"id": entry.id, "fields": fields})
        })
        .collect();
    Ok(Response::json(200, &json!({"entries": entries})))
}

fn key(page: &str) -> String {
    format!("page:{page}")
}

/// The store could not answer: the client may retry.
fn unavailable(error: StoreError) -> Deny {
    let reason = match error {
        StoreError::Unavailable(why) | StoreError::TooLarge(why) | StoreError::Invalid(why) => why,
    };
    Deny::new(503, format!("store unavailable: {reason}"))
}

archway_sdk::export!(Visits: handle);

#[cfg(test)]
mod tests {
    use archway_sdk::FakeRequest;

    use super::*;

    fn call(fake: FakeRequest) -> archway_sdk::serde_json::Value {
        let response = Visits.handle(&fake.request()).expect("answered");
        archway_sdk::serde_json::from_slice(&response.body).expect("JSON body")
    }

    #[test]
    fn visits_are_counted_and_logged_in_order() {
        for expected in 1..=2 {
            let answer = call(FakeRequest::new("POST", "/visits/home").param("page", "home"));
            assert_eq!(answer["visits"], expected);
        }
        let count = call(FakeRequest::new("GET", "/visits/home").param("page", "home"));
        assert_eq!(count["visits"], 2);
        let log = call(FakeRequest::new("GET", "/visits").query("after=0"));
        let counts: Vec<_> = log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["fields"]["visits"].clone())
            .collect();
        assert_eq!(counts, vec!["1", "2"]);
    }

    #[test]
    fn unsupported_method_is_405() {
        let denied = Visits
            .handle(
                &FakeRequest::new("DELETE", "/visits/x")
                    .param("page", "x")
                    .request(),
            )
            .expect_err("denied");
        assert_eq!(denied.status, 405);
    }
}
