//! What one plugin hook costs the host: calls into pooled instances of real components,
//! timed in-process (no network), so the per-hook CPU cost is read directly rather than
//! inferred from a load test. `cargo bench -p archway-tests --bench hooks`.

use std::time::Instant;

use archway_config::Config;
use archway_runtime::{Plugin, RequestContext, ResponseContext, Runtime};
use archway_tests::artifacts::{HELLO_AUTH, STAMP_A};
use http::{HeaderMap, HeaderValue, StatusCode};

const CALLS: usize = 200_000;
const WARMUP: usize = 20_000;

fn main() {
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
    let load = |name: &str| {
        let settings = config.plugin(name).expect("configured");
        let archway_config::PluginSource::Path(path) = &settings.source else {
            unreachable!("the bench config names files")
        };
        let bytes = std::fs::read(path).expect("component built by tests/build.rs");
        Plugin::load(&runtime, settings, &bytes).expect("plugin loads")
    };
    let (auth, stamp) = (load("hello-auth"), load("stamp"));
    let mut request = request();
    let mut response = ResponseContext {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
    };

    println!("| hook | calls | mean ns/call |\n|---|---:|---:|");
    report("authenticate (hello-auth: 1 header, principal out)", || {
        auth.authenticate(&mut request)
            .expect("call")
            .expect("allowed");
    });
    report("transform on-request (stamp: no edit)", || {
        stamp
            .on_request(&mut request)
            .expect("call")
            .expect("allowed");
    });
    report("transform on-response (stamp: 1 header out)", || {
        stamp
            .on_response(&mut request, &mut response)
            .expect("call")
            .expect("allowed");
    });
}

/// A request head like the load test's: a handful of ordinary headers and the API key.
fn request() -> RequestContext {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:18080"),
        ("user-agent", "wrk"),
        ("accept", "*/*"),
        ("x-api-key", "bench-key"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    RequestContext {
        path: "/chain/echo".to_owned(),
        headers,
        route_id: "chain".into(),
        ..RequestContext::default()
    }
}

fn report(label: &str, mut call: impl FnMut()) {
    for _ in 0..WARMUP {
        call();
    }
    let started = Instant::now();
    for _ in 0..CALLS {
        call();
    }
    let mean = started.elapsed() / CALLS as u32;
    println!("| {label} | {CALLS} | {} |", mean.as_nanos());
}
