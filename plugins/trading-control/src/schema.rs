//! The store layout the control plane shares with the trading backend: every key and
//! stream name under the shared namespace, and the records kept there. The plugin's
//! README documents the same layout for backends that use a plain Redis client.

use archway_sdk::serde_json::Value;
use serde::{Deserialize, Serialize};

/// Names of keys and streams in the shared namespace (`shared/<namespace>/...`).
#[derive(Debug, Clone)]
pub struct Names {
    root: String,
}

impl Names {
    /// The names under `shared/<namespace>/`.
    pub fn new(namespace: &str) -> Self {
        Self {
            root: format!("shared/{namespace}/"),
        }
    }

    /// A name under the namespace.
    pub fn name(&self, rest: &str) -> String {
        format!("{}{rest}", self.root)
    }

    /// kv `engines/<id>`: an [`Engine`].
    pub fn engine(&self, id: &str) -> String {
        self.name(&format!("engines/{id}"))
    }

    /// kv `portfolios/<id>`: a [`Portfolio`], written by the gateway only.
    pub fn portfolio(&self, id: &str) -> String {
        self.name(&format!("portfolios/{id}"))
    }

    /// kv `portfolio-state/<id>`: a [`PortfolioState`].
    pub fn portfolio_state(&self, id: &str) -> String {
        self.name(&format!("portfolio-state/{id}"))
    }

    /// kv `positions/<id>`: a JSON array of positions, written by the backend.
    pub fn positions(&self, id: &str) -> String {
        self.name(&format!("positions/{id}"))
    }

    /// Stream `history/<id>`: a portfolio's snapshots, written by the backend.
    pub fn history(&self, id: &str) -> String {
        self.name(&format!("history/{id}"))
    }

    /// kv `nodes/<id>`: a [`Node`], written by the backend.
    pub fn node(&self, id: &str) -> String {
        self.name(&format!("nodes/{id}"))
    }

    /// kv `disabled-nodes/<id>`: a [`Disabled`] mark, written by the gateway.
    pub fn disabled(&self, id: &str) -> String {
        self.name(&format!("disabled-nodes/{id}"))
    }

    /// kv `heartbeats/<component>`: Unix milliseconds as decimal text, written by the
    /// backend (`engine/<id>`, `node/<id>`, `livecore/data`, `kafka`, ...).
    pub fn heartbeat(&self, component: &str) -> String {
        self.name(&format!("heartbeats/{component}"))
    }

    /// kv `idempotency/<subject>/<sha256 of the key>`: the first answer to a POST, kept
    /// 24 hours.
    pub fn idempotency(&self, subject: &str, key: &str) -> String {
        self.name(&format!("idempotency/{subject}/{key}"))
    }

    /// Stream `commands`: what the backend is asked to do.
    pub fn commands(&self) -> String {
        self.name("commands")
    }

    /// Stream `metrics`: the backend's measurements.
    pub fn metrics(&self) -> String {
        self.name("metrics")
    }

    /// Stream `alerts`: the backend's alerts.
    pub fn alerts(&self) -> String {
        self.name("alerts")
    }

    /// The id in `name` after `prefix` (`portfolios/` -> the portfolio id).
    pub fn id_in<'a>(&self, name: &'a str, prefix: &str) -> Option<&'a str> {
        name.strip_prefix(&self.root)?.strip_prefix(prefix)
    }
}

/// A live engine: the gateway writes `status` on start and stop, the backend the rest.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Engine {
    /// The engine's id.
    pub engine_id: String,
    /// `starting`, `running`, `stopping`, `stopped` or `error`.
    pub status: String,
    /// The config it was started with.
    #[serde(default)]
    pub config: Value,
    /// When the gateway or the backend last changed the record (Unix ms).
    #[serde(default)]
    pub updated_at: u64,
    /// When it started running (Unix ms), set by the backend.
    #[serde(default)]
    pub started_at: Option<u64>,
    /// Portfolios the engine runs, as the backend counts them.
    #[serde(default)]
    pub portfolio_count: u64,
}

/// A portfolio as its owner defined it: written by the gateway only.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Portfolio {
    /// The portfolio's id (a UUID).
    pub portfolio_id: String,
    /// Its name.
    pub name: String,
    /// The user it belongs to.
    pub user_id: String,
    /// The cash it started with.
    pub initial_cash: f64,
    /// Strategy, risk managements and sizer.
    pub config: Value,
    /// Created (Unix ms).
    pub created_at: u64,
    /// Last changed by its owner (Unix ms).
    pub updated_at: u64,
    /// Deleted (Unix ms): no longer listed or served.
    #[serde(default)]
    pub deleted_at: Option<u64>,
}

/// A portfolio as it runs: the gateway writes `status` when it sends a command, the
/// backend everything as it runs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PortfolioState {
    /// `created`, `running`, `reloading`, `migrating`, `deleting`, `stopped`, `error`.
    pub status: String,
    /// Cash on hand.
    #[serde(default)]
    pub cash: f64,
    /// Cash plus the market value of its positions.
    #[serde(default)]
    pub total_value: f64,
    /// Open positions.
    #[serde(default)]
    pub position_count: u64,
    /// The execution node that runs it.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Instruments it subscribes to.
    #[serde(default)]
    pub interest_count: u64,
    /// Last change (Unix ms).
    #[serde(default)]
    pub updated_at: u64,
}

/// An execution node, as it registers itself.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's id.
    pub node_id: String,
    /// Its address.
    #[serde(default)]
    pub host: String,
    /// Its port.
    #[serde(default)]
    pub port: u16,
    /// What the node says of itself (`active`).
    #[serde(default = "active")]
    pub status: String,
    /// When it started (Unix ms).
    #[serde(default)]
    pub started_at: Option<u64>,
}

fn active() -> String {
    "active".to_owned()
}

/// An operator took a node out of scheduling.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Disabled {
    /// Why.
    pub reason: String,
    /// When (Unix ms).
    pub disabled_at: u64,
    /// Who.
    pub disabled_by: String,
}
