//! The plugin's config, checked once: each call's templates parsed, and the calls put in
//! waves, a call in a later wave than every call whose answer it reads.

use std::collections::BTreeMap;

use archway_sdk::serde_json::Value;
use serde::Deserialize;

use crate::template::Template;

/// The `[plugins.config]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The calls, in the order their answers are composed.
    pub calls: Vec<CallConfig>,
    /// How the answers become one body.
    #[serde(default)]
    pub compose: Compose,
    /// For `compose = "pick"`: output field -> JSON pointer into the answers by call name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The key that lists the optional calls that failed (`on_failure = "null"`).
    #[serde(default = "default_errors_field")]
    pub errors_field: String,
}

fn default_errors_field() -> String {
    "errors".to_owned()
}

/// How answers are composed.
#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Compose {
    /// `{"<call>": answer, ...}`.
    #[default]
    Object,
    /// The answers deep-merged, later calls winning.
    Merge,
    /// Only `fields`, each picked by JSON pointer from the object of answers.
    Pick,
}

/// One call.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CallConfig {
    /// Its name in the composed answer and in `{calls.NAME/...}`.
    pub name: String,
    /// The service, from the plugin's `upstreams`.
    pub service: String,
    /// The method (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// The path and query, a template.
    pub path: String,
    /// Request headers copied from the client's request.
    #[serde(default)]
    pub forward_headers: Vec<String>,
    /// Request headers to set, each a template.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body whose strings are templates.
    #[serde(default)]
    pub body: Option<Value>,
    /// Its own deadline (the route's remaining time caps it).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// Whether the request fails without it (default true).
    #[serde(default = "yes")]
    pub required: bool,
    /// An optional call that fails: `omit` it, or answer `null` with an error entry.
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn yes() -> bool {
    true
}

/// What an optional call's failure leaves in the answer.
#[derive(Deserialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// `null`, and the reason under `errors_field`.
    #[default]
    Null,
    /// Nothing.
    Omit,
}

/// A call ready to fill in.
#[derive(Debug)]
pub struct Call {
    /// Its config.
    pub config: CallConfig,
    /// Its path template.
    pub path: Template,
    /// Its header templates.
    pub headers: Vec<(String, Template)>,
    /// Its body, with its templates.
    pub body: Option<Body>,
}

/// A JSON body with template strings.
#[derive(Debug)]
pub enum Body {
    /// A template string.
    Text(Template),
    /// An array.
    Array(Vec<Body>),
    /// An object.
    Object(Vec<(String, Body)>),
    /// Any other value, as it is.
    Plain(Value),
}

/// The checked config: calls in waves.
#[derive(Debug)]
pub struct Plan {
    /// Call indexes by wave; every call reads only calls of earlier waves.
    pub waves: Vec<Vec<usize>>,
    /// The calls, in config order.
    pub calls: Vec<Call>,
    /// How to compose.
    pub compose: Compose,
    /// For `pick`.
    pub fields: BTreeMap<String, String>,
    /// The errors key.
    pub errors_field: String,
}

