//! What a client sends, checked: a JSON body into a typed request (a field that does not
//! fit is named, with the value sent), and query parameters (limits, offsets, times,
//! dates, enums).

use archway_sdk::serde_json::{self, Value};
use archway_sdk::{Request, query_pairs};
use serde::de::DeserializeOwned;

use crate::clock;
use crate::failure::Failure;

/// The body as `T`; a body that is not JSON, or a field that does not fit, is
/// `INVALID_PARAMETER` naming the field and the value sent.
pub fn body<T: DeserializeOwned>(request: &Request) -> Result<T, Failure> {
    let bytes = request.body().unwrap_or_default();
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| Failure::invalid("body", Value::Null, "must be a JSON object"))?;
    if !value.is_object() {
        return Err(Failure::invalid("body", value, "must be a JSON object"));
    }
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let serde = e.inner().to_string();
        let serde = serde.split(" at line ").next().unwrap_or(&serde);
        let path = e.path().to_string();
        let (field, message) = match missing_field(serde) {
            Some(name) if path == "." => (name.to_owned(), "is required".to_owned()),
            Some(name) => (format!("{path}.{name}"), "is required".to_owned()),
            None => (path, format!("is not valid: {serde}")),
        };
        let sent = value
            .pointer(&pointer(&field))
            .cloned()
            .unwrap_or(Value::Null);
        Failure::invalid(&field, sent, &message)
    })
}

/// The field serde found missing (`missing field `name``).
fn missing_field(serde: &str) -> Option<&str> {
    serde
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

/// `a.b[2]` as the JSON pointer `/a/b/2`.
fn pointer(path: &str) -> String {
    path.split(['.', '['])
        .filter(|s| !s.is_empty() && *s != "?")
        .map(|s| format!("/{}", s.trim_end_matches(']')))
        .collect()
}

/// A request's query parameters.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// The request's query string, decoded.
    pub fn of(request: &Request) -> Self {
        Self {
            pairs: request.query().map(|q| query_pairs(&q)).unwrap_or_default(),
        }
    }

    /// The value of `name`, if sent (the first, when sent more than once).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, which must be sent.
    pub fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| Failure::invalid(name, Value::Null, "is required"))
    }

    /// `limit`: `default` when absent, 1 to `max`.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, Failure> {
        self.count("limit", default, 1, max)
    }

    /// `offset`: the items to skip, 0 when absent.
    pub fn offset(&self) -> Result<usize, Failure> {
        self.count("offset", 0, 0, usize::MAX)
    }

    fn count(&self, name: &str, default: usize, min: usize, max: usize) -> Result<usize, Failure> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ if max == usize::MAX => Err(Failure::invalid(
                name,
                text,
                &format!("must be an integer of at least {min}"),
            )),
            _ => Err(Failure::invalid(
                name,
                text,
                &format!("must be an integer from {min} to {max}"),
            )),
        }
    }

    /// A required time window `[start, end]` from two parameters, each Unix seconds or
    /// RFC 3339, as Unix milliseconds.
    pub fn window(&self, start: &str, end: &str) -> Result<(u64, u64), Failure> {
        let instant = |name: &str| {
            let text = self.required(name)?;
            clock::parse_instant(text).ok_or_else(|| {
                Failure::invalid(name, text, "must be Unix seconds or an RFC 3339 time")
            })
        };
        // An end to the second takes in that whole second, as the API writes times to
        // the second.
        let until = instant(end)?;
        let until = if until % 1000 == 0 {
            until + 999
        } else {
            until
        };
        ordered(instant(start)?, until, end, self.get(end))
    }

    /// A required window of whole days from two `YYYY-MM-DD` parameters, the end day
    /// included, as Unix milliseconds.
    pub fn days(&self, start: &str, end: &str) -> Result<(u64, u64), Failure> {
        let date = |name: &str| {
            let text = self.required(name)?;
            clock::parse_date(text)
                .ok_or_else(|| Failure::invalid(name, text, "must be a date, YYYY-MM-DD"))
        };
        let (from, to) = (date(start)?, date(end)?);
        ordered(from, to + clock::DAY_MS - 1, end, self.get(end))
    }

    /// `name`, if sent, which must be one of `allowed`.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<&str>, Failure> {
        match self.get(name) {
            Some(value) if !allowed.contains(&value) => Err(Failure::invalid(
                name,
                value,
                &format!("must be one of {}", allowed.join(", ")),
            )),
            value => Ok(value),
        }
    }
}

fn ordered(
    start: u64,
    end: u64,
    end_name: &str,
    end_text: Option<&str>,
) -> Result<(u64, u64), Failure> {
    match start <= end {
        true => Ok((start, end)),
        false => Err(Failure::invalid(
            end_name,
            end_text.unwrap_or_default(),
            "must not be before the start",
        )),
    }
}

/// A page of `items`: `offset` skipped, at most `limit` kept.
pub fn page<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use archway_sdk::FakeRequest;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed")]
    struct Sample {
        name: String,
        nested: Nested,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed")]
    struct Nested {
        cash: f64,
    }

    fn parse(text: &str) -> Failure {
        let fake = FakeRequest::new("POST", "/").body(text.as_bytes().to_vec());
        body::<Sample>(&fake.request()).expect_err("refused")
    }

    #[test]
    fn a_field_that_does_not_fit_is_named_with_its_value() {
        let failure = parse(r#"{"name": "a", "nested": {"cash": "lots"}}"#);
        assert_eq!(failure.status, 400);
        assert_eq!(failure.code, "INVALID_PARAMETER");
        assert_eq!(failure.details["field"], "nested.cash");
        assert_eq!(failure.details["value"], "lots");

        let failure = parse(r#"{"nested": {"cash": 1}}"#);
        assert_eq!(failure.details["field"], "name");
        assert_eq!(failure.message, "Parameter 'name' is required");
        let failure = parse(r#"{"name": "a", "nested": {}}"#);
        assert_eq!(failure.details["field"], "nested.cash");
        let failure = parse(r#"{"name": "a", "nested": {"cash": 1}, "extra": 2}"#);
        assert_eq!(failure.details["field"], "extra", "{failure:?}");
        assert_eq!(failure.details["value"], 2);

        assert_eq!(parse("[1]").details["field"], "body");
        assert_eq!(parse("{").details["field"], "body");
    }

    fn query(text: &str) -> Query {
        Query::of(&FakeRequest::new("GET", "/").query(text).request())
    }

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(query("").limit(100, 1000).ok(), Some(100));
        assert_eq!(query("limit=1000").limit(100, 1000).ok(), Some(1000));
        for bad in ["limit=1001", "limit=0", "limit=ten", "limit=-1"] {
            let failure = query(bad).limit(100, 1000).expect_err(bad);
            assert_eq!(failure.details["field"], "limit");
        }
    }

    #[test]
    fn windows_need_both_ends_in_order() {
        let (start, end) = query("start_time=100&end_time=1970-01-01T00:03:20Z")
            .window("start_time", "end_time")
            .expect("valid");
        assert_eq!((start, end), (100_000, 200_999));
        let failure = query("start_time=100")
            .window("start_time", "end_time")
            .expect_err("end missing");
        assert_eq!(failure.details["field"], "end_time");
        let failure = query("start_time=200&end_time=100")
            .window("start_time", "end_time")
            .expect_err("reversed");
        assert_eq!(failure.details["field"], "end_time");
        let (from, to) = query("start_date=2026-01-04&end_date=2026-01-04")
            .days("start_date", "end_date")
            .expect("one day");
        assert_eq!(to - from, clock::DAY_MS - 1);
    }
}
