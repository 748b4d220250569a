//! First-party `handle` plugin: the trading-control REST API of
//! `../shared/contracts/trading-control-api.md`. The gateway is the control plane's
//! front door: it keeps engines, portfolios, node marks and the schedule in the store's
//! shared namespace, sends commands to the backend on the `commands` stream, and shows
//! what engines and execution nodes report back (status, heartbeats, positions, history,
//! metrics, alerts). The README documents that layout for backends on plain Redis.
//!
//! Every call needs a principal with `trading.read` (reads), `trading.write` (engine
//! and portfolio changes) or `trading.admin` (scheduling, nodes, other users'
//! portfolios); answers and errors follow the contract.

mod access;
mod clock;
mod commands;
mod engines;
mod failure;
mod idempotency;
mod input;
mod monitor;
mod nodes;
mod portfolios;
mod records;
mod schedule;
pub mod schema;

use archway_sdk::serde_json::Value;
use archway_sdk::{Deny, Handle, Plugin, Request, Response, path_decode};
use serde::Deserialize;

use access::{Caller, Level};
pub use failure::Failure;
use idempotency::Outcome;
use input::Query;

/// The plugin's `[plugins.config]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The path prefix the route serves (`/api`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The shared namespace the control plane and the backend use; the plugin's `share`
    /// list must join it.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// A component whose last heartbeat is older than this is unhealthy (1-3600).
    #[serde(default = "default_heartbeat_timeout")]
    pub heartbeat_timeout_seconds: u64,
    /// The `estimated_time` a migration answers with, in seconds.
    #[serde(default = "default_migration_seconds")]
    pub migration_estimate_seconds: u64,
}

fn default_prefix() -> String {
    "/api".to_owned()
}

fn default_namespace() -> String {
    "trading".to_owned()
}

fn default_heartbeat_timeout() -> u64 {
    15
}

fn default_migration_seconds() -> u64 {
    30
}

/// The trading-control API.
pub struct Api {
    prefix: String,
    names: schema::Names,
    heartbeat_timeout_ms: u64,
    migration_seconds: u64,
}

impl Plugin for Api {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !config.prefix.starts_with('/') || config.prefix.ends_with('/') {
            return Err("config: prefix must start with / and not end with one".to_owned());
        }
        if config.namespace.is_empty() || config.namespace.contains('/') {
            return Err("config: namespace must be a shared namespace's name".to_owned());
        }
        if !(1..=3600).contains(&config.heartbeat_timeout_seconds) {
            return Err("config: heartbeat_timeout_seconds must be 1 to 3600".to_owned());
        }
        Ok(Self {
            prefix: config.prefix,
            names: schema::Names::new(&config.namespace),
            heartbeat_timeout_ms: config.heartbeat_timeout_seconds * 1000,
            migration_seconds: config.migration_estimate_seconds,
        })
    }
}

impl Handle for Api {
    fn handle(&self, request: &Request) -> Result<Response, Deny> {
        Ok(self
            .answer(request)
            .unwrap_or_else(|failure| failure.response()))
    }
}

/// What a method and path ask for.
enum Endpoint {
    StartEngine,
    StopEngine,
    EngineStatus(String),
    CreatePortfolio,
    ListPortfolios,
    UpdatePortfolio(String),
    DeletePortfolio(String),
    PortfolioStatus(String),
    Positions(String),
    History(String),
    Plan,
    Migrate,
    ListNodes,
    Node(String),
    DisableNode(String),
    Health,
    Metrics,
    Alerts,
}

impl Endpoint {
    /// The endpoint at `segments` for `method`.
    fn find(method: &str, segments: &[String], path: &str) -> Result<Self, Failure> {
        let words: Vec<&str> = segments.iter().map(String::as_str).collect();
        let id = |i: usize| segments[i].clone();
        let found = match (words.as_slice(), method) {
            (["engine", "live", "start"], "POST") => Self::StartEngine,
            (["engine", "live", "stop"], "POST") => Self::StopEngine,
            (["engine", "live", _, "status"], "GET") => Self::EngineStatus(id(2)),
            (["portfolio"], "POST") => Self::CreatePortfolio,
            (["portfolio"], "GET") => Self::ListPortfolios,
            (["portfolio", _], "PUT") => Self::UpdatePortfolio(id(1)),
            (["portfolio", _], "DELETE") => Self::DeletePortfolio(id(1)),
            (["portfolio", _, "status"], "GET") => Self::PortfolioStatus(id(1)),
            (["portfolio", _, "positions"], "GET") => Self::Positions(id(1)),
            (["portfolio", _, "history"], "GET") => Self::History(id(1)),
            (["schedule", "plan"], "GET") => Self::Plan,
            (["schedule", "migrate"], "POST") => Self::Migrate,
            (["nodes"], "GET") => Self::ListNodes,
            (["nodes", _], "GET") => Self::Node(id(1)),
            (["nodes", _, "disable"], "POST") => Self::DisableNode(id(1)),
            (["health"], "GET") => Self::Health,
            (["metrics"], "GET") => Self::Metrics,
            (["alerts"], "GET") => Self::Alerts,
            (
                ["engine", "live", "start" | "stop"]
                | ["engine", "live", _, "status"]
                | ["portfolio"]
                | ["portfolio", _]
                | ["portfolio", _, "status" | "positions" | "history"]
                | ["schedule", "plan" | "migrate"]
                | ["nodes"]
                | ["nodes", _]
                | ["nodes", _, "disable"]
                | ["health" | "metrics" | "alerts"],
                _,
            ) => return Err(Failure::method_not_allowed(method)),
            _ => return Err(Failure::no_endpoint(path)),
        };
        Ok(found)
    }

