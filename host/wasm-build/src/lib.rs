//! Compiles plugins of this workspace to components from a build script: Rust crates to
//! `wasm32-wasip2` with a nested cargo that has its own target directory (so it never
//! waits on the outer build's lock) and none of the host's compiler flags, and Python
//! plugins with `componentize-py`.
//!
//! ```no_run
//! // build.rs
//! let built = archway_wasm_build::build(&["plugins/header-transform"]);
//! for plugin in &built {
//!     println!("{} -> {}", plugin.name, plugin.path.display());
//! }
//! let greeter = archway_wasm_build::build_python(
//!     "examples/plugins/python-greeter",
//!     "archway:python-greeter/greeter",
//! );
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

/// The `componentize-py` release Python plugins are built with: its components import WASI
/// 0.2.9, which the gateway's wasmtime links.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Builds the Python plugin in `dir` (relative to the workspace root) with
/// `componentize-py`: module `app` (`app.py`) against `world`, which a `.wit` file in `dir`
/// defines on the workspace's `wit/` package. Its name is the directory's name. Panics,
/// saying what to install, when `componentize-py` is missing or another version.
///
/// The component is kept while it is newer than every file in `dir` and `wit/`:
/// componentize-py takes seconds and its output differs on every run, so rebuilding
/// unchanged sources would also cost a fresh compile in every compile cache.
pub fn build_python(dir: &str, world: &str) -> Built {
    let root = workspace_root();
    let (source, wit) = (root.join(dir), root.join("wit"));
    for watched in [&source, &wit] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    check_componentize_py(dir);
    let name = source
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_else(|| panic!("{dir} does not end in a plugin name"))
        .to_owned();
    let python = wasm_target_dir().join("python");
    let path = python.join(format!("{name}.wasm"));
    let sources = files(&source);
    if is_newer_than(&path, sources.iter().chain(&files(&wit))) {
        return Built { name, path };
    }

    // componentize-py writes `__pycache__` beside the modules it wraps: it gets copies,
    // so the source directory, which cargo watches, stays untouched.
    let stage = python.join(&name);
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", stage.display()));
    for file in sources
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "py"))
    {
        let staged = stage.join(file.file_name().expect("a file listed in a directory"));
        std::fs::copy(file, &staged)
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", file.display()));
    }
    let status = Command::new("componentize-py")
        .arg("--quiet")
        .arg("-d")
        .arg(&wit)
        .arg("-d")
        .arg(&source)
        .args(["-w", world, "componentize", "app", "-p"])
        .arg(&stage)
        .arg("-o")
        .arg(&path)
        .status()
        .expect("componentize-py ran a moment ago");
    assert!(
        status.success(),
        "componentize-py failed to build {dir}: {status}"
    );
    Built { name, path }
}

/// Panics with the install command unless `componentize-py` is the pinned version.
fn check_componentize_py(dir: &str) {
    let install = format!("pip install componentize-py=={COMPONENTIZE_PY_VERSION}");
    let output = Command::new("componentize-py")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!("building the Python plugin {dir} needs componentize-py ({e}): {install}")
        });
    let version = String::from_utf8_lossy(&output.stdout);
    let version = version.trim();
    assert!(
        version == format!("componentize-py {COMPONENTIZE_PY_VERSION}"),
        "building the Python plugin {dir} needs componentize-py {COMPONENTIZE_PY_VERSION}, \
         found `{version}`: {install}"
    );
}

/// The files directly in `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .and_then(|entries| {
            entries
                .map(|entry| Ok(entry?.path()))
                .collect::<std::io::Result<Vec<_>>>()
        })
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    entries.into_iter().filter(|path| path.is_file()).collect()
}

/// Whether `output` exists and was written after each of `inputs` last changed.
fn is_newer_than<'a>(output: &Path, mut inputs: impl Iterator<Item = &'a PathBuf>) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    modified(output).is_some_and(|built| {
        inputs.all(|input| modified(input).is_some_and(|changed| changed < built))
    })
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
