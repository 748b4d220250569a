//! Templates in a call's path, headers and body: `{param.NAME}` (a path parameter),
//! `{query.NAME}` (a query parameter), `{query}` (the whole query string), and
//! `{calls.NAME/json/pointer}` (a value from an earlier call's answer).

use std::collections::BTreeMap;

use archway_sdk::percent_encode;
use archway_sdk::serde_json::Value;

/// One placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    /// A path parameter of the route.
    Param(String),
    /// One query parameter.
    Query(String),
    /// The whole query string.
    RawQuery,
    /// The value at a JSON pointer in an earlier call's answer.
    Call { name: String, pointer: String },
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Slot(Slot),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What a template is filled from.
pub struct Values<'a> {
    /// The route's path parameters, as sent.
    pub params: &'a BTreeMap<String, String>,
    /// The query parameters, decoded.
    pub query: &'a [(String, String)],
    /// The raw query string.
    pub raw_query: &'a str,
    /// The answers of the calls made so far.
    pub calls: &'a BTreeMap<String, Value>,
}

impl Template {
    /// Parses `text`; an unclosed or unknown placeholder is an error naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
            pieces.push(Piece::Slot(slot(&rest[open + 1..open + close])?));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self { pieces })
    }

    /// The calls this template reads.
    pub fn calls(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Slot(Slot::Call { name, .. }) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The path parameters this template reads.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Slot(Slot::Param(name)) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The template as text; `encode` escapes each value (for a path or query).
    pub fn render(&self, values: &Values, encode: bool) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Slot(Slot::RawQuery) => out.push_str(values.raw_query),
                Piece::Slot(slot) => {
                    let value = text_of(&lookup(slot, values));
                    match encode && !matches!(slot, Slot::Param(_)) {
                        true => out.push_str(&percent_encode(&value)),
                        false => out.push_str(&value),
                    }
                }
            }
        }
        out
    }

    /// The template as a JSON value: a template that is one placeholder keeps the
    /// value's type (a number stays a number); any other is a string.
    pub fn value(&self, values: &Values) -> Value {
        match self.pieces.as_slice() {
            [Piece::Slot(slot)] if *slot != Slot::RawQuery => lookup(slot, values),
            _ => Value::String(self.render(values, false)),
        }
    }
}

fn slot(inside: &str) -> Result<Slot, String> {
    if inside == "query" {
        return Ok(Slot::RawQuery);
    }
    if let Some(name) = inside.strip_prefix("param.") {
        return Ok(Slot::Param(name.to_owned()));
    }
    if let Some(name) = inside.strip_prefix("query.") {
        return Ok(Slot::Query(name.to_owned()));
    }
    if let Some(rest) = inside.strip_prefix("calls.") {
        let (name, pointer) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        if !name.is_empty() {
            return Ok(Slot::Call {
                name: name.to_owned(),
                pointer: pointer.to_owned(),
            });
        }
    }
    Err(format!(
        "unknown placeholder {{{inside}}}: use param.NAME, query.NAME, query or calls.NAME/pointer"
    ))
}

fn lookup(slot: &Slot, values: &Values) -> Value {
    let text = |v: Option<&String>| v.map_or(Value::Null, |v| Value::String(v.clone()));
    match slot {
        Slot::Param(name) => text(values.params.get(name)),
        Slot::Query(name) => text(values.query.iter().find(|(k, _)| k == name).map(|(_, v)| v)),
        Slot::RawQuery => Value::String(values.raw_query.to_owned()),
        Slot::Call { name, pointer } => values
            .calls
            .get(name)
            .and_then(|answer| answer.pointer(pointer))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

/// A value as text: strings as they are, `null` as nothing, others as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use archway_sdk::serde_json::json;

    use super::*;

    #[test]
    fn placeholders_fill_from_the_request_and_earlier_calls() {
        let params = BTreeMap::from([("team".to_owned(), "blue".to_owned())]);
        let query = vec![("q".to_owned(), "a b&c".to_owned())];
        let calls = BTreeMap::from([("agents".to_owned(), json!({"items": [{"id": 7}]}))]);
        let values = Values {
            params: &params,
            query: &query,
            raw_query: "q=a+b%26c",
            calls: &calls,
        };
        let path =
            Template::parse("/jobs/{param.team}?agent={calls.agents/items/0/id}&q={query.q}")
                .expect("valid");
        assert_eq!(path.render(&values, true), "/jobs/blue?agent=7&q=a%20b%26c");
        assert_eq!(path.calls().collect::<Vec<_>>(), ["agents"]);
        let raw = Template::parse("/all?{query}").expect("valid");
        assert_eq!(raw.render(&values, true), "/all?q=a+b%26c");
        let typed = Template::parse("{calls.agents/items/0/id}").expect("valid");
        assert_eq!(typed.value(&values), json!(7));
        assert_eq!(
            Template::parse("team {param.team}")
                .expect("valid")
                .value(&values),
            json!("team blue")
        );
        assert!(Template::parse("/x/{nope}").is_err());
        assert!(Template::parse("/x/{param.a").is_err());
    }
}
