//! Portfolios: created, changed and deleted by command (the definition is the gateway's,
//! the running state the backend's); their status, positions and history as the backend
//! reports them.

use archway_sdk::serde_json::{Map, Value, json};
use archway_sdk::streams;
use serde::{Deserialize, Serialize};

use crate::access::Caller;
use crate::commands::{self, Kind};
use crate::failure::Failure;
use crate::input::{self, Query};
use crate::schema::{Portfolio, PortfolioState};
use crate::{Api, clock, records};

/// `POST /api/portfolio`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Create {
    name: String,
    #[serde(default)]
    user_id: Option<String>,
    initial_cash: f64,
    config: Config,
}

/// `PUT /api/portfolio/{id}`: the fields sent change; `config` parts sent replace theirs.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    config: Option<ConfigChange>,
}

/// What a portfolio trades with.
#[derive(Deserialize, Serialize, Debug)]
#[serde(deny_unknown_fields)]
struct Config {
    strategy: Component,
    #[serde(default)]
    risk_managements: Vec<Component>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sizer: Option<Component>,
}

/// Parts of a config to replace.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ConfigChange {
    #[serde(default)]
    strategy: Option<Component>,
    #[serde(default)]
    risk_managements: Option<Vec<Component>>,
    #[serde(default)]
    sizer: Option<Component>,
}

/// A strategy, risk management or sizer: a named component with parameters. Its id
/// field (`strategy_id`, `risk_id`, `sizer_id`) is kept as sent.
#[derive(Deserialize, Serialize, Debug)]
struct Component {
    name: String,
    #[serde(default)]
    params: Map<String, Value>,
    #[serde(flatten)]
    ids: Map<String, Value>,
}

/// Statuses in which a portfolio is between two states and takes no new change.
pub const BUSY: [&str; 2] = ["migrating", "deleting"];
/// The largest `initial_cash` accepted.
const MAX_CASH: f64 = 1e15;

