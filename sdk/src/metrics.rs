//! The plugin's own metrics on the gateway's endpoint (the `metrics` import), named
//! `<plugin>_<name>`: host calls on wasm; in native tests, values kept per thread that
//! [`fake`] reads back.
//!
//! ```
//! use archway_sdk::metrics::{self, fake};
//!
//! metrics::counter_add("orders_total", 2, &[("side", "buy")]);
//! metrics::counter_add("orders_total", 1, &[("side", "buy")]);
//! assert_eq!(fake::counter("orders_total", &[("side", "buy")]), 3);
//! ```

/// Adds `value` to a counter.
pub fn counter_add(name: &str, value: u64, labels: &[(&str, &str)]) {
    imp::counter_add(name, value, &owned(labels));
}

/// Sets a gauge.
pub fn gauge_set(name: &str, value: f64, labels: &[(&str, &str)]) {
    imp::gauge_set(name, value, &owned(labels));
}

/// Records one observation in a histogram (base units: seconds, bytes).
pub fn histogram_record(name: &str, value: f64, labels: &[(&str, &str)]) {
    imp::histogram_record(name, value, &owned(labels));
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(target_arch = "wasm32")]
mod imp {
    pub(super) use crate::bindings::metrics::{counter_add, gauge_set, histogram_record};
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::fake::{Value, record};

    pub(super) fn counter_add(name: &str, value: u64, labels: &[(String, String)]) {
        record(name, labels, |old| match old {
            Some(Value::Counter(total)) => Value::Counter(total + value),
            _ => Value::Counter(value),
        });
    }

    pub(super) fn gauge_set(name: &str, value: f64, labels: &[(String, String)]) {
        record(name, labels, |_| Value::Gauge(value));
    }

    pub(super) fn histogram_record(name: &str, value: f64, labels: &[(String, String)]) {
        record(name, labels, |old| match old {
            Some(Value::Histogram(mut samples)) => {
                samples.push(value);
                Value::Histogram(samples)
            }
            _ => Value::Histogram(vec![value]),
        });
    }
}

/// The native stand-in: every series the plugin wrote on this test thread.
#[cfg(not(target_arch = "wasm32"))]
pub mod fake {
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A series' value so far.
    #[derive(Clone, Debug, PartialEq)]
    pub(super) enum Value {
        Counter(u64),
        Gauge(f64),
        Histogram(Vec<f64>),
    }

    type Key = (String, Vec<(String, String)>);

    thread_local! {
        static SERIES: RefCell<HashMap<Key, Value>> = RefCell::default();
    }

    pub(super) fn record(
        name: &str,
        labels: &[(String, String)],
        next: impl FnOnce(Option<Value>) -> Value,
    ) {
        SERIES.with(|series| {
            let mut series = series.borrow_mut();
            let key = (name.to_owned(), labels.to_vec());
            let value = next(series.remove(&key));
            series.insert(key, value);
        });
    }

    fn read(name: &str, labels: &[(&str, &str)]) -> Option<Value> {
        let key = (name.to_owned(), super::owned(labels));
        SERIES.with(|series| series.borrow().get(&key).cloned())
    }

    /// A counter's total (0 when never written).
    pub fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
        match read(name, labels) {
            Some(Value::Counter(total)) => total,
            _ => 0,
        }
    }

    /// A gauge's last value.
    pub fn gauge(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match read(name, labels) {
            Some(Value::Gauge(value)) => Some(value),
            _ => None,
        }
    }

    /// A histogram's observations, oldest first.
    pub fn histogram(name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match read(name, labels) {
            Some(Value::Histogram(samples)) => samples,
            _ => Vec::new(),
        }
    }
}
