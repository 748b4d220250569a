//! Sequential latency of each store operation on both backends: an embedded store in a
//! temp dir and a Redis store on a spawned redis-server. Prints p50/p99/mean per op.
//!
//! Run with `cargo bench -p archway-store`.

use std::time::{Duration, Instant};

use archway_store::testing::RedisServer;
use archway_store::{RateAlgorithm, Store, StoreConfig};

const OPS: usize = 2000;
const KEYS: usize = 100;
const VALUE: [u8; 128] = [b'x'; 128];

#[derive(Clone, Copy, Debug)]
enum Op {
    Set,
    Get,
    Increment,
    Append,
    RateLimit,
}

impl Op {
    const ALL: [Op; 5] = [Op::Set, Op::Get, Op::Increment, Op::Append, Op::RateLimit];

    fn name(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Get => "get",
            Op::Increment => "increment",
            Op::Append => "append",
            Op::RateLimit => "rate_limit",
        }
    }

    async fn run(self, store: &Store, n: usize) {
        let key = format!("bench:{}", n % KEYS);
        match self {
            Op::Set => store.set(&key, &VALUE, None).await.map(drop),
            Op::Get => store.get(&key).await.map(drop),
            Op::Increment => store.increment("bench:counter", 1).await.map(drop),
            Op::Append => {
                let fields = [("value".to_owned(), "x".repeat(VALUE.len()))];
                store.append("bench:stream", &fields).await.map(drop)
            }
            Op::RateLimit => store
                .rate_limit(&key, 1_000_000, Duration::from_secs(1), RateAlgorithm::Gcra)
                .await
                .map(drop),
        }
        .unwrap_or_else(|error| panic!("{} failed: {error}", self.name()));
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bench.redb");
        let embedded = Store::open(&StoreConfig::Embedded { path })
            .await
            .expect("open embedded store");
        let server = RedisServer::running();
        let redis = Store::open(&StoreConfig::redis(server.url()))
            .await
            .expect("open redis store");

        println!("{OPS} sequential ops each, 128-byte values, latency in µs");
        println!("| backend  | op         |    p50 |    p99 |   mean |");
        println!("|----------|------------|-------:|-------:|-------:|");
        for store in [&embedded, &redis] {
            for op in Op::ALL {
                let mut samples = Vec::with_capacity(OPS);
                for n in 0..OPS {
                    let started = Instant::now();
                    op.run(store, n).await;
                    samples.push(started.elapsed());
                }
                let summary = Summary::of(&mut samples);
                println!(
                    "| {:<8} | {:<10} | {:>6.1} | {:>6.1} | {:>6.1} |",
                    store.backend_name(),
                    op.name(),
                    summary.p50,
                    summary.p99,
                    summary.mean
                );
            }
        }
    });
}

/// Percentiles and mean, in microseconds.
struct Summary {
    p50: f64,
    p99: f64,
    mean: f64,
}

impl Summary {
    fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        let at = |q: f64| micros(samples[((samples.len() - 1) as f64 * q).round() as usize]);
        let total: Duration = samples.iter().sum();
        Self {
            p50: at(0.50),
            p99: at(0.99),
            mean: micros(total) / samples.len() as f64,
        }
    }
}
