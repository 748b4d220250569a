//! Builds every first-party plugin under `plugins/` to a component and embeds it, so
//! config can name it as `builtin = "<crate name>"`.

use std::fmt::Write as _;

fn main() {
    // Read at run time, not compile time: a build script compiled in one checkout may be
    // reused by cargo for another one that shares the target directory (as CI's does).
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = std::path::Path::new(&manifest_dir).join("../../plugins");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .expect("plugins/ exists")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| format!("plugins/{}", entry.file_name().to_string_lossy()))
        .collect();
    dirs.sort();
    let refs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let mut table = String::from(
        "/// First-party plugins by name.\npub(crate) const BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    for built in archway_wasm_build::build(&refs) {
        writeln!(
            table,
            "    ({:?}, include_bytes!({:?})),",
            built.name, built.path
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("builtin.rs");
    std::fs::write(out, table).expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=../../plugins");
}
