//! First-party `handle` plugin: an aggregation configured in TOML. One client request
//! fans out to several named services, each wave of calls at once (`send-all`), a later
//! wave reading fields of earlier answers; the answers are composed into one JSON body
//! (an object keyed by call name, a deep merge, or fields picked by JSON pointer). A
//! required call that fails fails the request (502, or 504 when it timed out); an
//! optional one is left out or answers `null` with its reason under `errors`. Only the
//! services in the plugin's `upstreams` grant are reachable.

mod plan;
mod template;

use std::collections::BTreeMap;

use archway_sdk::serde_json::{self, Map, Value};
use archway_sdk::upstream::{self, UpstreamError};
use archway_sdk::{Deny, Handle, Plugin, Request, Response, query_pairs};

use plan::{Body, Compose, Config, OnFailure, Plan};
use template::Values;

/// The aggregation.
pub struct Aggregate {
    plan: Plan,
}

impl Plugin for Aggregate {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Self {
            plan: Plan::new(config)?,
        })
    }
}

/// Why a call gave no answer.
enum Failure {
    /// It ran out of time.
    Timeout,
    /// Anything else, for the log and the errors entry.
    Other(String),
}

impl Handle for Aggregate {
    fn handle(&self, request: &Request) -> Result<Response, Deny> {
        let raw_query = request.query().unwrap_or_default();
        let query = query_pairs(&raw_query);
        let params = self.params(request);
        let mut answers: BTreeMap<String, Value> = BTreeMap::new();
        let mut errors = Map::new();
        for wave in &self.plan.waves {
            let values = Values {
                params: &params,
                query: &query,
                raw_query: &raw_query,
                calls: &answers,
            };
            let outgoing = wave
                .iter()
                .map(|&i| self.outgoing(i, request, &values))
                .collect();
            let replies = upstream::send_all(outgoing);
            for (&i, reply) in wave.iter().zip(replies) {
                let call = &self.plan.calls[i].config;
                match outcome(reply) {
                    Ok(answer) => {
                        answers.insert(call.name.clone(), answer);
                    }
                    Err(failure) if call.required => return Err(refusal(&call.name, failure)),
                    Err(failure) => {
                        if call.on_failure == OnFailure::Null {
                            answers.insert(call.name.clone(), Value::Null);
                            errors.insert(call.name.clone(), Value::String(reason(&failure)));
                        }
                    }
                }
            }
        }
        Ok(Response::json(200, &self.compose(answers, errors)))
    }
}

impl Aggregate {
    /// The route's path parameters that the calls name.
    fn params(&self, request: &Request) -> BTreeMap<String, String> {
        let mut params = BTreeMap::new();
        for template in self.plan.calls.iter().flat_map(plan::Call::templates) {
            for name in template.params() {
                if let Some(value) = request.param(name) {
                    params.insert(name.to_owned(), value);
                }
            }
        }
        params
    }

    /// Call `i` filled in from the request and the answers so far.
    fn outgoing(&self, i: usize, request: &Request, values: &Values) -> upstream::Call {
        let call = &self.plan.calls[i];
        let config = &call.config;
        let mut outgoing = upstream::Call::new(
            &config.method,
            &config.service,
            &call.path.render(values, true),
        );
        for name in &config.forward_headers {
            if let Some(value) = request.header(name) {
                outgoing = outgoing.header(name, &value);
            }
        }
        for (name, template) in &call.headers {
            outgoing = outgoing.header(name, &template.render(values, false));
        }
        if let Some(body) = &call.body {
            let json = fill(body, values);
            outgoing = outgoing
                .header("content-type", "application/json")
                .body(json.to_string());
        }
        if let Some(ms) = config.timeout_ms {
            outgoing = outgoing.timeout_ms(ms);
        }
        outgoing
    }

    fn compose(&self, answers: BTreeMap<String, Value>, errors: Map<String, Value>) -> Value {
        let mut composed = match self.plan.compose {
            Compose::Object | Compose::Pick => {
                let mut object = Map::new();
                for call in &self.plan.calls {
                    if let Some(answer) = answers.get(&call.config.name) {
                        object.insert(call.config.name.clone(), answer.clone());
                    }
                }
                Value::Object(object)
            }
            Compose::Merge => {
                let mut merged = Value::Object(Map::new());
                // A failed optional call's `null` merges nothing: it is listed in errors.
                for call in &self.plan.calls {
                    if let Some(answer) = answers.get(&call.config.name).filter(|a| !a.is_null()) {
                        merge(&mut merged, answer);
                    }
                }
                merged
            }
        };
        if self.plan.compose == Compose::Pick {
            composed = Value::Object(
                self.plan
                    .fields
                    .iter()
                    .map(|(field, pointer)| {
                        let picked = composed.pointer(pointer).cloned().unwrap_or(Value::Null);
                        (field.clone(), picked)
                    })
                    .collect(),
            );
        }
        if !errors.is_empty()
            && let Value::Object(object) = &mut composed
        {
            object.insert(self.plan.errors_field.clone(), Value::Object(errors));
        }
        composed
    }
}

/// A body with its templates filled.
fn fill(body: &Body, values: &Values) -> Value {
    match body {
        Body::Text(template) => template.value(values),
        Body::Array(items) => Value::Array(items.iter().map(|b| fill(b, values)).collect()),
        Body::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, b)| (k.clone(), fill(b, values)))
                .collect(),
        ),
        Body::Plain(value) => value.clone(),
    }
}

/// A call's answer: its JSON body (or its text), when it succeeded with a 2xx.
fn outcome(reply: Result<Response, UpstreamError>) -> Result<Value, Failure> {
    match reply {
        Ok(response) if (200..300).contains(&response.status) => {
            Ok(serde_json::from_slice(&response.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into())))
        }
        Ok(response) => Err(Failure::Other(format!("status {}", response.status))),
        Err(UpstreamError::Timeout) => Err(Failure::Timeout),
        Err(UpstreamError::UnknownService(service)) => {
            Err(Failure::Other(format!("unknown service {service}")))
        }
        Err(UpstreamError::Unavailable(why)) => Err(Failure::Other(format!("unavailable: {why}"))),
        Err(UpstreamError::Invalid(why)) => Err(Failure::Other(format!("invalid: {why}"))),
        Err(UpstreamError::TooLarge(why)) => Err(Failure::Other(format!("too large: {why}"))),
    }
}

fn reason(failure: &Failure) -> String {
    match failure {
        Failure::Timeout => "timeout".to_owned(),
        Failure::Other(why) => why.clone(),
    }
}

/// A required call failed: 504 when it timed out, else 502, in the route's error format.
fn refusal(call: &str, failure: Failure) -> Deny {
    archway_sdk::log(
        archway_sdk::Level::Warn,
        &format!(
            "aggregate: required call {call} failed: {}",
            reason(&failure)
        ),
    );
    match failure {
        Failure::Timeout => Deny::new(504, format!("call {call} timed out")),
        Failure::Other(_) => Deny::new(502, format!("call {call} failed")),
    }
}

/// Merges `from` into `into`: objects key by key, recursively; anything else replaces.
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (into, from) => *into = from.clone(),
    }
}

archway_sdk::export!(Aggregate: handle);

#[cfg(test)]
mod tests;
