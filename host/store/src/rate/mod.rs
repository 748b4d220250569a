//! Rate-limit counters: the decision type, the two algorithms, and the in-process
//! limiter the embedded store uses. The Redis backend runs the same rules in Lua scripts
//! (`remote/scripts.rs`) on the server's clock, so every node counts against one budget.

mod gcra;
mod window;

use std::time::Duration;

/// How a budget of `limit` requests per period is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RateAlgorithm {
    /// At most `limit` requests in any period-long window ending now (a log of the
    /// requests counted; exact, and memory grows with the limit).
    #[default]
    SlidingWindow,
    /// GCRA: bursts of up to `limit`, then one request every `period / limit` (constant
    /// memory per key, smoother bursts).
    Gcra,
}

/// The answer to one `rate_limit` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether this request is within the limit (and was counted).
    pub allowed: bool,
    /// Requests still allowed right now after this one.
    pub remaining: u32,
    /// When denied: how long until a request would be allowed.
    pub retry_after: Option<Duration>,
    /// How long until the full limit is available again.
    pub reset_after: Duration,
}

/// Rate-limit state for the embedded store, in memory: it is per node by nature and
/// does not need to survive a restart.
pub(crate) struct LocalLimiter {
    gcra: gcra::Limiters,
    window: window::Logs,
}

impl LocalLimiter {
    pub(crate) fn new() -> Self {
        Self {
            gcra: gcra::Limiters::default(),
            window: window::Logs::new(),
        }
    }

    pub(crate) fn decide(
        &self,
        key: &str,
        limit: u32,
        period_us: u64,
        algorithm: RateAlgorithm,
    ) -> RateDecision {
        match algorithm {
            RateAlgorithm::SlidingWindow => self.window.decide(key, limit, period_us),
            RateAlgorithm::Gcra => self.gcra.decide(key, limit, period_us),
        }
    }
}
