//! Engine control: start and stop a live engine by command, and its status from what the
//! engine reports.

use archway_sdk::serde_json::{Map, Value, json};
use serde::Deserialize;

use crate::access::Caller;
use crate::commands::{self, Kind};
use crate::failure::Failure;
use crate::schema::Engine;
use crate::{Api, clock, records};

/// `POST /api/engine/live/start`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Start {
    engine_id: String,
    #[serde(default)]
    config: EngineConfig,
}

/// An engine's config: the broker it trades through.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct EngineConfig {
    #[serde(default)]
    broker_type: BrokerType,
    #[serde(default)]
    broker_config: Map<String, Value>,
}

#[derive(Deserialize, Debug, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum BrokerType {
    #[default]
    Simulation,
    RealBroker,
}

impl BrokerType {
    fn name(self) -> &'static str {
        match self {
            Self::Simulation => "simulation",
            Self::RealBroker => "real_broker",
        }
    }
}

/// `POST /api/engine/live/stop`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    engine_id: String,
}

// An engine already `running` (or `stopped`) gets no second command; one still
// `starting` (or `stopping`) gets the command again, so a retry after a command that
// was not sent sends it.

impl Api {
    /// Starts an engine unless it is running.
    pub fn start_engine(&self, caller: &Caller, start: Start) -> Result<Value, Failure> {
        let id = valid_id("engine_id", &start.engine_id)?;
        let config = json!({
            "broker_type": start.config.broker_type.name(),
            "broker_config": start.config.broker_config,
        });
        let key = self.names.engine(id);
        let now = clock::now_ms();
        let starting = Engine {
            engine_id: id.to_owned(),
            status: "starting".to_owned(),
            config: config.clone(),
            updated_at: now,
            started_at: None,
            portfolio_count: 0,
        };
        if !records::create(&key, &starting, "engine")? {
            let mut already = None;
            records::update(&key, "engine", |engine: &mut Engine| {
                already = (engine.status == "running").then(|| engine.status.clone());
                if already.is_none() {
                    engine.status = "starting".to_owned();
                    engine.config = config.clone();
                    engine.updated_at = now;
                }
                Ok(())
            })?;
            if let Some(status) = already {
                return Ok(answer(id, &status, "Engine already started"));
            }
        }
        let config = config.to_string();
        commands::send(
            &self.names,
            Kind::EngineStart,
            &caller.subject,
            &[("engine_id", id), ("config", &config)],
        )?;
        Ok(answer(id, "starting", "Engine start command sent"))
    }

    /// Stops an engine unless it is stopped.
    pub fn stop_engine(&self, caller: &Caller, stop: Stop) -> Result<Value, Failure> {
        let id = valid_id("engine_id", &stop.engine_id)?;
        let mut already = None;
        let key = self.names.engine(id);
        records::update(&key, "engine", |engine: &mut Engine| {
            already = (engine.status == "stopped").then(|| engine.status.clone());
            if already.is_none() {
                engine.status = "stopping".to_owned();
                engine.updated_at = clock::now_ms();
            }
            Ok(())
        })?
        .ok_or_else(|| Failure::not_found("engine", id))?;
        if let Some(status) = already {
            return Ok(answer(id, &status, "Engine already stopped"));
        }
        commands::send(
            &self.names,
            Kind::EngineStop,
            &caller.subject,
            &[("engine_id", id)],
        )?;
        Ok(answer(id, "stopping", "Engine stop command sent"))
    }

    /// `GET /api/engine/live/{engine_id}/status`.
    pub fn engine_status(&self, id: &str) -> Result<Value, Failure> {
        let engine: Engine = records::get(&self.names.engine(id), "engine")?
            .ok_or_else(|| Failure::not_found("engine", id))?;
        let now = clock::now_ms();
        let uptime = match (engine.status.as_str(), engine.started_at) {
            ("running", Some(started)) => now.saturating_sub(started) / 1000,
            _ => 0,
        };
        Ok(json!({
            "engine_id": engine.engine_id,
            "status": engine.status,
            "portfolio_count": engine.portfolio_count,
            "uptime": uptime,
            "last_heartbeat": self.heartbeat(&format!("engine/{id}"))?.map(clock::rfc3339),
        }))
    }
}

fn answer(id: &str, status: &str, message: &str) -> Value {
    json!({ "success": true, "engine_id": id, "status": status, "message": message })
}

/// An id the client chooses: 1 to 64 letters, digits, `_`, `-` or `.`.
pub fn valid_id<'a>(field: &str, id: &'a str) -> Result<&'a str, Failure> {
    let fits = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    match fits {
        true => Ok(id),
        false => Err(Failure::invalid(
            field,
            id,
            "must be 1 to 64 letters, digits, '_', '-' or '.'",
        )),
    }
}
