//! The `metrics` import: a plugin's counters, gauges and histograms, named
//! `<plugin>_<name>` on the gateway's metrics endpoint. A plugin cannot blow up the
//! scrape: it has at most `max_metric_series` series, and values for new series past the
//! cap, or with an invalid name or labels, are dropped and counted.

use std::collections::HashMap;
use std::sync::Mutex;

use metrics::{Counter, Gauge, Histogram, Label};

use crate::bindings::metrics as wit;
use crate::host::HostState;

/// The most labels on one series.
const MAX_LABELS: usize = 8;
/// The longest metric or label name.
const MAX_NAME_BYTES: usize = 64;
/// The longest label value.
const MAX_VALUE_BYTES: usize = 256;

/// One series' handle, of the kind its name was first used as.
#[derive(Clone)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// What kind of series a call asks for.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A series' identity: its metric name and label pairs, in the order given.
type SeriesKey = (String, Vec<(String, String)>);

/// One plugin's metrics, shared by all its instances.
pub(crate) struct PluginMetrics {
    prefix: String,
    cap: usize,
    known: Mutex<Known>,
    dropped_invalid: Counter,
    dropped_over_cap: Counter,
}

#[derive(Default)]
struct Known {
    series: HashMap<SeriesKey, Series>,
    kinds: HashMap<String, Kind>,
}

impl PluginMetrics {
    /// The metrics of the plugin named `plugin`, capped at `cap` series.
    pub(crate) fn new(plugin: &str, cap: usize) -> Self {
        let drops = |reason: &'static str| {
            metrics::counter!(
                "archway_plugin_metric_drops_total",
                "plugin" => plugin.to_owned(),
                "reason" => reason
            )
        };
        Self {
            prefix: plugin.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            cap,
            known: Mutex::default(),
            dropped_invalid: drops("invalid"),
            dropped_over_cap: drops("series_cap"),
        }
    }

    /// The handle for a series, registered on first use; `None` (and a drop counted)
    /// when the name or labels are invalid, the name was used as another kind, or the
    /// series would pass the cap.
    fn series(&self, kind: Kind, name: String, labels: Vec<(String, String)>) -> Option<Series> {
        if !valid(&name, &labels) {
            self.dropped_invalid.increment(1);
            return None;
        }
        let mut known = self.known.lock().expect("plugin metrics lock");
        if *known.kinds.entry(name.clone()).or_insert(kind) != kind {
            self.dropped_invalid.increment(1);
            return None;
        }
        let key = (name, labels);
        if let Some(series) = known.series.get(&key) {
            return Some(series.clone());
        }
        if known.series.len() >= self.cap {
            self.dropped_over_cap.increment(1);
            return None;
        }
        let full_name = format!("{}_{}", self.prefix, key.0);
        let labels: Vec<Label> = key
            .1
            .iter()
            .map(|(name, value)| Label::new(name.clone(), value.clone()))
            .collect();
        let series = match kind {
            Kind::Counter => Series::Counter(metrics::counter!(full_name, labels)),
            Kind::Gauge => Series::Gauge(metrics::gauge!(full_name, labels)),
            Kind::Histogram => Series::Histogram(metrics::histogram!(full_name, labels)),
        };
        known.series.insert(key, series.clone());
        Some(series)
    }
}

/// Whether a metric name and its labels are acceptable to Prometheus and small.
fn valid(name: &str, labels: &[(String, String)]) -> bool {
    let identifier = |s: &str| {
        !s.is_empty()
            && s.len() <= MAX_NAME_BYTES
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    identifier(name)
        && labels.len() <= MAX_LABELS
        && labels.iter().all(|(label, value)| {
            identifier(label) && !label.starts_with("__") && value.len() <= MAX_VALUE_BYTES
        })
}

impl HostState {
    fn metric(&self, kind: Kind, name: String, labels: Vec<(String, String)>) -> Option<Series> {
        self.metrics.as_ref()?.series(kind, name, labels)
    }
}

impl wit::Host for HostState {
    fn counter_add(&mut self, name: String, value: u64, labels: Vec<(String, String)>) {
        if let Some(Series::Counter(counter)) = self.metric(Kind::Counter, name, labels) {
            counter.increment(value);
        }
    }

    fn gauge_set(&mut self, name: String, value: f64, labels: Vec<(String, String)>) {
        if let Some(Series::Gauge(gauge)) = self.metric(Kind::Gauge, name, labels) {
            gauge.set(value);
        }
    }

    fn histogram_record(&mut self, name: String, value: f64, labels: Vec<(String, String)>) {
        if let Some(Series::Histogram(histogram)) = self.metric(Kind::Histogram, name, labels) {
            histogram.record(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_must_suit_prometheus() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        assert!(valid("orders_total", &labels(&[("side", "buy")])));
        assert!(!valid("orders-total", &[]));
        assert!(!valid("1st", &[]));
        assert!(!valid("ok", &labels(&[("__name__", "x")])));
        assert!(!valid("ok", &labels(&[("bad label", "x")])));
        assert!(!valid(
            "ok",
            &labels(&[("big", &"x".repeat(MAX_VALUE_BYTES + 1))])
        ));
    }

    #[test]
    fn series_past_the_cap_and_kind_changes_are_dropped() {
        let metrics = PluginMetrics::new("my-plugin", 2);
        let one = |value: &str| vec![("k".to_owned(), value.to_owned())];
        assert!(
            metrics
                .series(Kind::Counter, "hits".into(), one("a"))
                .is_some()
        );
        assert!(
            metrics
                .series(Kind::Counter, "hits".into(), one("b"))
                .is_some()
        );
        assert!(
            metrics
                .series(Kind::Counter, "hits".into(), one("a"))
                .is_some(),
            "known series"
        );
        assert!(
            metrics
                .series(Kind::Counter, "hits".into(), one("c"))
                .is_none(),
            "over the cap"
        );
        assert!(
            metrics
                .series(Kind::Gauge, "hits".into(), one("a"))
                .is_none(),
            "kind change"
        );
        assert_eq!(metrics.prefix, "my_plugin");
    }
}
