//! First-party `transform` plugin: a route's query parameters and JSON body checked
//! against JSON Schemas (draft 2020-12 by default, or the draft a schema's `$schema`
//! names) before the request goes on. A request that does not fit is refused with 400,
//! naming the field, in the route's error format, so the upstream never sees it.

use archway_sdk::serde_json::{Map, Value};
use archway_sdk::{Deny, Plugin, Request, RequestEdit, Transform, query_pairs};
use jsonschema::Validator;
use serde::Deserialize;

/// The `[plugins.config]`: a schema for the query, the body, or both.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The query parameters as an object of their values (numbers and booleans where
    /// the schema's property says so; arrays for repeated parameters of array type).
    #[serde(default)]
    pub query: Option<Value>,
    /// The JSON body (the plugin's entry needs `read_body = true`).
    #[serde(default)]
    pub body: Option<Value>,
    /// How many violations a refusal lists (default 3).
    #[serde(default = "default_max_errors")]
    pub max_errors: usize,
}

fn default_max_errors() -> usize {
    3
}

/// A schema and the schema's text, for coercing query values.
struct Checked {
    validator: Validator,
    schema: Value,
}

/// The validator.
pub struct Validate {
    query: Option<Checked>,
    body: Option<Checked>,
    max_errors: usize,
}

impl Plugin for Validate {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.query.is_none() && config.body.is_none() {
            return Err("config: give a query schema, a body schema, or both".to_owned());
        }
        if config.max_errors == 0 {
            return Err("config: max_errors must be at least 1".to_owned());
        }
        let compile = |part: &str, schema: Option<Value>| {
            schema
                .map(|schema| {
                    let validator = jsonschema::validator_for(&schema)
                        .map_err(|e| format!("config: {part} is not a valid JSON Schema: {e}"))?;
                    Ok::<_, String>(Checked { validator, schema })
                })
                .transpose()
        };
        Ok(Self {
            query: compile("query", config.query)?,
            body: compile("body", config.body)?,
            max_errors: config.max_errors,
        })
    }
}

impl Transform for Validate {
    fn on_request(&self, request: &Request) -> Result<RequestEdit, Deny> {
        if let Some(query) = &self.query {
            let pairs = query_pairs(&request.query().unwrap_or_default());
            self.check("query", query, &query_object(&pairs, &query.schema))?;
        }
        if let Some(body) = &self.body {
            let bytes = request.body().ok_or_else(|| {
                archway_sdk::log(
                    archway_sdk::Level::Error,
                    "validate: a body schema needs read_body = true in the plugin's entry",
                );
                Deny::new(500, "request validation is misconfigured")
            })?;
            let value: Value = archway_sdk::serde_json::from_slice(&bytes)
                .map_err(|_| Deny::bad_request("body: not valid JSON"))?;
            self.check("body", body, &value)?;
        }
        Ok(RequestEdit::default())
    }
}

impl Validate {
    /// Refuses `value` with 400 listing up to `max_errors` violations, each naming its
    /// field (`query.limit: 5000 is greater than the maximum of 1000`).
    fn check(&self, part: &str, checked: &Checked, value: &Value) -> Result<(), Deny> {
        let violations: Vec<String> = checked
            .validator
            .iter_errors(value)
            .take(self.max_errors)
            .map(|error| {
                let path = error.instance_path().to_string();
                let field = path.trim_start_matches('/').replace('/', ".");
                match field.is_empty() {
                    true => format!("{part}: {error}"),
                    false => format!("{part}.{field}: {error}"),
                }
            })
            .collect();
        match violations.is_empty() {
            true => Ok(()),
            false => Err(Deny::bad_request(violations.join("; "))),
        }
    }
}

/// The query as a JSON object: each parameter typed as the schema's property for it
/// asks (`integer`, `number`, `boolean`; an `array` collects repeats), else a string.
fn query_object(pairs: &[(String, String)], schema: &Value) -> Value {
    let mut object = Map::new();
    for (name, text) in pairs {
        let property = &schema["properties"][name];
        let kind = type_of(property);
        if kind == "array" {
            let item = typed(text, type_of(&property["items"]));
            let entry = object
                .entry(name.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(item);
            }
        } else if !object.contains_key(name) {
            object.insert(name.clone(), typed(text, kind));
        }
    }
    Value::Object(object)
}

/// A schema's `type`: the text, or the first that is not `null` of a list (`["integer",
/// "null"]`); `string` when it names none.
fn type_of(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(kind) => kind,
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("string"),
        _ => "string",
    }
}

/// `text` as the JSON type `kind` when it parses as one; else the text.
fn typed(text: &str, kind: &str) -> Value {
    let parsed = match kind {
        "integer" => text.parse::<i64>().ok().map(Value::from),
        "number" => text.parse::<f64>().ok().map(Value::from),
        "boolean" => text.parse::<bool>().ok().map(Value::from),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_owned()))
}

archway_sdk::export!(Validate: transform);

#[cfg(test)]
mod tests {
    use archway_sdk::serde_json::json;
    use archway_sdk::{FakeRequest, Plugin};

    use super::*;

    fn plugin() -> Validate {
        Validate::from_json(
            &json!({
                "query": {"type": "object", "required": ["limit"], "properties": {
                    "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
                    "tag": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                }},
                "body": {"type": "object", "required": ["name", "initial_cash"], "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "initial_cash": {"type": "number", "exclusiveMinimum": 0},
                }},
            })
            .to_string(),
        )
        .expect("valid config")
    }

    fn check(query: &str, body: &str) -> Result<(), String> {
        let fake = FakeRequest::new("POST", "/x")
            .query(query)
            .body(body.as_bytes().to_vec());
        plugin()
            .on_request(&fake.request())
            .map(|_| ())
            .map_err(|deny| {
                assert_eq!(deny.status, 400);
                deny.message
            })
    }

    #[test]
    fn a_fitting_request_passes_and_each_violation_names_its_field() {
        let body = r#"{"name": "p", "initial_cash": 10}"#;
        assert_eq!(check("limit=5&tag=a&tag=b", body), Ok(()));
        let refused = check("limit=5000", body).expect_err("over the maximum");
        assert!(
            refused.starts_with("query.limit: 5000 is greater than the maximum of 1000"),
            "{refused}"
        );
        let refused = check("limit=ten", body).expect_err("not an integer");
        assert!(
            refused.starts_with("query.limit: \"ten\" is not of type"),
            "{refused}"
        );
        assert!(
            check("", body)
                .expect_err("missing")
                .contains("\"limit\" is a required property")
        );
        assert!(
            check("limit=1&tag=a&tag=b&tag=c", body)
                .expect_err("too many")
                .starts_with("query.tag:")
        );
        let refused =
            check("limit=1", r#"{"name": "p", "initial_cash": -1}"#).expect_err("negative");
        assert!(refused.starts_with("body.initial_cash: -1"), "{refused}");
        assert_eq!(
            check("limit=1", "{").expect_err("not JSON"),
            "body: not valid JSON"
        );
    }

    #[test]
    fn a_schema_that_is_not_one_is_refused_at_load() {
        let error = Validate::from_json(r#"{"body": {"type": "no-such-type"}}"#)
            .err()
            .expect("refused");
        assert!(
            error.starts_with("config: body is not a valid JSON Schema"),
            "{error}"
        );
        assert!(Validate::from_json("{}").is_err());
    }
}
