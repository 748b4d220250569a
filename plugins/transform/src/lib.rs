//! First-party `transform` plugin: rewrites requests on the way in and responses on the
//! way out, from config: headers set, removed and renamed; the path's prefix swapped;
//! query parameters set, removed and renamed; the status mapped; and JSON body fields
//! moved, copied, removed, set or defaulted by JSON pointer; and a JSON response wrapped
//! in the API conventions' or the admin contract's envelope, or unwrapped. It does all
//! that `header-transform` does, and more.

mod body;
mod envelope;

use std::collections::BTreeMap;

use archway_sdk::serde_json::Value;
use archway_sdk::{
    Deny, Plugin, Request, RequestEdit, ResponseEdit, ResponseView, Transform, percent_encode,
    query_pairs,
};
use serde::Deserialize;

use body::Edit;
use envelope::Envelope;

/// The `[plugins.config]`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Changes to requests.
    #[serde(default)]
    pub request: RequestConfig,
    /// Changes to responses.
    #[serde(default)]
    pub response: ResponseConfig,
}

/// Changes to requests.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// Headers to set.
    #[serde(default)]
    pub set_headers: BTreeMap<String, String>,
    /// Headers to remove.
    #[serde(default)]
    pub remove_headers: Vec<String>,
    /// Headers to rename: old name = new name.
    #[serde(default)]
    pub rename_headers: BTreeMap<String, String>,
    /// A prefix taken off the client's path ...
    #[serde(default)]
    pub strip_prefix: Option<String>,
    /// ... and one put in front of it.
    #[serde(default)]
    pub add_prefix: Option<String>,
    /// Query parameters to set.
    #[serde(default)]
    pub set_query: BTreeMap<String, String>,
    /// Query parameters to remove.
    #[serde(default)]
    pub remove_query: Vec<String>,
    /// Query parameters to rename: old name = new name.
    #[serde(default)]
    pub rename_query: BTreeMap<String, String>,
    /// Edits of the JSON body (needs `read_body = true`).
    #[serde(default)]
    pub body: Vec<Edit>,
}

/// Changes to responses.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ResponseConfig {
    /// Headers to set.
    #[serde(default)]
    pub set_headers: BTreeMap<String, String>,
    /// Headers to remove.
    #[serde(default)]
    pub remove_headers: Vec<String>,
    /// Headers to rename: old name = new name.
    #[serde(default)]
    pub rename_headers: BTreeMap<String, String>,
    /// Statuses to replace: `"404" = 200`.
    #[serde(default)]
    pub status: BTreeMap<String, u16>,
    /// Edits of the JSON body (needs `read_response_body = true`).
    #[serde(default)]
    pub body: Vec<Edit>,
    /// The JSON body wrapped in an envelope, or unwrapped, after the edits (needs
    /// `read_response_body = true`).
    #[serde(default)]
    pub envelope: Option<Envelope>,
}

/// Header changes: set, remove, rename (lower-case names).
#[derive(Debug, Default)]
struct Headers {
    set: Vec<(String, String)>,
    remove: Vec<String>,
    rename: Vec<(String, String)>,
}

impl Headers {
    fn new(
        set: BTreeMap<String, String>,
        remove: Vec<String>,
        rename: BTreeMap<String, String>,
    ) -> Self {
        let lower = |name: String| name.to_ascii_lowercase();
        Self {
            set: set.into_iter().map(|(k, v)| (lower(k), v)).collect(),
            remove: remove.into_iter().map(lower).collect(),
            rename: rename
                .into_iter()
                .map(|(k, v)| (lower(k), lower(v)))
                .collect(),
        }
    }

    /// The headers to set and remove, reading a renamed header's value with `get`.
    fn edits(&self, get: impl Fn(&str) -> Option<String>) -> (Vec<(String, String)>, Vec<String>) {
        let mut set = Vec::new();
        let mut remove = self.remove.clone();
        for (old, new) in &self.rename {
            if let Some(value) = get(old) {
                set.push((new.clone(), value));
                remove.push(old.clone());
            }
        }
        set.extend(self.set.iter().cloned());
        (set, remove)
    }
}

/// The transform.
pub struct Rewrite {
    request_headers: Headers,
    response_headers: Headers,
    request: RequestConfig,
    status: Vec<(u16, u16)>,
    response_body: Vec<Edit>,
    envelope: Option<Envelope>,
}