impl Plan {
    /// Checks `config`: names unique and not the errors key, methods known, templates
    /// valid, and every call read by another exists and comes before any cycle.
    pub fn new(config: Config) -> Result<Self, String> {
        if config.calls.is_empty() || config.calls.len() > 64 {
            return Err("config: calls must list 1 to 64 calls".to_owned());
        }
        if config.compose == Compose::Pick && config.fields.is_empty() {
            return Err("config: compose = \"pick\" needs fields".to_owned());
        }
        for (field, pointer) in &config.fields {
            if !pointer.starts_with('/') {
                return Err(format!(
                    "config: fields.{field} must be a JSON pointer (/call/...)"
                ));
            }
        }
        let mut calls = Vec::new();
        for (i, call) in config.calls.into_iter().enumerate() {
            let at = |what: &str| format!("config: calls[{i}] ({}): {what}", call.name);
            if call.name.is_empty() || calls.iter().any(|c: &Call| c.config.name == call.name) {
                return Err(at("names must be unique and not empty"));
            }
            if call.name == config.errors_field {
                return Err(at("a call may not be named like errors_field"));
            }
            if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&call.method.as_str()) {
                return Err(at("method must be GET, POST, PUT, PATCH, DELETE or HEAD"));
            }
            if !call.path.starts_with('/') {
                return Err(at("path must start with /"));
            }
            let path = Template::parse(&call.path).map_err(|e| at(&e))?;
            let headers = call
                .headers
                .iter()
                .map(|(name, value)| Ok((name.to_ascii_lowercase(), Template::parse(value)?)))
                .collect::<Result<_, String>>()
                .map_err(|e| at(&e))?;
            let body = call
                .body
                .as_ref()
                .map(body)
                .transpose()
                .map_err(|e| at(&e))?;
            calls.push(Call {
                config: call,
                path,
                headers,
                body,
            });
        }
        let waves = waves(&calls)?;
        Ok(Self {
            waves,
            calls,
            compose: config.compose,
            fields: config.fields,
            errors_field: config.errors_field,
        })
    }
}

fn body(value: &Value) -> Result<Body, String> {
    Ok(match value {
        Value::String(text) => Body::Text(Template::parse(text)?),
        Value::Array(items) => Body::Array(items.iter().map(body).collect::<Result<_, _>>()?),
        Value::Object(map) => Body::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), body(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => Body::Plain(other.clone()),
    })
}

impl Body {
    /// Every template in the body.
    fn templates(&self) -> Vec<&Template> {
        match self {
            Self::Text(template) => vec![template],
            Self::Array(items) => items.iter().flat_map(Self::templates).collect(),
            Self::Object(fields) => fields.iter().flat_map(|(_, b)| b.templates()).collect(),
            Self::Plain(_) => Vec::new(),
        }
    }
}

impl Call {
    /// Every template of the call: path, headers, body.
    pub fn templates(&self) -> Vec<&Template> {
        let mut templates = vec![&self.path];
        templates.extend(self.headers.iter().map(|(_, t)| t));
        if let Some(body) = &self.body {
            templates.extend(body.templates());
        }
        templates
    }

    /// The names of the calls this one reads.
    pub fn reads(&self) -> Vec<&str> {
        self.templates()
            .into_iter()
            .flat_map(Template::calls)
            .collect()
    }
}

/// Calls in waves: a call goes one wave after the latest call it reads.
fn waves(calls: &[Call]) -> Result<Vec<Vec<usize>>, String> {
    let index: BTreeMap<&str, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.config.name.as_str(), i))
        .collect();
    let mut wave: Vec<Option<usize>> = vec![None; calls.len()];
    // Each pass places the calls whose dependencies are placed; a pass that places
    // nothing leaves a cycle.
    while wave.iter().any(Option::is_none) {
        let mut placed = false;
        for (i, call) in calls.iter().enumerate() {
            if wave[i].is_some() {
                continue;
            }
            let mut level = Some(0);
            for name in call.reads() {
                let dependency = *index.get(name).ok_or_else(|| {
                    format!(
                        "config: calls[{i}] ({}) reads calls.{name}, which is not a call",
                        call.config.name
                    )
                })?;
                if dependency == i {
                    return Err(format!("config: calls[{i}] ({name}) reads itself"));
                }
                level = match (level, wave[dependency]) {
                    (Some(l), Some(d)) => Some(l.max(d + 1)),
                    _ => None,
                };
            }
            if let Some(level) = level {
                wave[i] = Some(level);
                placed = true;
            }
        }
        if !placed {
            return Err("config: calls read each other in a cycle".to_owned());
        }
    }
    let depth = wave.iter().flatten().max().map_or(0, |d| d + 1);
    let mut waves = vec![Vec::new(); depth];
    for (i, level) in wave.into_iter().enumerate() {
        waves[level.expect("every call placed")].push(i);
    }
    Ok(waves)
}
