//! Example tenant policy plugin, written as a tenant (a third party) would: order
//! placements (`POST` under the configured paths) pass only within the tenant's trading
//! hours and up to its maximum order notional (`quantity × price` from the JSON body).
//! Upload it for one tenant with `PUT /admin/tenants/{id}/plugins/{name}?read_body=true`;
//! it then runs on that tenant's requests only. See the README.

use archway_sdk::serde_json::Value;
use archway_sdk::{Authorize, Deny, Plugin, Request};
use serde::Deserialize;

/// The tenant's rules.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Path prefixes where `POST` places an order.
    #[serde(default = "default_order_paths")]
    pub order_paths: Vec<String>,
    /// When trading opens, `HH:MM` local time.
    pub open: String,
    /// When trading closes, `HH:MM` local time (before `open`: the session spans midnight).
    pub close: String,
    /// Local time's offset from UTC, in minutes.
    #[serde(default)]
    pub utc_offset_minutes: i64,
    /// Whether trading is closed on Saturdays and Sundays.
    #[serde(default = "default_true")]
    pub weekdays_only: bool,
    /// The largest `quantity × price` an order may have.
    pub max_notional: f64,
    /// The body field holding the quantity.
    #[serde(default = "default_quantity_field")]
    pub quantity_field: String,
    /// The body field holding the price.
    #[serde(default = "default_price_field")]
    pub price_field: String,
}

fn default_order_paths() -> Vec<String> {
    vec!["/".to_owned()]
}
fn default_true() -> bool {
    true
}
fn default_quantity_field() -> String {
    "quantity".to_owned()
}
fn default_price_field() -> String {
    "price".to_owned()
}

const MINUTES_PER_DAY: i64 = 24 * 60;

/// The policy, with its hours as minutes of the local day.
pub struct OrderPolicy {
    config: Config,
    open: i64,
    close: i64,
}

impl Plugin for OrderPolicy {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let open = minute_of_day(&config.open).ok_or("config: open must be HH:MM")?;
        let close = minute_of_day(&config.close).ok_or("config: close must be HH:MM")?;
        if open == close {
            return Err("config: open and close must differ".to_owned());
        }
        if !(config.max_notional.is_finite() && config.max_notional > 0.0) {
            return Err("config: max_notional must be a positive number".to_owned());
        }
        Ok(Self {
            config,
            open,
            close,
        })
    }
}

impl Authorize for OrderPolicy {
    fn authorize(&self, request: &Request) -> Result<(), Deny> {
        let path = request.path();
        let is_order = request.method() == "POST"
            && self.config.order_paths.iter().any(|p| path.starts_with(p));
        if !is_order {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| Deny::new(500, "the clock is before 1970"))?;
        let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        self.check_hours(seconds)?;
        self.check_notional(&request.body().unwrap_or_default())
    }
}

impl OrderPolicy {
    /// Refuses outside the trading session at Unix time `seconds`.
    fn check_hours(&self, seconds: i64) -> Result<(), Deny> {
        let local = seconds / 60 + self.config.utc_offset_minutes;
        let minute = local.rem_euclid(MINUTES_PER_DAY);
        // 1970-01-01 was a Thursday: day 0 is Thursday, so days 2 and 3 are the weekend.
        let weekend = matches!(local.div_euclid(MINUTES_PER_DAY).rem_euclid(7), 2 | 3);
        let in_session = match self.open < self.close {
            true => (self.open..self.close).contains(&minute),
            false => minute >= self.open || minute < self.close,
        };
        if in_session && !(weekend && self.config.weekdays_only) {
            return Ok(());
        }
        let days = if self.config.weekdays_only {
            " on weekdays"
        } else {
            ""
        };
        Err(Deny::new(
            403,
            format!(
                "orders are accepted from {} to {}{days} (UTC{:+03}:{:02})",
                self.config.open,
                self.config.close,
                self.config.utc_offset_minutes / 60,
                self.config.utc_offset_minutes.abs() % 60
            ),
        ))
    }

