//! Envelope conversion of a JSON response body: wrapped in the API conventions'
//! `{code, msg, data}` (numbers as strings with a set precision, enum values in
//! SCREAMING_CASE) or the admin contract's `{code, msg, content}`, or unwrapped from
//! `{code, msg, data}`.

use std::collections::BTreeMap;

use archway_sdk::serde_json::{Value, json};
use serde::Deserialize;

/// The `[plugins.config.response.envelope]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Which envelope.
    pub style: Style,
    /// The success message (default `ok`).
    #[serde(default = "ok")]
    pub msg: String,
    /// Fields (by name, at any depth) whose numbers become strings: `qty = { display = 6 }`.
    #[serde(default)]
    pub numbers: BTreeMap<String, Number>,
    /// Fields (by name, at any depth) whose string values become SCREAMING_CASE.
    #[serde(default)]
    pub enums: Vec<String>,
}

fn ok() -> String {
    "ok".to_owned()
}

/// The envelope styles.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// `{"code": 0, "msg", "data"}` (api-conventions.md).
    Conventions,
    /// `{"code": "S10000", "msg", "content"}` (the admin contract).
    Admin,
    /// `data` out of a successful `{code: 0, msg, data}`.
    Unwrap,
}

/// How a number is written.
#[derive(Deserialize, Debug, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct Number {
    /// Digits after the point.
    pub display: u32,
    /// The value is an integer in units of 10^-scale (default 0: taken as it is).
    #[serde(default)]
    pub scale: u32,
}

impl Envelope {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        match self
            .numbers
            .values()
            .all(|n| n.display <= 18 && n.scale <= 18)
        {
            true => Ok(()),
            false => Err("config: envelope numbers take display and scale of 0 to 18".to_owned()),
        }
    }

    /// The body for a response of `status`.
    pub fn convert(&self, status: u16, mut body: Value) -> Value {
        self.format(&mut body);
        let success = (200..300).contains(&status);
        match (self.style, success) {
            (Style::Conventions, true) => json!({ "code": 0, "msg": self.msg, "data": body }),
            (Style::Conventions, false) => {
                json!({ "code": conventions_code(status), "msg": message(&body, status), "data": null })
            }
            (Style::Admin, true) => json!({ "code": "S10000", "msg": self.msg, "content": body }),
            (Style::Admin, false) => {
                json!({ "code": admin_code(status), "msg": message(&body, status), "content": {} })
            }
            (Style::Unwrap, _) if body["code"] == 0 && body.get("data").is_some() => {
                body["data"].take()
            }
            (Style::Unwrap, _) => body,
        }
    }

    /// Numbers and enum values written as configured, at any depth.
    fn format(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, field) in map.iter_mut() {
                    if let (Some(number), Some(n)) = (self.numbers.get(key), field.as_f64()) {
                        *field = Value::String(decimal(n, *number));
                    } else if self.enums.contains(key)
                        && let Value::String(text) = field
                    {
                        *text = screaming(text);
                    } else {
                        self.format(field);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.format(item)),
            _ => {}
        }
    }
}

/// `n` (in units of 10^-scale) with `display` digits after the point.
fn decimal(n: f64, number: Number) -> String {
    let value = n / 10f64.powi(i32::try_from(number.scale).unwrap_or(0));
    format!("{value:.prec$}", prec = number.display as usize)
}

/// `partiallyFilled`, `partially-filled` or `partially filled` as `PARTIALLY_FILLED`.
fn screaming(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let mut previous_lower = false;
    for c in text.chars() {
        if c == '-' || c == ' ' || c == '_' {
            out.push('_');
            previous_lower = false;
        } else {
            if c.is_uppercase() && previous_lower {
                out.push('_');
            }
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
            out.extend(c.to_uppercase());
        }
    }
    out
}

/// The error's message: the body's own (`msg`, `message`, `error`), else the status.
fn message(body: &Value, status: u16) -> String {
    ["msg", "message", "error"]
        .iter()
        .find_map(|key| body[key].as_str())
        .map_or_else(|| format!("upstream answered {status}"), str::to_owned)
}

/// The conventions' error code for an HTTP status (api-conventions.md 3.5).
fn conventions_code(status: u16) -> u16 {
    match status {
        401 => 2001,
        403 => 2002,
        404 => 4001,
        429 => 4291,
        500..=599 => 5001,
        _ => 1001,
    }
}

/// The admin contract's code for an HTTP status.
fn admin_code(status: u16) -> String {
    match status {
        401 => "F40001".to_owned(),
        403 => "F40003".to_owned(),
        status => format!("F{status}00"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(style: &str) -> Envelope {
        archway_sdk::serde_json::from_value(json!({
            "style": style,
            "numbers": {"qty": {"display": 6, "scale": 8}, "price": {"display": 2}},
            "enums": ["order_status", "side"],
        }))
        .expect("valid")
    }

    #[test]
    fn a_success_is_wrapped_with_numbers_as_strings_and_enums_screaming() {
        let body = json!({"order_id": 1001, "order_status": "partiallyFilled", "side": "buy",
                          "qty": 9000000000u64, "price": 42.5, "fills": [{"qty": 100000000}]});
        let out = envelope("conventions").convert(200, body);
        assert_eq!(
            archway_sdk::serde_json::to_string(&out).expect("JSON"),
            r#"{"code":0,"data":{"fills":[{"qty":"1.000000"}],"order_id":1001,"order_status":"PARTIALLY_FILLED","price":"42.50","qty":"90.000000","side":"BUY"},"msg":"ok"}"#
        );
    }

    #[test]
    fn errors_take_the_codes_of_their_envelope() {
        let body = json!({"message": "price must be greater than zero"});
        assert_eq!(
            envelope("conventions").convert(400, body.clone()),
            json!({"code": 1001, "msg": "price must be greater than zero", "data": null})
        );
        assert_eq!(
            envelope("conventions").convert(503, json!({}))["code"],
            5001
        );
        assert_eq!(
            envelope("admin").convert(404, json!({})),
            json!({"code": "F40400", "msg": "upstream answered 404", "content": {}})
        );
        assert_eq!(
            envelope("admin").convert(201, json!({"id": 1}))["code"],
            "S10000"
        );
        let wrapped = json!({"code": 0, "msg": "ok", "data": {"a": 1}});
        assert_eq!(envelope("unwrap").convert(200, wrapped), json!({"a": 1}));
        let failed = json!({"code": 1001, "msg": "bad", "data": null});
        assert_eq!(envelope("unwrap").convert(400, failed.clone()), failed);
    }
}