impl Api {
    /// Creates a portfolio for the caller (another user only as an admin) and asks the
    /// backend to run it.
    pub fn create_portfolio(&self, caller: &Caller, create: Create) -> Result<Value, Failure> {
        let name = valid_name(&create.name)?;
        let user_id = create.user_id.unwrap_or_else(|| caller.subject.clone());
        caller.may_act_for(&user_id)?;
        let cash = create.initial_cash;
        if cash.is_nan() || cash <= 0.0 {
            return Err(Failure::invalid("initial_cash", cash, "must be positive"));
        }
        if cash > MAX_CASH {
            return Err(Failure::invalid(
                "initial_cash",
                cash,
                "must be at most 10^15",
            ));
        }
        let config = create.config.checked()?;
        let now = clock::now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let portfolio = Portfolio {
            portfolio_id: id.clone(),
            name: name.to_owned(),
            user_id: user_id.clone(),
            initial_cash: cash,
            config: config.clone(),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let state = PortfolioState {
            status: "created".to_owned(),
            cash,
            total_value: cash,
            position_count: 0,
            node_id: None,
            interest_count: 0,
            updated_at: now,
        };
        records::put(&self.names.portfolio_state(&id), &state, "portfolio state")?;
        records::put(&self.names.portfolio(&id), &portfolio, "portfolio")?;
        let (cash, config) = (cash.to_string(), config.to_string());
        let sent = commands::send(
            &self.names,
            Kind::PortfolioCreate,
            &caller.subject,
            &[
                ("portfolio_id", &id),
                ("user_id", &user_id),
                ("initial_cash", &cash),
                ("config", &config),
            ],
        );
        if sent.is_err() {
            // No backend will run it: not listed, not planned (best effort: the store
            // that refused the command may refuse this too).
            let _ = archway_sdk::kv::delete(&self.names.portfolio(&id));
            let _ = archway_sdk::kv::delete(&self.names.portfolio_state(&id));
        }
        sent?;
        Ok(json!({
            "success": true,
            "portfolio_id": id,
            "status": "created",
            "message": "Portfolio created successfully",
        }))
    }

    /// Changes a portfolio's name or config and starts its graceful reload.
    pub fn update_portfolio(
        &self,
        caller: &Caller,
        id: &str,
        update: Update,
    ) -> Result<Value, Failure> {
        if update.name.is_none() && update.config.is_none() {
            return Err(Failure::invalid(
                "body",
                json!({}),
                "must change name or config",
            ));
        }
        if let Some(name) = &update.name {
            valid_name(name)?;
        }
        let change = update.config.map(ConfigChange::checked).transpose()?;
        let owner = self.portfolio(id)?;
        caller.may_act_for(&owner.user_id)?;
        self.set_status(id, "reloading", unless_busy(id))?;
        let now = clock::now_ms();
        let portfolio = records::update(
            &self.names.portfolio(id),
            "portfolio",
            |p: &mut Portfolio| {
                if let Some(name) = &update.name {
                    p.name.clone_from(name);
                }
                if let Some(change) = &change {
                    change.apply(&mut p.config);
                }
                p.updated_at = now;
                Ok(())
            },
        )?
        .ok_or_else(|| Failure::not_found("portfolio", id))?;
        let config = portfolio.config.to_string();
        commands::send(
            &self.names,
            Kind::PortfolioReload,
            &caller.subject,
            &[("portfolio_id", id), ("config", &config)],
        )?;
        Ok(json!({
            "success": true,
            "portfolio_id": id,
            "status": "reloading",
            "updated_at": clock::rfc3339(now),
            "message": "Portfolio config updated, reload initiated",
        }))
    }

    /// Marks a portfolio deleted and asks the backend to stop it.
    pub fn delete_portfolio(&self, caller: &Caller, id: &str) -> Result<Value, Failure> {
        let owner = self.portfolio(id)?;
        caller.may_act_for(&owner.user_id)?;
        self.set_status(id, "deleting", unless_busy(id))?;
        let now = clock::now_ms();
        records::update(
            &self.names.portfolio(id),
            "portfolio",
            |p: &mut Portfolio| {
                p.deleted_at = Some(now);
                Ok(())
            },
        )?;
        commands::send(
            &self.names,
            Kind::PortfolioDelete,
            &caller.subject,
            &[("portfolio_id", id)],
        )?;
        Ok(json!({
            "success": true,
            "portfolio_id": id,
            "status": "deleting",
            "message": "Portfolio deleted, stop command sent",
        }))
    }

    /// `GET /api/portfolio/{id}/status`.
    pub fn portfolio_status(&self, id: &str) -> Result<Value, Failure> {
        let portfolio = self.portfolio(id)?;
        let state = self.state(id)?;
        Ok(status_view(&portfolio, &state))
    }

    /// `GET /api/portfolio`: live portfolios (`user_id`, `status`, `limit`, `offset`).
    pub fn list_portfolios(&self, query: &Query) -> Result<Value, Failure> {
        let (limit, offset) = (query.limit(100, 1000)?, query.offset()?);
        let (user, status) = (query.get("user_id"), query.get("status"));
        let states = self.states()?;
        let matching: Vec<Value> = self
            .portfolios()?
            .into_iter()
            .filter(|p| user.is_none_or(|u| u == p.user_id))
            .filter_map(|p| {
                let state = states.get(&p.portfolio_id)?;
                status
                    .is_none_or(|s| s == state.status)
                    .then(|| status_view(&p, state))
            })
            .collect();
        let total = matching.len();
        Ok(json!({ "portfolios": input::page(matching, offset, limit), "total_count": total }))
    }

    /// `GET /api/portfolio/{id}/positions` (`code`, `limit`).
    pub fn positions(&self, id: &str, query: &Query) -> Result<Value, Failure> {
        let limit = query.limit(100, 1000)?;
        let offset = query.offset()?;
        self.portfolio(id)?;
        let positions: Vec<Value> =
            records::get(&self.names.positions(id), "positions")?.unwrap_or_default();
        let code = query.get("code");
        let matching: Vec<Value> = positions
            .into_iter()
            .filter(|p| code.is_none_or(|c| p["code"] == c))
            .collect();
        let total = matching.len();
        Ok(json!({
            "portfolio_id": id,
            "positions": input::page(matching, offset, limit),
            "total_count": total,
        }))
    }

    /// `GET /api/portfolio/{id}/history` (`start_date`, `end_date`, `limit`).
    pub fn history(&self, id: &str, query: &Query) -> Result<Value, Failure> {
        let (start, end) = query.days("start_date", "end_date")?;
        let limit = query.limit(1000, 1000)?;
        let offset = query.offset()?;
        self.portfolio(id)?;
        let entries = streams::range(&self.names.history(id), start, end, records::SCAN_LIMIT)
            .map_err(|e| Failure::store("read portfolio history", &e))?;
        let total = entries.len();
        let history: Vec<Value> = input::page(entries, offset, limit)
            .into_iter()
            .map(|entry| {
                let field = |name: &str| number(&entry.fields, name);
                json!({
                    "timestamp": clock::rfc3339(clock::entry_ms(&entry.id)),
                    "cash": field("cash"),
                    "total_value": field("total_value"),
                    "daily_pnl": field("daily_pnl"),
                    "position_count": field("position_count"),
                })
            })
            .collect();
        Ok(json!({ "portfolio_id": id, "history": history, "total_count": total }))
    }

    /// A live portfolio's definition.
    pub fn portfolio(&self, id: &str) -> Result<Portfolio, Failure> {
        records::get::<Portfolio>(&self.names.portfolio(id), "portfolio")?
            .filter(|p| p.deleted_at.is_none())
            .ok_or_else(|| Failure::not_found("portfolio", id))
    }

    /// A portfolio's running state.
    pub fn state(&self, id: &str) -> Result<PortfolioState, Failure> {
        records::get(&self.names.portfolio_state(id), "portfolio state")?
            .ok_or_else(|| Failure::not_found("portfolio", id))
    }

    /// Every live portfolio's definition.
    pub fn portfolios(&self) -> Result<Vec<Portfolio>, Failure> {
        Ok(
            records::scan::<Portfolio>(&self.names.name("portfolios/"), "portfolio")?
                .into_iter()
                .map(|(_, p)| p)
                .filter(|p| p.deleted_at.is_none())
                .collect(),
        )
    }

    /// Every portfolio's running state, by id.
    pub fn states(&self) -> Result<std::collections::BTreeMap<String, PortfolioState>, Failure> {
        let prefix = "portfolio-state/";
        Ok(
            records::scan::<PortfolioState>(&self.names.name(prefix), "portfolio state")?
                .into_iter()
                .filter_map(|(key, state)| {
                    Some((self.names.id_in(&key, prefix)?.to_owned(), state))
                })
                .collect(),
        )
    }

    /// Sets a portfolio's status for a command, once `check` accepts the state it is in
    /// (checked inside the compare-and-swap, against the state replaced).
    pub fn set_status(
        &self,
        id: &str,
        status: &str,
        mut check: impl FnMut(&PortfolioState) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        records::update(
            &self.names.portfolio_state(id),
            "portfolio state",
            |state: &mut PortfolioState| {
                check(state)?;
                state.status = status.to_owned();
                state.updated_at = clock::now_ms();
                Ok(())
            },
        )?
        .map(|_| ())
        .ok_or_else(|| Failure::not_found("portfolio", id))
    }
}

/// A check for [`Api::set_status`]: a portfolio between two states (migrating,
/// deleting) takes no new change.
pub fn unless_busy(id: &str) -> impl FnMut(&PortfolioState) -> Result<(), Failure> + '_ {
    move |state| match BUSY.contains(&state.status.as_str()) {
        true => Err(Failure::conflict(
            &format!("Portfolio is {}; try again when it is done", state.status),
            json!({ "portfolio_id": id, "status": state.status }),
        )),
        false => Ok(()),
    }
}

