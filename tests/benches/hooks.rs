//! What one plugin hook costs the host: async calls into pooled instances of real
//! components, timed in-process on one tokio thread (no network), so the per-hook CPU
//! cost is read directly rather than inferred from a load test. The same handler in Rust
//! and in Python (componentize-py) is timed pooled and with a fresh instance per call
//! (instantiation + `init` + `handle`), after the cost of loading each.
//! `cargo bench -p archway-tests --bench hooks`.

use std::sync::Arc;
use std::time::Instant;

use archway_config::Config;
use archway_runtime::{Plugin, RequestHead, ResponseHead, RouteInfo, Runtime};
use archway_tests::artifacts::{HELLO_AUTH, PYTHON_GREETER, RUST_GREETER, STAMP_A};
use http::{HeaderMap, HeaderValue, StatusCode};

/// Calls timed per hook on a pooled instance; a tenth as many warm up first.
const CALLS: usize = 200_000;
/// Calls timed with a fresh instance each, which costs a thousand times more.
const FRESH_CALLS: usize = 2_000;

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench());
}

async fn bench() {
    let mut greeters = String::new();
    for (language, path) in [("rust", RUST_GREETER), ("python", PYTHON_GREETER)] {
        for (suffix, instances) in [("", "pooled"), ("-fresh", "per-request")] {
            greeters += &format!(
                "[[plugins]]\nname = \"{language}{suffix}\"\npath = \"{path}\"\n\
                 instances = \"{instances}\"\ncapabilities = [\"log\"]\nmemory_mb = 32\n\
                 [plugins.config]\ngreeting = \"Hello\"\n"
            );
        }
    }
    let config = Config::from_toml_str(
        &format!(
            "[[plugins]]\nname = \"hello-auth\"\npath = \"{HELLO_AUTH}\"\n\
             [plugins.config]\nkeys = {{ \"bench-key\" = \"bench-user\" }}\n\
             [[plugins]]\nname = \"hello-auth-fresh\"\npath = \"{HELLO_AUTH}\"\n\
             instances = \"per-request\"\n\
             [plugins.config]\nkeys = {{ \"bench-key\" = \"bench-user\" }}\n\
             [[plugins]]\nname = \"stamp\"\npath = \"{STAMP_A}\"\n\
             {greeters}"
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
    let fresh_auth = load("hello-auth-fresh").await;

    println!("| plugin | component bytes | load ms (compile + first instance + init) |");
    println!("|---|---:|---:|");
    let mut greeters = Vec::new();
    for (name, path) in [("rust", RUST_GREETER), ("python", PYTHON_GREETER)] {
        let started = Instant::now();
        let pooled = load(name).await;
        let load_ms = started.elapsed().as_millis();
        let bytes = std::fs::metadata(path).expect("component built").len();
        println!("| {name}-greeter | {bytes} | {load_ms} |");
        greeters.push((name, pooled, load(&format!("{name}-fresh")).await));
    }
    println!();

    let mut request = request();
    let mut response = ResponseHead {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: None,
    };

    println!("| hook | calls | mean ns/call |\n|---|---:|---:|");
    report(
        "authenticate (hello-auth: 1 header, principal out)",
        CALLS,
        async || {
            auth.authenticate(&mut request)
                .await
                .expect("call")
                .expect("allowed");
        },
    )
    .await;
    report(
        "authenticate, fresh instance (hello-auth: instantiate + init + authenticate)",
        FRESH_CALLS,
        async || {
            fresh_auth
                .authenticate(&mut request)
                .await
                .expect("call")
                .expect("allowed");
        },
    )
    .await;
    report("transform on-request (stamp: no edit)", CALLS, async || {
        stamp
            .on_request(&mut request)
            .await
            .expect("call")
            .expect("allowed");
    })
    .await;
    report(
        "transform on-response (stamp: 1 header out)",
        CALLS,
        async || {
            stamp
                .on_response(&mut request, &mut response)
                .await
                .expect("call")
                .expect("allowed");
        },
    )
    .await;

    let mut request = greet_request();
    for (name, pooled, fresh) in &greeters {
        let work = "1 param, 1 header, path, route id; JSON out";
        report(
            &format!("handle ({name}-greeter: {work})"),
            CALLS,
            async || {
                pooled
                    .handle(&mut request)
                    .await
                    .expect("call")
                    .expect("answered");
            },
        )
        .await;
        let label = format!("handle, fresh instance ({name}-greeter: instantiate + init + handle)");
        report(&label, FRESH_CALLS, async || {
            fresh
                .handle(&mut request)
                .await
                .expect("call")
                .expect("answered");
        })
        .await;
    }
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

/// `GET /greet/Ada` with `x-title: Dr` on route `greet`, as the greeters expect.
fn greet_request() -> RequestHead {
    let mut request = request();
    request.path = "/greet/Ada".to_owned();
    request
        .headers
        .insert("x-title", HeaderValue::from_static("Dr"));
    request.params = vec![("name".to_owned(), "Ada".to_owned())];
    request.route = Arc::new(RouteInfo {
        id: "greet".to_owned(),
        service_name: None,
        version: "v1".to_owned(),
        required_permissions: Vec::new(),
    });
    request
}

async fn report(label: &str, calls: usize, mut call: impl AsyncFnMut()) {
    for _ in 0..calls / 10 {
        call().await;
    }
    let started = Instant::now();
    for _ in 0..calls {
        call().await;
    }
    let mean = started.elapsed() / calls as u32;
    println!("| {label} | {calls} | {} |", mean.as_nanos());
}
