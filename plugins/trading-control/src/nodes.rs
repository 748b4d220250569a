//! Execution nodes: what each reports of itself, with the gateway's disable mark and
//! heartbeat freshness over it; disabling one, with its portfolios migrated by command.

use std::collections::BTreeMap;

use archway_sdk::serde_json::{Value, json};
use serde::Deserialize;

use crate::access::Caller;
use crate::commands::{self, Kind};
use crate::failure::Failure;
use crate::input::{self, Query};
use crate::portfolios::BUSY;
use crate::schema::{Disabled, Node, PortfolioState};
use crate::{Api, clock, records};

/// `POST /api/nodes/{node_id}/disable`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    migrate_portfolios: bool,
}

/// A node as the API shows it.
pub struct NodeView {
    node: Node,
    status: String,
    last_heartbeat: Option<u64>,
}

impl NodeView {
    /// Whether new portfolios may be scheduled on it.
    pub fn schedulable(&self) -> bool {
        self.status == "active"
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.node.node_id
    }
}

/// The live portfolios on each node, by node id: (portfolio id, state).
pub type Placement = BTreeMap<String, Vec<(String, PortfolioState)>>;

impl Api {
    /// Every registered node, in id order.
    pub fn nodes(&self) -> Result<Vec<NodeView>, Failure> {
        let disabled: BTreeMap<String, Disabled> =
            records::scan::<Disabled>(&self.names.name("disabled-nodes/"), "disabled node")?
                .into_iter()
                .filter_map(|(key, mark)| {
                    Some((self.names.id_in(&key, "disabled-nodes/")?.to_owned(), mark))
                })
                .collect();
        let beats = self.heartbeats("node/")?;
        let now = clock::now_ms();
        Ok(records::scan::<Node>(&self.names.name("nodes/"), "node")?
            .into_iter()
            .map(|(_, node)| {
                let last_heartbeat = beats.get(&node.node_id).copied();
                let status = if disabled.contains_key(&node.node_id) {
                    "disabled".to_owned()
                } else if !self.fresh(last_heartbeat, now) {
                    "offline".to_owned()
                } else {
                    node.status.clone()
                };
                NodeView {
                    node,
                    status,
                    last_heartbeat,
                }
            })
            .collect())
    }

    /// The live portfolios on each node.
    pub fn placement(&self) -> Result<Placement, Failure> {
        let mut states = self.states()?;
        let mut placement = Placement::new();
        for portfolio in self.portfolios()? {
            let Some(state) = states.remove(&portfolio.portfolio_id) else {
                continue;
            };
            if let Some(node) = state.node_id.clone() {
                placement
                    .entry(node)
                    .or_default()
                    .push((portfolio.portfolio_id, state));
            }
        }
        Ok(placement)
    }

    /// `GET /api/nodes` (`limit`, `offset`).
    pub fn list_nodes(&self, query: &Query) -> Result<Value, Failure> {
        let (limit, offset) = (query.limit(100, 1000)?, query.offset()?);
        let placement = self.placement()?;
        let nodes: Vec<Value> = self
            .nodes()?
            .iter()
            .map(|view| summary(view, &placement))
            .collect();
        let total = nodes.len();
        Ok(json!({ "nodes": input::page(nodes, offset, limit), "total_count": total }))
    }

    /// `GET /api/nodes/{node_id}`.
    pub fn node_detail(&self, id: &str) -> Result<Value, Failure> {
        let view = self
            .nodes()?
            .into_iter()
            .find(|view| view.id() == id)
            .ok_or_else(|| Failure::not_found("node", id))?;
        let placement = self.placement()?;
        let mut detail = summary(&view, &placement);
        let portfolios: Vec<Value> = placement
            .get(id)
            .into_iter()
            .flatten()
            .map(|(portfolio_id, state)| {
                json!({
                    "portfolio_id": portfolio_id,
                    "status": state.status,
                    "interest_count": state.interest_count,
                })
            })
            .collect();
        let uptime = match (view.status.as_str(), view.node.started_at) {
            ("active", Some(started)) => clock::now_ms().saturating_sub(started) / 1000,
            _ => 0,
        };
        detail["portfolios"] = json!(portfolios);
        detail["uptime"] = json!(uptime);
        Ok(detail)
    }

    /// Marks a node disabled and, when asked, moves each of its portfolios to the
    /// schedulable node with the fewest.
    pub fn disable_node(
        &self,
        caller: &Caller,
        id: &str,
        disable: Disable,
    ) -> Result<Value, Failure> {
        let nodes = self.nodes()?;
        if !nodes.iter().any(|view| view.id() == id) {
            return Err(Failure::not_found("node", id));
        }
        let mut placement = self.placement()?;
        // Portfolios already migrating or being deleted are left to finish.
        let moving: Vec<_> = placement
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, state)| !BUSY.contains(&state.status.as_str()))
            .collect();
        let mut targets: Vec<(usize, &str)> = nodes
            .iter()
            .filter(|view| view.schedulable() && view.id() != id)
            .map(|view| (placement.get(view.id()).map_or(0, Vec::len), view.id()))
            .collect();
        let migrate = disable.migrate_portfolios && !moving.is_empty();
        if migrate && targets.is_empty() {
            return Err(Failure::invalid(
                "migrate_portfolios",
                true,
                "needs another active node to take the portfolios",
            ));
        }
        let mark = Disabled {
            reason: disable.reason.clone(),
            disabled_at: clock::now_ms(),
            disabled_by: caller.subject.clone(),
        };
        records::put(&self.names.disabled(id), &mark, "disabled node")?;
        let flag = disable.migrate_portfolios.to_string();
        commands::send(
            &self.names,
            Kind::NodeDisable,
            &caller.subject,
            &[
                ("node_id", id),
                ("reason", &disable.reason),
                ("migrate_portfolios", &flag),
            ],
        )?;
        if migrate {
            for (portfolio_id, _) in &moving {
                targets.sort();
                let (load, target) = targets.first_mut().expect("checked: targets exist");
                self.start_migration(caller, portfolio_id, id, target)?;
                *load += 1;
            }
        }
        Ok(json!({
            "success": true,
            "node_id": id,
            "status": "disabled",
            "portfolio_migration_started": migrate,
            "message": match migrate {
                true => "Node disabled, portfolios are being migrated",
                false => "Node disabled",
            },
        }))
    }
}

fn summary(view: &NodeView, placement: &Placement) -> Value {
    json!({
        "node_id": view.node.node_id,
        "host": view.node.host,
        "port": view.node.port,
        "status": view.status,
        "portfolio_count": placement.get(view.id()).map_or(0, Vec::len),
        "last_heartbeat": view.last_heartbeat.map(clock::rfc3339),
    })
}
