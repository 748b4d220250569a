//! The first-party plugins compiled into the binary.

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));

/// The component bytes of a first-party plugin.
pub fn component(name: &str) -> Option<&'static [u8]> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of all first-party plugins.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}
