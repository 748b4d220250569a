//! The schedule: which node runs which portfolio, and moving a portfolio by command.

use archway_sdk::serde_json::{Value, json};
use serde::Deserialize;

use crate::access::Caller;
use crate::commands::{self, Kind};
use crate::failure::Failure;
use crate::portfolios::unless_busy;
use crate::{Api, engines};

/// `POST /api/schedule/migrate`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Migrate {
    portfolio_id: String,
    source_node: String,
    target_node: String,
}

impl Api {
    /// `GET /api/schedule/plan`: every node with a live portfolio or open to new ones.
    pub fn plan(&self) -> Result<Value, Failure> {
        let placement = self.placement()?;
        let mut plans: Vec<(String, Vec<String>)> = placement
            .into_iter()
            .map(|(node, portfolios)| (node, portfolios.into_iter().map(|(id, _)| id).collect()))
            .collect();
        for view in self.nodes()? {
            if view.schedulable() && !plans.iter().any(|(node, _)| node == view.id()) {
                plans.push((view.id().to_owned(), Vec::new()));
            }
        }
        plans.sort();
        let total: usize = plans.iter().map(|(_, ids)| ids.len()).sum();
        let nodes = plans.len();
        let plans: Vec<Value> = plans
            .into_iter()
            .map(|(node, ids)| {
                json!({ "node_id": node, "portfolio_count": ids.len(), "portfolio_ids": ids })
            })
            .collect();
        Ok(json!({ "plans": plans, "total_nodes": nodes, "total_portfolios": total }))
    }

    /// `POST /api/schedule/migrate`: the portfolio must be on `source_node`, and
    /// `target_node` open to new portfolios.
    pub fn migrate(&self, caller: &Caller, migrate: Migrate) -> Result<Value, Failure> {
        let Migrate {
            portfolio_id,
            source_node,
            target_node,
        } = &migrate;
        engines::valid_id("target_node", target_node)?;
        self.portfolio(portfolio_id)?;
        if target_node == source_node {
            return Err(Failure::invalid(
                "target_node",
                target_node.as_str(),
                "must differ from source_node",
            ));
        }
        let target = self.nodes()?.into_iter().find(|v| v.id() == target_node);
        match target {
            None => {
                return Err(Failure::invalid(
                    "target_node",
                    target_node.as_str(),
                    "is not a registered node",
                ));
            }
            Some(view) if !view.schedulable() => {
                return Err(Failure::invalid(
                    "target_node",
                    target_node.as_str(),
                    "is not active",
                ));
            }
            Some(_) => {}
        }
        self.start_migration(caller, portfolio_id, source_node, target_node)?;
        Ok(json!({
            "success": true,
            "portfolio_id": portfolio_id,
            "status": "migrating",
            "source_node": source_node,
            "target_node": target_node,
            "estimated_time": self.migration_seconds,
        }))
    }

    /// Marks a portfolio migrating, once it is on `source` and not busy, and sends the
    /// command.
    pub fn start_migration(
        &self,
        caller: &Caller,
        portfolio_id: &str,
        source: &str,
        target: &str,
    ) -> Result<(), Failure> {
        let mut idle = unless_busy(portfolio_id);
        self.set_status(portfolio_id, "migrating", |state| {
            if state.node_id.as_deref() != Some(source) {
                return Err(Failure::invalid(
                    "source_node",
                    source,
                    &match &state.node_id {
                        Some(node) => format!("does not run the portfolio (node {node} does)"),
                        None => "does not run the portfolio (no node does yet)".to_owned(),
                    },
                ));
            }
            idle(state)
        })?;
        commands::send(
            &self.names,
            Kind::PortfolioMigrate,
            &caller.subject,
            &[
                ("portfolio_id", portfolio_id),
                ("source_node", source),
                ("target_node", target),
            ],
        )?;
        Ok(())
    }
}
