//! Response compression: gzip, brotli or zstd, chosen by the client's `Accept-Encoding`,
//! for responses big enough to gain from it. `[compression]` sets the gateway's default;
//! a route's `compression` overrides it.

use serde::{Deserialize, Serialize};

/// The gateway-wide compression settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionConfig {
    /// Whether routes that do not set `compression` compress their responses.
    pub enabled: bool,
    /// Responses that declare a smaller length than this are sent as they are.
    pub min_bytes: u64,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_bytes: 1024,
        }
    }
}
