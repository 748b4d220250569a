//! Structured logs (text by default, JSON lines on request; `RUST_LOG` overrides the
//! config's level) and the metrics recorder behind the Prometheus endpoint.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use archway_config::{LogConfig, LogFormat};
use archway_proxy::RenderMetrics;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber for the process.
pub fn init(config: &LogConfig) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The process's metrics recorder, installed on first use (one per process, shared by
/// every gateway it starts), and how to render it for the metrics endpoint. Durations
/// are histograms with buckets from 0.5 ms to 10 s; a thread drains histogram samples
/// every 5 seconds so memory stays flat between scrapes.
pub fn metrics() -> RenderMetrics {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        let installed = PrometheusBuilder::new()
            .set_buckets(&DURATION_BUCKETS)
            .and_then(PrometheusBuilder::install_recorder);
        match installed {
            Ok(handle) => {
                let upkeep = handle.clone();
                let started = std::thread::Builder::new()
                    .name("archway-metrics".to_owned())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(Duration::from_secs(5));
                            upkeep.run_upkeep();
                        }
                    });
                if let Err(error) = started {
                    tracing::warn!(target: "archway.metrics", %error, "no upkeep thread: histograms drain only when scraped");
                }
                Some(handle)
            }
            Err(error) => {
                tracing::warn!(target: "archway.metrics", %error, "another metrics recorder is installed; the endpoint shows nothing");
                None
            }
        }
    });
    let handle = handle.clone();
    Arc::new(move || {
        handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    })
}

/// Histogram buckets, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