    /// Refuses an order whose notional is over the maximum, or that names none.
    fn check_notional(&self, body: &[u8]) -> Result<(), Deny> {
        let order: Value = archway_sdk::serde_json::from_slice(body)
            .map_err(|_| Deny::new(400, "the order must be a JSON object"))?;
        let number = |field: &str| {
            let value = &order[field];
            value
                .as_f64()
                .or_else(|| value.as_str()?.parse().ok())
                .filter(|n: &f64| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| Deny::new(400, format!("{field} must be a non-negative number")))
        };
        let notional = number(&self.config.quantity_field)? * number(&self.config.price_field)?;
        if notional > self.config.max_notional {
            return Err(Deny::new(
                403,
                format!(
                    "order notional {notional} is over this tenant's maximum of {}",
                    self.config.max_notional
                ),
            ));
        }
        Ok(())
    }
}

/// `HH:MM` as minutes since midnight.
fn minute_of_day(text: &str) -> Option<i64> {
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    ((0..24).contains(&hours) && (0..60).contains(&minutes)).then_some(hours * 60 + minutes)
}

archway_sdk::export!(OrderPolicy: authorize);

#[cfg(test)]
mod tests {
    use super::*;
    use archway_sdk::serde_json::{self, json};

    fn policy(config: Value) -> OrderPolicy {
        OrderPolicy::new(serde_json::from_value(config).expect("config")).expect("starts")
    }

    fn desk() -> OrderPolicy {
        policy(json!({"open": "09:30", "close": "16:00", "max_notional": 1000000.0}))
    }

    /// Unix time of 2026-12-02 (a Wednesday) at `hh:mm` UTC.
    fn wednesday(hh: i64, mm: i64) -> i64 {
        1_796_169_600 + hh * 3600 + mm * 60
    }

    #[test]
    fn orders_pass_in_session_on_weekdays_only() {
        let desk = desk();
        assert!(desk.check_hours(wednesday(9, 30)).is_ok());
        assert!(desk.check_hours(wednesday(15, 59)).is_ok());
        let closed = desk.check_hours(wednesday(16, 0)).expect_err("closed");
        assert_eq!(closed.status, 403);
        assert_eq!(
            closed.message,
            "orders are accepted from 09:30 to 16:00 on weekdays (UTC+00:00)"
        );
        assert!(desk.check_hours(wednesday(9, 29)).is_err());
        let saturday = wednesday(12, 0) + 3 * 86_400;
        assert!(desk.check_hours(saturday).is_err());
        assert!(desk.check_hours(saturday + 2 * 86_400).is_ok(), "Monday");
    }

    #[test]
    fn a_session_can_span_midnight_in_local_time() {
        let night = policy(json!({
            "open": "22:00", "close": "02:00", "utc_offset_minutes": 480,
            "weekdays_only": false, "max_notional": 1.0
        }));
        assert!(
            night.check_hours(wednesday(14, 30)).is_ok(),
            "22:30 at UTC+8"
        );
        assert!(
            night.check_hours(wednesday(17, 59)).is_ok(),
            "01:59 at UTC+8"
        );
        assert!(
            night.check_hours(wednesday(18, 0)).is_err(),
            "02:00 at UTC+8"
        );
    }

    #[test]
    fn the_notional_is_quantity_times_price() {
        let desk = desk();
        assert!(
            desk.check_notional(br#"{"quantity": 1000, "price": "1000"}"#)
                .is_ok()
        );
        let over = desk
            .check_notional(br#"{"quantity": 1000, "price": 1000.5}"#)
            .expect_err("over");
        assert_eq!(
            (over.status, over.message.as_str()),
            (
                403,
                "order notional 1000500 is over this tenant's maximum of 1000000"
            )
        );
        let missing = desk
            .check_notional(br#"{"quantity": 1}"#)
            .expect_err("missing");
        assert_eq!(
            (missing.status, missing.message.as_str()),
            (400, "price must be a non-negative number")
        );
        assert_eq!(desk.check_notional(b"[1]").expect_err("array").status, 400);
    }
}
