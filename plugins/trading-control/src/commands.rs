//! Commands to the trading backend: one entry each on the shared `commands` stream, with
//! a unique id, who issued it and when, so any consumer (the simulator, or a backend on a
//! plain Redis client with `XREAD`) acts on each once.

use archway_sdk::streams;

use crate::clock;
use crate::failure::Failure;
use crate::schema::Names;

/// What the backend is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Start a live engine (`engine_id`, `config`).
    EngineStart,
    /// Stop a live engine (`engine_id`).
    EngineStop,
    /// Run a new portfolio (`portfolio_id`, `user_id`, `initial_cash`, `config`).
    PortfolioCreate,
    /// Restart a portfolio gracefully with a new config (`portfolio_id`, `config`).
    PortfolioReload,
    /// Stop a portfolio and forget it (`portfolio_id`).
    PortfolioDelete,
    /// Move a portfolio (`portfolio_id`, `source_node`, `target_node`).
    PortfolioMigrate,
    /// Take a node out of scheduling (`node_id`, `reason`, `migrate_portfolios`).
    NodeDisable,
}

impl Kind {
    /// The `command` field's value.
    pub fn name(self) -> &'static str {
        match self {
            Self::EngineStart => "engine.start",
            Self::EngineStop => "engine.stop",
            Self::PortfolioCreate => "portfolio.create",
            Self::PortfolioReload => "portfolio.reload",
            Self::PortfolioDelete => "portfolio.delete",
            Self::PortfolioMigrate => "portfolio.migrate",
            Self::NodeDisable => "node.disable",
        }
    }
}

/// Appends a command of `kind` with `fields`, issued by `subject`.
pub fn send(
    names: &Names,
    kind: Kind,
    subject: &str,
    fields: &[(&str, &str)],
) -> Result<(), Failure> {
    let id = uuid::Uuid::new_v4().to_string();
    let issued_at = clock::now_ms().to_string();
    let mut entry = vec![
        ("command", kind.name()),
        ("command_id", id.as_str()),
        ("issued_by", subject),
        ("issued_at", issued_at.as_str()),
    ];
    entry.extend_from_slice(fields);
    streams::append(&names.commands(), &entry)
        .map_err(|e| Failure::store(&format!("send command {}", kind.name()), &e))?;
    Ok(())
}
