//! Example `tick` plugin: a trading backend simulator for the `trading-control` API. It
//! reads the control plane's commands from the shared `commands` stream and plays the
//! live engines and execution nodes behind them: status transitions, heartbeats, node
//! assignment, positions whose prices move, portfolio history, node metrics and the odd
//! alert, all written to the store layout `plugins/trading-control/README.md` documents,
//! as a real backend on a Redis client would. It handles commands with plain JSON
//! values, knowing only that documented layout.

mod market;

use archway_sdk::serde_json::{self, Value, json};
use archway_sdk::{Entry, Plugin, StoreError, Tick, kv, streams};
use serde::Deserialize;

use market::Rng;

/// An execution node the simulator plays.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Its id.
    pub node_id: String,
    /// The address it reports.
    pub host: String,
    /// The port it reports.
    pub port: u16,
}

/// The plugin's `[plugins.config]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The shared namespace trading-control uses.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The execution nodes to play.
    #[serde(default = "default_nodes")]
    pub nodes: Vec<NodeConfig>,
    /// How often history and metrics are recorded, in seconds.
    #[serde(default = "default_record_seconds")]
    pub record_every_seconds: u64,
    /// The chance, per node and record, that a queue alert is raised (0 to 1).
    #[serde(default = "default_alert_chance")]
    pub alert_chance: f64,
    /// Backend components whose heartbeats are not written (to see `/api/health` turn
    /// unhealthy): `kafka`, `livecore/data`, ...
    #[serde(default)]
    pub silent_components: Vec<String>,
}

fn default_namespace() -> String {
    "trading".to_owned()
}

fn default_nodes() -> Vec<NodeConfig> {
    (1..=2)
        .map(|n| NodeConfig {
            node_id: format!("execution_node_00{n}"),
            host: format!("192.168.1.1{}", n - 1),
            port: 8001,
        })
        .collect()
}

fn default_record_seconds() -> u64 {
    5
}

fn default_alert_chance() -> f64 {
    0.05
}

/// The backend components the health report names.
const COMPONENTS: [&str; 7] = [
    "livecore/data",
    "livecore/trade_gateway",
    "livecore/live_engine",
    "livecore/scheduler",
    "kafka",
    "mysql",
    "clickhouse",
];

/// Commands read per tick.
const BATCH: u32 = 100;

/// The simulator.
pub struct Simulator {
    root: String,
    config: Config,
}

impl Plugin for Simulator {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.nodes.is_empty() {
            return Err("config: nodes must name at least one node".to_owned());
        }
        if !(0.0..=1.0).contains(&config.alert_chance) {
            return Err("config: alert_chance must be 0 to 1".to_owned());
        }
        Ok(Self {
            root: format!("shared/{}/", config.namespace),
            config,
        })
    }
}

impl Tick for Simulator {
    fn tick(&self, now_ms: u64) -> Result<(), String> {
        self.step(now_ms).map_err(|e| format!("{e:?}"))
    }
}

impl Simulator {
    fn step(&self, now: u64) -> Result<(), StoreError> {
        self.register_nodes(now)?;
        self.heartbeat(now)?;
        self.run_commands(now)?;
        let mut rng = Rng::new(now);
        let record = self.due(now)?;
        let mut running = 0;
        for (key, state) in kv::scan(&self.name("portfolio-state/"), 10_000)? {
            let Some(id) = key.strip_prefix(&self.name("portfolio-state/")) else {
                continue;
            };
            let Ok(state) = serde_json::from_slice::<Value>(&state) else {
                continue;
            };
            if state["status"] == "running" {
                running += 1;
                self.trade(id, &mut rng, now, record)?;
            }
        }
        self.report_engines(running, now)?;
        if record {
            self.record_nodes(&mut rng)?;
        }
        Ok(())
    }

    fn name(&self, rest: &str) -> String {
        format!("{}{rest}", self.root)
    }

