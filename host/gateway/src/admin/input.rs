//! Reading what an admin call sends: a JSON object into a record type, with the field at
//! fault named; length and range checks; and the list query's filters and paging.

use archway_runtime::AdminError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The most items one page holds.
const MAX_PAGE_SIZE: usize = 1000;
/// Items per page when the query sets no `size` (the contract's default).
const DEFAULT_PAGE_SIZE: usize = 20;

/// A call's body as a JSON object.
pub(super) fn object(body: &str) -> Result<Map<String, Value>, AdminError> {
    match serde_json::from_str(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(AdminError::invalid("body", "must be a JSON object")),
        Err(e) => Err(AdminError::invalid(
            "body",
            format!("is not valid JSON: {e}"),
        )),
    }
}

/// A record of type `T` from a JSON object; a failure names the field.
pub(super) fn record<T: DeserializeOwned>(object: Map<String, Value>) -> Result<T, AdminError> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let message = error.inner().to_string();
        let path = error.path().to_string();
        let field = match path.as_str() {
            "." => quoted_field(&message).unwrap_or("body").to_owned(),
            _ => path,
        };
        AdminError::invalid(field, message)
    })
}

/// A record's fields as a JSON object.
pub(super) fn fields<T: serde::Serialize>(record: &T) -> Map<String, Value> {
    match serde_json::to_value(record).expect("records serialise to JSON") {
        Value::Object(fields) => fields,
        _ => unreachable!("a record serialises to an object"),
    }
}

/// The field a serde message names in backticks (`unknown field `x``, `missing field `y``).
fn quoted_field(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

/// Refuses a field the client must leave to the gateway.
pub(super) fn refuse(
    object: &Map<String, Value>,
    field: &str,
    why: &str,
) -> Result<(), AdminError> {
    match object.contains_key(field) {
        true => Err(AdminError::invalid(field, why)),
        false => Ok(()),
    }
}

/// Requires a field to be present.
pub(super) fn require(object: &Map<String, Value>, field: &str) -> Result<(), AdminError> {
    match object.get(field) {
        None | Some(Value::Null) => Err(AdminError::invalid(field, "is required")),
        Some(_) => Ok(()),
    }
}

/// Checks a text's length in characters.
pub(super) fn length(field: &str, value: &str, min: usize, max: usize) -> Result<(), AdminError> {
    let length = value.chars().count();
    match (min..=max).contains(&length) {
        true => Ok(()),
        false => Err(AdminError::invalid(
            field,
            format!("must be {min}-{max} characters (got {length})"),
        )),
    }
}

/// Checks a number's range.
pub(super) fn range(field: &str, value: u64, min: u64, max: u64) -> Result<(), AdminError> {
    match (min..=max).contains(&value) {
        true => Ok(()),
        false => Err(AdminError::invalid(
            field,
            format!("must be {min}-{max} (got {value})"),
        )),
    }
}

/// A list call's query: filters, then `page` and `size`.
pub(super) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a URL query string.
    pub(super) fn parse(query: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        }
    }

    /// A parameter's value, when set and not empty.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A `true`/`false` parameter.
    pub(super) fn flag(&self, name: &str) -> Result<Option<bool>, AdminError> {
        self.get(name)
            .map(|value| match value {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(AdminError::invalid(
                    name,
                    format!("must be true or false (got {other:?})"),
                )),
            })
            .transpose()
    }

    /// A whole-number parameter in `1..=max`, `default` when unset.
    pub(super) fn number(
        &self,
        name: &str,
        default: usize,
        max: usize,
    ) -> Result<usize, AdminError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        text.parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                AdminError::invalid(name, format!("must be a number 1-{max} (got {text:?})"))
            })
    }

    /// The page `items` asked for, with the total before paging.
    pub(super) fn page<T>(&self, items: Vec<T>) -> Result<(usize, Vec<T>), AdminError> {
        let page = self.number("page", 1, usize::MAX)?;
        let size = self.number("size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let total = items.len();
        let skip = (page - 1).saturating_mul(size);
        Ok((total, items.into_iter().skip(skip).take(size).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        name: String,
        count: u32,
    }

    fn field(error: AdminError) -> String {
        match error {
            AdminError::Invalid { field, .. } => field,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_bad_record_names_its_field() {
        let bad =
            |body: &str| field(record::<Item>(object(body).expect("object")).expect_err("bad"));
        assert_eq!(bad(r#"{"name": "a", "count": "x"}"#), "count");
        assert_eq!(bad(r#"{"name": "a"}"#), "count");
        assert_eq!(bad(r#"{"name": "a", "count": 1, "extra": 2}"#), "extra");
        assert_eq!(field(object("[1]").expect_err("not an object")), "body");
    }

    #[test]
    fn pages_are_cut_from_the_filtered_items() {
        let query = Query::parse("page=2&size=2&active=true");
        assert_eq!(
            query.page(vec![1, 2, 3, 4, 5]).expect("page"),
            (5, vec![3, 4])
        );
        assert_eq!(query.flag("active").expect("flag"), Some(true));
        assert_eq!(
            Query::parse("").page(vec![1]).expect("defaults"),
            (1, vec![1])
        );
        assert_eq!(
            field(Query::parse("size=0").page(vec![1]).expect_err("size")),
            "size"
        );
        assert_eq!(
            field(Query::parse("page=x").page(vec![1]).expect_err("page")),
            "page"
        );
        assert_eq!(
            field(Query::parse("active=yes").flag("active").expect_err("flag")),
            "active"
        );
    }
}
