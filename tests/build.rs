//! Builds the example plugins (the Python one with componentize-py) and the fixtures, and
//! names each component's path as a constant (`HELLO_AUTH`, `PYTHON_GREETER`, ...).

use std::fmt::Write as _;

fn main() {
    let mut built = archway_wasm_build::build(&[
        "examples/plugins/hello-auth",
        "examples/plugins/visits",
        "examples/plugins/dashboard",
        "examples/plugins/trading-sim",
        "examples/plugins/order-policy",
        "tests/fixtures/misbehave",
        "tests/fixtures/uses-kv",
        "tests/fixtures/shared-data",
        "tests/fixtures/stamp-a",
        "tests/fixtures/stamp-b",
        "tests/fixtures/edits",
        "tests/fixtures/bare-authenticator",
        "tests/fixtures/ticker",
        "tests/fixtures/metered",
        "tests/fixtures/relay",
        "tests/fixtures/rust-greeter",
    ]);
    built.push(archway_wasm_build::build_python(
        "examples/plugins/python-greeter",
        "archway:python-greeter/greeter",
    ));
    let mut constants = String::new();
    for plugin in built {
        let constant = plugin.name.to_uppercase().replace('-', "_");
        writeln!(
            constants,
            "/// The `{}` component.\npub const {constant}: &str = {:?};",
            plugin.name, plugin.path
        )
        .expect("writing to a String");
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("artifacts.rs");
    std::fs::write(out, constants).expect("OUT_DIR is writable");
}