    /// Each node registers once, with the time it started.
    fn register_nodes(&self, now: u64) -> Result<(), StoreError> {
        for node in &self.config.nodes {
            let record = json!({
                "node_id": node.node_id, "host": node.host, "port": node.port,
                "status": "active", "started_at": now,
            });
            kv::compare_and_swap(
                &self.name(&format!("nodes/{}", node.node_id)),
                None,
                record.to_string().as_bytes(),
            )?;
        }
        Ok(())
    }

    /// Heartbeats of every node, running engine and live component.
    fn heartbeat(&self, now: u64) -> Result<(), StoreError> {
        let now_text = now.to_string();
        let beat = |component: &str| {
            kv::set(
                &self.name(&format!("heartbeats/{component}")),
                now_text.as_bytes(),
                None,
            )
        };
        for component in COMPONENTS {
            if !self.config.silent_components.iter().any(|c| c == component) {
                beat(component)?;
            }
        }
        for node in &self.config.nodes {
            beat(&format!("node/{}", node.node_id))?;
        }
        for (key, engine) in kv::scan(&self.name("engines/"), 1000)? {
            let running =
                serde_json::from_slice::<Value>(&engine).is_ok_and(|e| e["status"] == "running");
            if let (true, Some(id)) = (running, key.strip_prefix(&self.name("engines/"))) {
                beat(&format!("engine/{id}"))?;
            }
        }
        Ok(())
    }

    /// Acts on the commands after the last one handled (the cursor is this plugin's own
    /// kv key `cursor`).
    fn run_commands(&self, now: u64) -> Result<(), StoreError> {
        let cursor = kv::get("cursor")?
            .and_then(|c| String::from_utf8(c).ok())
            .unwrap_or_else(|| "0".to_owned());
        for entry in streams::read_after(&self.name("commands"), &cursor, BATCH)? {
            self.run(&entry, now)?;
            kv::set("cursor", entry.id.as_bytes(), None)?;
        }
        Ok(())
    }

    fn run(&self, entry: &Entry, now: u64) -> Result<(), StoreError> {
        let field = |name: &str| {
            entry
                .fields
                .iter()
                .find(|(k, _)| k == name)
                .map_or(String::new(), |(_, v)| v.clone())
        };
        match field("command").as_str() {
            "engine.start" => self.change(&format!("engines/{}", field("engine_id")), |e| {
                e["status"] = json!("running");
                e["started_at"] = json!(now);
                e["updated_at"] = json!(now);
            }),
            "engine.stop" => self.change(&format!("engines/{}", field("engine_id")), |e| {
                e["status"] = json!("stopped");
                e["started_at"] = Value::Null;
                e["updated_at"] = json!(now);
            }),
            "portfolio.create" => {
                let id = field("portfolio_id");
                let cash: f64 = field("initial_cash").parse().unwrap_or(0.0);
                let node = self.least_loaded()?;
                let mut rng = Rng::new(now ^ market::hash(&id));
                let (positions, spent) = market::open_positions(&mut rng, cash);
                kv::set(
                    &self.name(&format!("positions/{id}")),
                    positions.to_string().as_bytes(),
                    None,
                )?;
                let count = positions.as_array().map_or(0, Vec::len);
                self.change(&format!("portfolio-state/{id}"), |s| {
                    s["status"] = json!("running");
                    s["node_id"] = json!(node);
                    s["cash"] = json!(market::cents(cash - spent));
                    s["position_count"] = json!(count);
                    s["interest_count"] = json!(count * 20);
                    s["updated_at"] = json!(now);
                })
            }
            "portfolio.reload" => {
                self.change(&format!("portfolio-state/{}", field("portfolio_id")), |s| {
                    s["status"] = json!("running");
                    s["updated_at"] = json!(now);
                })
            }
            "portfolio.migrate" => {
                let target = field("target_node");
                self.change(&format!("portfolio-state/{}", field("portfolio_id")), |s| {
                    s["status"] = json!("running");
                    s["node_id"] = json!(target);
                    s["updated_at"] = json!(now);
                })
            }
            "portfolio.delete" => {
                let id = field("portfolio_id");
                kv::delete(&self.name(&format!("positions/{id}")))?;
                self.change(&format!("portfolio-state/{id}"), |s| {
                    s["status"] = json!("stopped");
                    s["node_id"] = Value::Null;
                    s["updated_at"] = json!(now);
                })
            }
            _ => Ok(()),
        }
    }