impl Plugin for Rewrite {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let Config {
            mut request,
            response,
        } = config;
        for edit in request.body.iter().chain(&response.body) {
            edit.check().map_err(|e| format!("config: {e}"))?;
        }
        if let Some(envelope) = &response.envelope {
            envelope.check()?;
        }
        for prefix in [&request.strip_prefix, &request.add_prefix]
            .into_iter()
            .flatten()
        {
            if !prefix.starts_with('/') || prefix.ends_with('/') {
                return Err(format!(
                    "config: request prefix {prefix:?} must start with / and not end with one"
                ));
            }
        }
        let status = response
            .status
            .iter()
            .map(|(from, to)| match from.parse::<u16>() {
                Ok(from) if (100..=599).contains(&from) && (200..=599).contains(to) => {
                    Ok((from, *to))
                }
                _ => Err(format!(
                    "config: response.status.{from} = {to}: map a status 100-599 to one 200-599"
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            // Taken out: the rest of `request` (path, query, body) is kept for the calls.
            request_headers: Headers::new(
                std::mem::take(&mut request.set_headers),
                std::mem::take(&mut request.remove_headers),
                std::mem::take(&mut request.rename_headers),
            ),
            response_headers: Headers::new(
                response.set_headers,
                response.remove_headers,
                response.rename_headers,
            ),
            request,
            status,
            response_body: response.body,
            envelope: response.envelope,
        })
    }
}

impl Transform for Rewrite {
    fn on_request(&self, request: &Request) -> Result<RequestEdit, Deny> {
        let (set_headers, remove_headers) = self.request_headers.edits(|n| request.header(n));
        let config = &self.request;
        let path = (config.strip_prefix.is_some() || config.add_prefix.is_some()).then(|| {
            let path = request.path();
            let rest = match &config.strip_prefix {
                Some(prefix) => match path.strip_prefix(prefix.as_str()) {
                    Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                    _ => path.clone(),
                },
                None => path.clone(),
            };
            let joined = format!("{}{rest}", config.add_prefix.as_deref().unwrap_or(""));
            if joined.is_empty() {
                "/".to_owned()
            } else {
                joined
            }
        });
        let changes_query = !config.set_query.is_empty()
            || !config.remove_query.is_empty()
            || !config.rename_query.is_empty();
        let query = changes_query.then(|| self.query(&request.query().unwrap_or_default()));
        let body = match self.request.body.is_empty() {
            true => None,
            false => {
                let bytes = request.body().ok_or_else(|| misconfigured("read_body"))?;
                Some(edited(&bytes, &self.request.body, |value| value))
            }
        };
        Ok(RequestEdit {
            set_headers,
            remove_headers,
            path,
            query,
            body: body.flatten(),
        })
    }

    fn on_response(
        &self,
        _request: &Request,
        response: &ResponseView,
    ) -> Result<ResponseEdit, Deny> {
        let (set_headers, remove_headers) = self.response_headers.edits(|n| response.header(n));
        let current = response.status();
        let status = self
            .status
            .iter()
            .find(|(from, _)| *from == current)
            .map(|(_, to)| *to);
        let body = match self.response_body.is_empty() && self.envelope.is_none() {
            true => None,
            false => {
                let bytes = response
                    .body()
                    .ok_or_else(|| misconfigured("read_response_body"))?;
                let envelope = self.envelope.as_ref();
                edited(&bytes, &self.response_body, |value| match envelope {
                    Some(envelope) => envelope.convert(current, value),
                    None => value,
                })
            }
        };
        Ok(ResponseEdit {
            status,
            set_headers,
            remove_headers,
            body,
        })
    }
}

impl Rewrite {
    /// The query with parameters renamed, removed and set, in that order.
    fn query(&self, query: &str) -> String {
        let config = &self.request;
        let mut pairs: Vec<(String, String)> = query_pairs(query)
            .into_iter()
            .map(|(name, value)| match config.rename_query.get(&name) {
                Some(new) => (new.clone(), value),
                None => (name, value),
            })
            .filter(|(name, _)| !config.remove_query.contains(name))
            .collect();
        for (name, value) in &config.set_query {
            pairs.retain(|(n, _)| n != name);
            pairs.push((name.clone(), value.clone()));
        }
        pairs
            .iter()
            .map(|(n, v)| format!("{}={}", percent_encode(n), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The body with `edits` applied, then `finish`, when it is JSON; `None` (unchanged)
/// when it is not.
fn edited(bytes: &[u8], edits: &[Edit], finish: impl FnOnce(Value) -> Value) -> Option<Vec<u8>> {
    let mut value: Value = archway_sdk::serde_json::from_slice(bytes).ok()?;
    for edit in edits {
        edit.apply(&mut value);
    }
    let value = finish(value);
    Some(archway_sdk::serde_json::to_vec(&value).expect("a JSON value serialises"))
}

fn misconfigured(setting: &str) -> Deny {
    archway_sdk::log(
        archway_sdk::Level::Error,
        &format!("transform: body edits and envelopes need {setting} = true in the plugin's entry"),
    );
    Deny::new(500, "the transform is misconfigured")
}

archway_sdk::export!(Rewrite: transform);

#[cfg(test)]
mod tests;
