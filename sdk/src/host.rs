//! Calls into the host, with native stand-ins so plugin logic runs under plain `cargo test`.

use crate::bindings::log::Level;

/// Writes a line to the gateway's log (stderr in native tests).
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}
