//! Compiles plugin crates of this workspace to `wasm32-wasip2` components from a build
//! script, with a nested cargo that has its own target directory (so it never waits on
//! the outer build's lock) and none of the host's compiler flags.
//!
//! ```no_run
//! // build.rs
//! let built = archway_wasm_build::build(&["plugins/header-transform"]);
//! for plugin in &built {
//!     println!("{} -> {}", plugin.name, plugin.path.display());
//! }
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// One compiled component.
#[derive(Debug)]
pub struct Built {
    /// The crate's package name (`header-transform`).
    pub name: String,
    /// The component file.
    pub path: PathBuf,
}

/// Builds the crates in `dirs` (relative to the workspace root) in one cargo call and
/// returns their components, in the same order. Panics with cargo's exit status on
/// failure: this runs in build scripts, where a panic is the error report.
pub fn build(dirs: &[&str]) -> Vec<Built> {
    let root = workspace_root();
    let names: Vec<String> = dirs
        .iter()
        .map(|dir| package_name(&root.join(dir)))
        .collect();
    let target_dir = wasm_target_dir();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cargo
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .env("CARGO_TARGET_DIR", &target_dir);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cargo.env_remove(var);
    }
    for name in &names {
        cargo.args(["-p", name]);
    }
    let status = cargo
        .status()
        .expect("cargo can be started from a build script");
    assert!(
        status.success(),
        "building plugins {names:?} for wasm32-wasip2 failed: {status}"
    );

    for dir in dirs.iter().chain(&["sdk", "wit"]) {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    names
        .into_iter()
        .map(|name| {
            let path = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", name.replace('-', "_")));
            assert!(
                path.exists(),
                "cargo built {name} but {} is missing",
                path.display()
            );
            Built { name, path }
        })
        .collect()
}

/// The workspace root: the nearest ancestor of the calling crate with a `[workspace]`.
fn workspace_root() -> PathBuf {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        })
        .expect("the calling crate is inside the archway workspace")
        .to_owned()
}

/// `<outer target dir>/wasm-plugins`, found from `OUT_DIR` (`<target>/<profile>/build/<pkg>/out`).
fn wasm_target_dir() -> PathBuf {
    let out_dir =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts"));
    out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR lies four levels below the target dir")
        .join("wasm-plugins")
}

fn package_name(crate_dir: &Path) -> String {
    let manifest = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    text.lines()
        .find_map(|line| {
            line.strip_prefix("name = \"")
                .and_then(|rest| rest.strip_suffix('"'))
        })
        .unwrap_or_else(|| panic!("{} has no `name = \"...\"` line", manifest.display()))
        .to_owned()
}
