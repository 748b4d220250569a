//! Why loading or calling a plugin failed. A deny is not here: it is a value.

use std::path::PathBuf;

/// A plugin that could not be made ready to serve.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component file could not be read.
    #[error("plugin {plugin}: cannot read {path}: {source}")]
    Read {
        /// The plugin's name.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The component file may be written by any user, who could then change what runs.
    #[error(
        "plugin {plugin}: {path} is world-writable; refused (remove others' write permission: chmod o-w)"
    )]
    WorldWritable {
        /// The plugin's name.
        plugin: String,
        /// The file.
        path: PathBuf,
    },
    /// The bytes are not a valid WebAssembly component.
    #[error("plugin {plugin}: not a valid WebAssembly component: {reason}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// wasmtime's reason.
        reason: String,
    },
    /// The component imports a host interface its config does not grant.
    #[error(
        "plugin {plugin} imports `{import}` but its config does not grant it (add \"{capability}\" to capabilities)"
    )]
    UngrantedImport {
        /// The plugin's name.
        plugin: String,
        /// The full import name.
        import: String,
        /// The capability to grant.
        capability: String,
    },
    /// The component imports something the host does not offer at all.
    #[error("plugin {plugin} imports `{import}`, which archway does not provide")]
    UnknownImport {
        /// The plugin's name.
        plugin: String,
        /// The full import name.
        import: String,
    },
    /// The component's imports do not fit the host's (a different WIT version).
    #[error("plugin {plugin} does not link against this archway: {reason}")]
    Link {
        /// The plugin's name.
        plugin: String,
        /// wasmtime's reason.
        reason: String,
    },
    /// The component exports neither `archway:plugin/lifecycle` nor any role.
    #[error(
        "plugin {plugin} is not an archway plugin: it exports no archway:plugin@0.1.0 role and no lifecycle"
    )]
    NotAPlugin {
        /// The plugin's name.
        plugin: String,
    },
    /// The config gives the plugin settings, but it exports no `lifecycle` to take them.
    #[error(
        "plugin {plugin} has [plugins.config] but exports no archway:plugin/lifecycle to receive it"
    )]
    ConfigWithoutInit {
        /// The plugin's name.
        plugin: String,
    },
    /// A route uses the plugin in a role it does not export.
    #[error("plugin {plugin} does not export the {role} role (it exports: {exports})")]
    MissingRole {
        /// The plugin's name.
        plugin: String,
        /// The role asked for.
        role: String,
        /// The roles it has.
        exports: String,
    },
    /// The first instance could not be created or its `init` failed.
    #[error("plugin {plugin} failed to start: {reason}")]
    Init {
        /// The plugin's name.
        plugin: String,
        /// What went wrong (the plugin's own init error, a trap, a timeout).
        reason: String,
    },
}

/// A call into a plugin that broke: the route's failure policy decides what the client sees.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The guest's own execution ran past its CPU budget.
    #[error("plugin {plugin} exceeded its {timeout_ms} ms deadline")]
    Timeout {
        /// The plugin's name.
        plugin: String,
        /// The deadline.
        timeout_ms: u64,
    },
    /// The guest tried to grow its linear memory past its cap.
    #[error("plugin {plugin} exceeded its {memory_mb} MiB memory cap")]
    MemoryLimit {
        /// The plugin's name.
        plugin: String,
        /// The cap.
        memory_mb: u64,
    },
    /// The guest trapped (panic, unreachable, ...).
    #[error("plugin {plugin} trapped: {reason}")]
    Trap {
        /// The plugin's name.
        plugin: String,
        /// wasmtime's description.
        reason: String,
    },
    /// The guest returned a value the host refuses (bad header, status, size).
    #[error("plugin {plugin} returned an invalid {what}: {reason}")]
    InvalidOutput {
        /// The plugin's name.
        plugin: String,
        /// Which value.
        what: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A fresh instance could not be created for the call.
    #[error("plugin {plugin} could not be instantiated: {reason}")]
    Instantiate {
        /// The plugin's name.
        plugin: String,
        /// Why.
        reason: String,
    },
}

/// The runtime itself could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin runtime: {0}")]
pub struct RuntimeError(pub(crate) String);
