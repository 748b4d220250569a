//! Whether a busy plugin starves the others: the latency of a healthy plugin route,
//! unloaded and while four clients drive a plugin that computes until its CPU budget
//! runs out. The gateway runs on its own tokio runtime with `GATEWAY_WORKERS` threads
//! (default 1), the clients on another. Bounded: a fixed number of requests per phase.
//! `cargo bench -p archway-tests --bench starvation`.

use std::time::{Duration, Instant};

use archway_tests::artifacts::MISBEHAVE;
use archway_tests::{get, upstream};

const SAMPLES: usize = 400;
const LOOPING_CLIENTS: usize = 4;

fn main() {
    let workers = std::env::var("GATEWAY_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let gateway_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("gateway runtime");
    let config = format!(
        "[log]\naccess_log = false\n\
         [[plugins]]\nname = \"ok\"\npath = \"{MISBEHAVE}\"\n[plugins.config]\nmode = \"ok\"\n\
         [[plugins]]\nname = \"loop\"\npath = \"{MISBEHAVE}\"\ntimeout_ms = 100\n[plugins.config]\nmode = \"loop\"\n\
         [[routes]]\nid = \"ok\"\npath_pattern = \"/ok\"\nhandler = \"ok\"\nrequires_auth = false\nrate_limit_rpm = 0\n\
         [[routes]]\nid = \"loop\"\npath_pattern = \"/loop\"\nhandler = \"loop\"\nrequires_auth = false\nrate_limit_rpm = 0\n"
    );
    let gateway =
        gateway_runtime.block_on(async { archway_tests::gateway(&config, upstream().await).await });
    let addr = gateway.addr();

    let clients = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    clients.block_on(async {
        let unloaded = latencies(addr).await;
        let loopers: Vec<_> = (0..LOOPING_CLIENTS)
            .map(|_| {
                tokio::spawn(async move {
                    loop {
                        assert_eq!(get(addr, "/loop", &[]).await.status, 500);
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let loaded = latencies(addr).await;
        for looper in loopers {
            looper.abort();
        }
        println!(
            "gateway workers: {workers}; yield interval: every epoch tick (2 ms of guest execution)"
        );
        println!("| /ok route | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|");
        row("unloaded", &unloaded);
        row(
            &format!("{LOOPING_CLIENTS} clients on a looping plugin"),
            &loaded,
        );
    });
    gateway_runtime.block_on(gateway.stop());
}

/// `SAMPLES` sequential requests to the healthy route, sorted.
async fn latencies(addr: std::net::SocketAddr) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        assert_eq!(get(addr, "/ok", &[]).await.status, 200);
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn row(label: &str, sorted: &[Duration]) {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "| {label} | {:.2} | {:.2} | {:.2} |",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