    /// The access the endpoint needs.
    fn needs(&self) -> Level {
        match self {
            Self::StartEngine
            | Self::StopEngine
            | Self::CreatePortfolio
            | Self::UpdatePortfolio(_)
            | Self::DeletePortfolio(_) => Level::Write,
            Self::Migrate | Self::DisableNode(_) => Level::Admin,
            _ => Level::Read,
        }
    }
}

impl Api {
    fn answer(&self, request: &Request) -> Result<Response, Failure> {
        let path = request.path();
        let segments: Vec<String> = path
            .strip_prefix(&self.prefix)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .ok_or_else(|| Failure::no_endpoint(&path))?
            .split('/')
            .filter(|s| !s.is_empty())
            .map(path_decode)
            .collect();
        let method = request.method();
        let endpoint = Endpoint::find(&method, &segments, &path)?;
        let caller = Caller::of(request, endpoint.needs())?;
        let key = request.header(idempotency::HEADER);
        let claim = match key.filter(|_| method == "POST") {
            Some(key) => {
                let fingerprint = [
                    method.as_bytes(),
                    b" ",
                    path.as_bytes(),
                    b"\n",
                    &request.body().unwrap_or_default(),
                ]
                .concat();
                let store_key = self
                    .names
                    .idempotency(&caller.subject, &idempotency::digest(key.as_bytes()));
                match idempotency::check(store_key, &key, &fingerprint)? {
                    Outcome::Repeat(response) => return Ok(response),
                    Outcome::First(claim) => Some(claim),
                }
            }
            None => None,
        };
        let (status, body) = match self.run(request, &caller, endpoint) {
            Ok(answer) => answer,
            Err(failure) => (failure.status, failure.body()),
        };
        if let Some(claim) = claim {
            claim.keep(status, &body);
        }
        Ok(Response::json(status, &body))
    }

    /// Runs the endpoint: its status and body.
    fn run(
        &self,
        request: &Request,
        caller: &Caller,
        endpoint: Endpoint,
    ) -> Result<(u16, Value), Failure> {
        let query = Query::of(request);
        let ok = |value| Ok((200, value));
        match endpoint {
            Endpoint::StartEngine => ok(self.start_engine(caller, input::body(request)?)?),
            Endpoint::StopEngine => ok(self.stop_engine(caller, input::body(request)?)?),
            Endpoint::EngineStatus(id) => ok(self.engine_status(&id)?),
            Endpoint::CreatePortfolio => {
                Ok((201, self.create_portfolio(caller, input::body(request)?)?))
            }
            Endpoint::ListPortfolios => ok(self.list_portfolios(&query)?),
            Endpoint::UpdatePortfolio(id) => {
                ok(self.update_portfolio(caller, &id, input::body(request)?)?)
            }
            Endpoint::DeletePortfolio(id) => ok(self.delete_portfolio(caller, &id)?),
            Endpoint::PortfolioStatus(id) => ok(self.portfolio_status(&id)?),
            Endpoint::Positions(id) => ok(self.positions(&id, &query)?),
            Endpoint::History(id) => ok(self.history(&id, &query)?),
            Endpoint::Plan => ok(self.plan()?),
            Endpoint::Migrate => ok(self.migrate(caller, input::body(request)?)?),
            Endpoint::ListNodes => ok(self.list_nodes(&query)?),
            Endpoint::Node(id) => ok(self.node_detail(&id)?),
            Endpoint::DisableNode(id) => {
                ok(self.disable_node(caller, &id, input::body(request)?)?)
            }
            Endpoint::Health => Ok(self.health()),
            Endpoint::Metrics => ok(self.metrics(&query)?),
            Endpoint::Alerts => ok(self.alerts(&query)?),
        }
    }
}

archway_sdk::export!(Api: handle);

#[cfg(test)]
mod tests;