fn status_view(portfolio: &Portfolio, state: &PortfolioState) -> Value {
    json!({
        "portfolio_id": portfolio.portfolio_id,
        "name": portfolio.name,
        "user_id": portfolio.user_id,
        "status": state.status,
        "cash": state.cash,
        "total_value": state.total_value,
        "position_count": state.position_count,
        "node_id": state.node_id,
        "updated_at": clock::rfc3339(state.updated_at.max(portfolio.updated_at)),
    })
}

/// A stream field as a JSON number (`null` when absent or not a number).
fn number(fields: &[(String, String)], name: &str) -> Value {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse::<f64>().ok())
        .map_or(Value::Null, |n| match n.fract() == 0.0 && n.abs() < 9e15 {
            true => json!(n as i64),
            false => json!(n),
        })
}

fn valid_name(name: &str) -> Result<&str, Failure> {
    match (1..=100).contains(&name.chars().count()) && !name.trim().is_empty() {
        true => Ok(name),
        false => Err(Failure::invalid(
            "name",
            name,
            "must be 1 to 100 characters",
        )),
    }
}

impl Config {
    /// The config as stored, once every component is named.
    fn checked(self) -> Result<Value, Failure> {
        check_parts(
            Some(&self.strategy),
            &self.risk_managements,
            self.sizer.as_ref(),
        )?;
        Ok(archway_sdk::serde_json::to_value(self).expect("a config serialises"))
    }
}

impl ConfigChange {
    fn checked(self) -> Result<Self, Failure> {
        check_parts(
            self.strategy.as_ref(),
            self.risk_managements.as_deref().unwrap_or_default(),
            self.sizer.as_ref(),
        )?;
        Ok(self)
    }

    fn apply(&self, config: &mut Value) {
        let to_value = |c| archway_sdk::serde_json::to_value(c).expect("a component serialises");
        if let Some(strategy) = &self.strategy {
            config["strategy"] = to_value(strategy);
        }
        if let Some(risks) = &self.risk_managements {
            config["risk_managements"] =
                archway_sdk::serde_json::to_value(risks).expect("components serialise");
        }
        if let Some(sizer) = &self.sizer {
            config["sizer"] = to_value(sizer);
        }
    }
}

/// Checks each part of a config that is present.
fn check_parts(
    strategy: Option<&Component>,
    risks: &[Component],
    sizer: Option<&Component>,
) -> Result<(), Failure> {
    if let Some(strategy) = strategy {
        check_component("config.strategy", strategy)?;
    }
    for (i, risk) in risks.iter().enumerate() {
        check_component(&format!("config.risk_managements[{i}]"), risk)?;
    }
    if let Some(sizer) = sizer {
        check_component("config.sizer", sizer)?;
    }
    Ok(())
}

fn check_component(field: &str, component: &Component) -> Result<(), Failure> {
    if !(1..=100).contains(&component.name.chars().count()) {
        return Err(Failure::invalid(
            &format!("{field}.name"),
            component.name.as_str(),
            "must be 1 to 100 characters",
        ));
    }
    for (key, value) in &component.ids {
        if !key.ends_with("_id") || !value.is_string() {
            return Err(Failure::invalid(
                &format!("{field}.{key}"),
                value.clone(),
                "is not a field of a component (name, params, and a string id such as strategy_id)",
            ));
        }
    }
    Ok(())
}