    /// Changes the JSON record at `rest` (if any) by compare-and-swap, retried while the
    /// control plane writes it at the same moment.
    fn change(&self, rest: &str, mut edit: impl FnMut(&mut Value)) -> Result<(), StoreError> {
        let key = self.name(rest);
        for _ in 0..8 {
            let Some(old) = kv::get(&key)? else {
                return Ok(());
            };
            let Ok(mut record) = serde_json::from_slice::<Value>(&old) else {
                return Ok(());
            };
            edit(&mut record);
            if kv::compare_and_swap(&key, Some(&old), record.to_string().as_bytes())? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The active, enabled node with the fewest running portfolios.
    fn least_loaded(&self) -> Result<String, StoreError> {
        let mut load: Vec<(usize, String)> = Vec::new();
        for node in &self.config.nodes {
            if kv::get(&self.name(&format!("disabled-nodes/{}", node.node_id)))?.is_none() {
                load.push((0, node.node_id.clone()));
            }
        }
        for (_, state) in kv::scan(&self.name("portfolio-state/"), 10_000)? {
            let state: Value = serde_json::from_slice(&state).unwrap_or_default();
            if let Some(slot) = load
                .iter_mut()
                .find(|(_, n)| state["node_id"] == n.as_str())
            {
                slot.0 += 1;
            }
        }
        load.sort();
        Ok(load
            .into_iter()
            .next()
            .map_or_else(|| self.config.nodes[0].node_id.clone(), |(_, node)| node))
    }

    /// Whether history and metrics are due now (every `record_every_seconds`).
    fn due(&self, now: u64) -> Result<bool, StoreError> {
        let last: u64 = kv::get("recorded_at")?
            .and_then(|v| String::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0);
        let due = now.saturating_sub(last) >= self.config.record_every_seconds * 1000;
        if due {
            kv::set("recorded_at", now.to_string().as_bytes(), None)?;
        }
        Ok(due)
    }

    /// One market step for a running portfolio: prices move, values follow; on record
    /// ticks a history entry.
    fn trade(&self, id: &str, rng: &mut Rng, now: u64, record: bool) -> Result<(), StoreError> {
        let key = self.name(&format!("positions/{id}"));
        let Some(positions) = kv::get(&key)? else {
            return Ok(());
        };
        let mut positions: Value = serde_json::from_slice(&positions).unwrap_or(json!([]));
        let (value, pnl) = market::move_prices(rng, &mut positions);
        kv::set(&key, positions.to_string().as_bytes(), None)?;
        let mut snapshot = Value::Null;
        self.change(&format!("portfolio-state/{id}"), |s| {
            let cash = s["cash"].as_f64().unwrap_or(0.0);
            s["total_value"] = json!(market::cents(cash + value));
            s["updated_at"] = json!(now);
            snapshot = s.clone();
        })?;
        if record {
            let text = |v: &Value| v.to_string();
            streams::append(
                &self.name(&format!("history/{id}")),
                &[
                    ("cash", &text(&snapshot["cash"])),
                    ("total_value", &text(&snapshot["total_value"])),
                    ("daily_pnl", &market::cents(pnl).to_string()),
                    ("position_count", &text(&snapshot["position_count"])),
                ],
            )?;
        }
        Ok(())
    }

    /// Running engines report how many portfolios they run.
    fn report_engines(&self, running: usize, now: u64) -> Result<(), StoreError> {
        for (key, engine) in kv::scan(&self.name("engines/"), 1000)? {
            let engine: Value = serde_json::from_slice(&engine).unwrap_or_default();
            if engine["status"] == "running" && engine["portfolio_count"] != json!(running) {
                let rest = key.strip_prefix(&self.root).unwrap_or_default().to_owned();
                self.change(&rest, |e| {
                    e["portfolio_count"] = json!(running);
                    e["updated_at"] = json!(now);
                })?;
            }
        }
        Ok(())
    }

    /// Each node's queue metrics, and now and then an alert about a full queue.
    fn record_nodes(&self, rng: &mut Rng) -> Result<(), StoreError> {
        for node in &self.config.nodes {
            let queue = rng.below(1000);
            let millis = 50 + rng.below(200);
            for (metric, value) in [
                ("portfolio.queue_size", queue),
                ("portfolio.processing_time_ms", millis),
            ] {
                streams::append(
                    &self.name("metrics"),
                    &[
                        ("component", &node.node_id),
                        ("metric_name", metric),
                        ("value", &value.to_string()),
                    ],
                )?;
            }
            if rng.chance(self.config.alert_chance) {
                let severity = if queue >= 900 { "critical" } else { "warning" };
                let details = json!({ "queue_size": queue, "queue_max": 1000 });
                streams::append(
                    &self.name("alerts"),
                    &[
                        ("alert_id", &rng.uuid()),
                        ("alert_type", "queue_full"),
                        ("severity", severity),
                        ("source", &node.node_id),
                        (
                            "message",
                            &format!("Node {} queue is {}% full", node.node_id, queue / 10),
                        ),
                        ("details", &details.to_string()),
                    ],
                )?;
            }
        }
        Ok(())
    }
}

archway_sdk::export!(Simulator: tick);

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> Simulator {
        Simulator::from_json(r#"{"record_every_seconds": 1}"#).expect("valid config")
    }

    fn record(key: &str) -> Value {
        let bytes = kv::get(&format!("shared/trading/{key}"))
            .expect("get")
            .expect(key);
        serde_json::from_slice(&bytes).expect("JSON")
    }

    fn put(key: &str, value: &Value) {
        kv::set(
            &format!("shared/trading/{key}"),
            value.to_string().as_bytes(),
            None,
        )
        .expect("set");
    }

    fn command(fields: &[(&str, &str)]) {
        streams::append("shared/trading/commands", fields).expect("append");
    }

    #[test]
    fn commands_move_engines_and_portfolios_and_the_market_moves() {
        put(
            "engines/e1",
            &json!({"engine_id": "e1", "status": "starting"}),
        );
        put(
            "portfolio-state/p1",
            &json!({"status": "created", "cash": 100000.0, "total_value": 100000.0}),
        );
        command(&[("command", "engine.start"), ("engine_id", "e1")]);
        command(&[
            ("command", "portfolio.create"),
            ("portfolio_id", "p1"),
            ("initial_cash", "100000"),
        ]);
        sim().tick(1_000_000).expect("tick");

        assert_eq!(record("engines/e1")["status"], "running");
        assert_eq!(record("engines/e1")["portfolio_count"], 1);
        let state = record("portfolio-state/p1");
        assert_eq!(state["status"], "running");
        assert_eq!(state["node_id"], "execution_node_001");
        assert_eq!(state["position_count"], 3);
        assert_eq!(record("nodes/execution_node_002")["port"], 8001);
        let beat = kv::get("shared/trading/heartbeats/kafka").expect("get");
        assert_eq!(beat.as_deref(), Some(&b"1000000"[..]));
        let history = streams::read_after("shared/trading/history/p1", "0", 10).expect("history");
        assert_eq!(history.len(), 1);

        // The cursor keeps commands from running twice; a migration moves the portfolio.
        command(&[
            ("command", "portfolio.migrate"),
            ("portfolio_id", "p1"),
            ("target_node", "execution_node_002"),
        ]);
        sim().tick(1_000_100).expect("tick");
        assert_eq!(
            record("portfolio-state/p1")["node_id"],
            "execution_node_002"
        );
        let metrics = streams::read_after("shared/trading/metrics", "0", 100).expect("metrics");
        assert_eq!(metrics.len(), 4, "two metrics per node, once a second");
    }
}
