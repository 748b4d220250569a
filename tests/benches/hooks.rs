//! What one plugin hook costs the host: async calls into pooled instances of real
//! components, timed in-process on one tokio thread (no network), so the per-hook CPU
//! cost is read directly rather than inferred from a load test.
//! `cargo bench -p archway-tests --bench hooks`.

use std::time::Instant;

use archway_config::Config;
use archway_runtime::{Plugin, RequestHead, ResponseHead, Runtime};
use archway_tests::artifacts::{HELLO_AUTH, STAMP_A};
use http::{HeaderMap, HeaderValue, StatusCode};

const CALLS: usize = 200_000;
const WARMUP: usize = 20_000;

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench());
}

async fn bench() {
    let config = Config::from_toml_str(
        &format!(
            "[[plugins]]\nname = \"hello-auth\"\npath = \"{HELLO_AUTH}\"\n\
             [plugins.config]\nkeys = {{ \"bench-key\" = \"bench-user\" }}\n\
             [[plugins]]\nname = \"stamp\"\npath = \"{STAMP_A}\"\n"
        ),
        std::path::Path::new("."),
    )
    .expect("bench config");
    let runtime = Runtime::new().expect("runtime");
    let load = async |name: &str| {
        let settings = config.plugin(name).expect("configured");
        let archway_config::PluginSource::Path(path) = &settings.source else {
            unreachable!("the bench config names files")
        };
        let bytes = std::fs::read(path).expect("component built by tests/build.rs");
        Plugin::load(
            &runtime,
            settings,
            &archway_runtime::ComponentBytes::new(bytes),
        )
        .await
        .expect("plugin loads")
    };
    let (auth, stamp) = (load("hello-auth").await, load("stamp").await);
    let mut request = request();
    let mut response = ResponseHead {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: None,
    };

    println!("| hook | calls | mean ns/call |\n|---|---:|---:|");
    report(
        "authenticate (hello-auth: 1 header, principal out)",
        async || {
            auth.authenticate(&mut request)
                .await
                .expect("call")
                .expect("allowed");
        },
    )
    .await;
    report("transform on-request (stamp: no edit)", async || {
        stamp
            .on_request(&mut request)
            .await
            .expect("call")
            .expect("allowed");
    })
    .await;
    report("transform on-response (stamp: 1 header out)", async || {
        stamp
            .on_response(&mut request, &mut response)
            .await
            .expect("call")
            .expect("allowed");
    })
    .await;
}

/// A request head like the load test's: a handful of ordinary headers and the API key.
fn request() -> RequestHead {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:18080"),
        ("user-agent", "wrk"),
        ("accept", "*/*"),
        ("x-api-key", "bench-key"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    RequestHead {
        path: "/chain/echo".to_owned(),
        headers,
        ..RequestHead::default()
    }
}

async fn report(label: &str, mut call: impl AsyncFnMut()) {
    for _ in 0..WARMUP {
        call().await;
    }
    let started = Instant::now();
    for _ in 0..CALLS {
        call().await;
    }
    let mean = started.elapsed() / CALLS as u32;
    println!("| {label} | {CALLS} | {} |", mean.as_nanos());
}
