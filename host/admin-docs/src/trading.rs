//! The shapes of the trading-control API's requests and answers, as the trading contract
//! and the trading-control plugin's README define them, under the `Trading` prefix.

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::ToSchema;

/// Every error: the contract's format, with the field at fault for `INVALID_PARAMETER`.
#[derive(ToSchema)]
#[schema(as = TradingError)]
pub struct Error {
    /// Always true.
    pub error: bool,
    /// `INVALID_PARAMETER`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, `METHOD_NOT_ALLOWED`,
    /// `CONFLICT`, `RATE_LIMITED`, `REDIS_ERROR`, `INTERNAL_ERROR`, ...
    #[schema(example = "INVALID_PARAMETER")]
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// `{"field", "value"}` for `INVALID_PARAMETER`; the subject otherwise.
    pub details: Value,
    /// When, RFC 3339 UTC.
    #[schema(example = "2026-01-04T10:00:00Z")]
    pub timestamp: String,
}

/// The broker an engine trades through.
#[derive(ToSchema)]
#[schema(as = TradingBrokerType, rename_all = "snake_case")]
pub enum BrokerType {
    /// Simulated fills (the default).
    Simulation,
    /// A real broker.
    RealBroker,
}

/// An engine's config.
#[derive(ToSchema)]
#[schema(as = TradingEngineConfig)]
pub struct EngineConfig {
    /// Default `simulation`.
    pub broker_type: Option<BrokerType>,
    /// The broker's own settings.
    pub broker_config: Option<BTreeMap<String, Value>>,
}

/// `POST /api/engine/live/start`.
#[derive(ToSchema)]
#[schema(as = TradingStartEngine)]
pub struct StartEngine {
    /// 1-64 letters, digits, `_`, `-`, `.`.
    #[schema(example = "live_engine_001")]
    pub engine_id: String,
    /// Its config.
    pub config: Option<EngineConfig>,
}

/// `POST /api/engine/live/stop`.
#[derive(ToSchema)]
#[schema(as = TradingStopEngine)]
pub struct StopEngine {
    /// The engine.
    pub engine_id: String,
}

/// A start or stop command, sent.
#[derive(ToSchema)]
#[schema(as = TradingEngineCommand)]
pub struct EngineCommand {
    /// True.
    pub success: bool,
    /// The engine.
    pub engine_id: String,
    /// `starting` or `stopping` (or its status, when it already was).
    pub status: String,
    /// What happened.
    pub message: String,
}

/// An engine as it reports.
#[derive(ToSchema)]
#[schema(as = TradingEngineStatus)]
pub struct EngineStatus {
    /// The engine.
    pub engine_id: String,
    /// `starting`, `running`, `stopping`, `stopped` or `error`.
    pub status: String,
    /// Portfolios it runs.
    pub portfolio_count: u64,
    /// Seconds running.
    pub uptime: u64,
    /// Its last heartbeat, RFC 3339.
    pub last_heartbeat: Option<String>,
}

/// A strategy, risk management or sizer: a name, parameters and its id field
/// (`strategy_id`, `risk_id`, `sizer_id`).
#[derive(ToSchema)]
#[schema(as = TradingComponent)]
pub struct Component {
    /// 1-100 characters.
    pub name: String,
    /// Its parameters.
    pub params: Option<BTreeMap<String, Value>>,
}

/// What a portfolio trades with.
#[derive(ToSchema)]
#[schema(as = TradingPortfolioConfig)]
pub struct PortfolioConfig {
    /// Required.
    pub strategy: Component,
    /// Optional.
    pub risk_managements: Option<Vec<Component>>,
    /// Optional.
    pub sizer: Option<Component>,
}

/// `POST /api/portfolio`.
#[derive(ToSchema)]
#[schema(as = TradingCreatePortfolio)]
pub struct CreatePortfolio {
    /// 1-100 characters.
    pub name: String,
    /// Default: the caller; another user needs `trading.admin`.
    pub user_id: Option<String>,
    /// Positive.
    #[schema(example = 100000.0)]
    pub initial_cash: f64,
    /// Strategy, risk managements and sizer.
    pub config: PortfolioConfig,
}

/// `PUT /api/portfolio/{portfolio_id}`: parts of the config sent replace theirs.
#[derive(ToSchema)]
#[schema(as = TradingUpdatePortfolio)]
pub struct UpdatePortfolio {
    /// A new name.
    pub name: Option<String>,
    /// Config parts to replace.
    pub config: Option<BTreeMap<String, Value>>,
}

/// A portfolio created, deleted or reloading.
#[derive(ToSchema)]
#[schema(as = TradingPortfolioCommand)]
pub struct PortfolioCommand {
    /// True.
    pub success: bool,
    /// The portfolio.
    pub portfolio_id: String,
    /// `created`, `reloading` or `deleting`.
    pub status: String,
    /// When it was changed (updates only), RFC 3339.
    pub updated_at: Option<String>,
    /// What happened.
    pub message: String,
}

/// A portfolio's status.
#[derive(ToSchema)]
#[schema(as = TradingPortfolioStatus)]
pub struct PortfolioStatus {
    /// The portfolio.
    pub portfolio_id: String,
    /// Its name.
    pub name: String,
    /// Its owner.
    pub user_id: String,
    /// `created`, `running`, `reloading`, `migrating`, `deleting`, `stopped`, `error`.
    pub status: String,
    /// Cash.
    pub cash: f64,
    /// Cash plus positions.
    pub total_value: f64,
    /// Open positions.
    pub position_count: u64,
    /// The node running it.
    pub node_id: Option<String>,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

/// `GET /api/portfolio`.
#[derive(ToSchema)]
#[schema(as = TradingPortfolioPage)]
pub struct PortfolioPage {
    /// The page.
    pub portfolios: Vec<PortfolioStatus>,
    /// Every match.
    pub total_count: u64,
}

/// One position.
#[derive(ToSchema)]
#[schema(as = TradingPosition)]
pub struct Position {
    /// `000001.SZ`.
    pub code: String,
    /// `long` or `short`.
    pub direction: String,
    /// Shares held.
    pub volume: f64,
    /// Shares that may be sold now.
    pub available_volume: f64,
    /// Average cost.
    pub cost_price: f64,
    /// Last price.
    pub current_price: f64,
    /// Volume times price.
    pub market_value: f64,
    /// Profit or loss.
    pub profit_loss: f64,
    /// Profit or loss over cost.
    pub profit_loss_ratio: f64,
}

/// `GET /api/portfolio/{portfolio_id}/positions`.
#[derive(ToSchema)]
#[schema(as = TradingPositions)]
pub struct Positions {
    /// The portfolio.
    pub portfolio_id: String,
    /// The page.
    pub positions: Vec<Position>,
    /// Every match.
    pub total_count: u64,
}

/// One history snapshot.
#[derive(ToSchema)]
#[schema(as = TradingHistoryEntry)]
pub struct HistoryEntry {
    /// When, RFC 3339.
    pub timestamp: String,
    /// Cash.
    pub cash: Option<f64>,
    /// Total value.
    pub total_value: Option<f64>,
    /// The day's profit or loss.
    pub daily_pnl: Option<f64>,
    /// Open positions.
    pub position_count: Option<f64>,
}

/// `GET /api/portfolio/{portfolio_id}/history`.
#[derive(ToSchema)]
#[schema(as = TradingHistory)]
pub struct History {
    /// The portfolio.
    pub portfolio_id: String,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
    /// Every snapshot in the window.
    pub total_count: u64,
}

/// One node's portfolios.
#[derive(ToSchema)]
#[schema(as = TradingNodePlan)]
pub struct NodePlan {
    /// The node.
    pub node_id: String,
    /// Its portfolios.
    pub portfolio_ids: Vec<String>,
    /// How many.
    pub portfolio_count: u64,
}

/// `GET /api/schedule/plan`.
#[derive(ToSchema)]
#[schema(as = TradingPlan)]
pub struct Plan {
    /// By node.
    pub plans: Vec<NodePlan>,
    /// Nodes listed.
    pub total_nodes: u64,
    /// Portfolios placed.
    pub total_portfolios: u64,
}

/// `POST /api/schedule/migrate`.
#[derive(ToSchema)]
#[schema(as = TradingMigrate)]
pub struct Migrate {
    /// The portfolio.
    pub portfolio_id: String,
    /// The node that runs it.
    pub source_node: String,
    /// An active node.
    pub target_node: String,
}

/// A migration started.
#[derive(ToSchema)]
#[schema(as = TradingMigration)]
pub struct Migration {
    /// True.
    pub success: bool,
    /// The portfolio.
    pub portfolio_id: String,
    /// `migrating`.
    pub status: String,
    /// From.
    pub source_node: String,
    /// To.
    pub target_node: String,
    /// Seconds, roughly.
    pub estimated_time: u64,
}

/// An execution node.
#[derive(ToSchema)]
#[schema(as = TradingNode)]
pub struct Node {
    /// The node.
    pub node_id: String,
    /// Its address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `active`, `disabled` or `offline` (no fresh heartbeat).
    pub status: String,
    /// Live portfolios on it.
    pub portfolio_count: u64,
    /// Its last heartbeat, RFC 3339.
    pub last_heartbeat: Option<String>,
}

/// `GET /api/nodes`.
#[derive(ToSchema)]
#[schema(as = TradingNodePage)]
pub struct NodePage {
    /// The page.
    pub nodes: Vec<Node>,
    /// Every node.
    pub total_count: u64,
}

/// A portfolio on a node.
#[derive(ToSchema)]
#[schema(as = TradingNodePortfolio)]
pub struct NodePortfolio {
    /// The portfolio.
    pub portfolio_id: String,
    /// Its status.
    pub status: String,
    /// Instruments it follows.
    pub interest_count: u64,
}

/// `GET /api/nodes/{node_id}`.
#[derive(ToSchema)]
#[schema(as = TradingNodeDetail)]
pub struct NodeDetail {
    /// The node.
    pub node_id: String,
    /// Its address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// `active`, `disabled` or `offline`.
    pub status: String,
    /// Live portfolios on it.
    pub portfolio_count: u64,
    /// Those portfolios.
    pub portfolios: Vec<NodePortfolio>,
    /// Its last heartbeat, RFC 3339.
    pub last_heartbeat: Option<String>,
    /// Seconds since it started.
    pub uptime: u64,
}

/// `POST /api/nodes/{node_id}/disable`.
#[derive(ToSchema)]
#[schema(as = TradingDisableNode)]
pub struct DisableNode {
    /// Why.
    pub reason: Option<String>,
    /// Move its portfolios to other active nodes (default false).
    pub migrate_portfolios: Option<bool>,
}

/// A node disabled.
#[derive(ToSchema)]
#[schema(as = TradingNodeDisabled)]
pub struct NodeDisabled {
    /// True.
    pub success: bool,
    /// The node.
    pub node_id: String,
    /// `disabled`.
    pub status: String,
    /// Whether migrations were sent.
    pub portfolio_migration_started: bool,
    /// What happened.
    pub message: String,
}

/// The `livecore` components' health.
#[derive(ToSchema)]
#[schema(as = TradingLivecore)]
pub struct Livecore {
    /// `healthy`, `unhealthy` or `unknown`.
    pub data: String,
    /// Same.
    pub trade_gateway: String,
    /// Same.
    pub live_engine: String,
    /// Same.
    pub scheduler: String,
}

/// Each component's health.
#[derive(ToSchema)]
#[schema(as = TradingComponents)]
pub struct Components {
    /// The gateway.
    pub api_gateway: String,
    /// The live core.
    pub livecore: Livecore,
    /// From its heartbeat.
    pub kafka: String,
    /// The store.
    pub redis: String,
    /// From its heartbeat.
    pub mysql: String,
    /// From its heartbeat.
    pub clickhouse: String,
}

/// `GET /api/health`: 200 when every component is healthy, else 503.
#[derive(ToSchema)]
#[schema(as = TradingHealth)]
pub struct Health {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// By component.
    pub components: Components,
    /// When, RFC 3339.
    pub timestamp: String,
}

/// One measurement.
#[derive(ToSchema)]
#[schema(as = TradingMetric)]
pub struct Metric {
    /// What measured it.
    pub component: String,
    /// `portfolio.queue_size`.
    pub metric_name: String,
    /// The value.
    pub value: Option<f64>,
    /// When, RFC 3339.
    pub timestamp: String,
}

/// `GET /api/metrics`.
#[derive(ToSchema)]
#[schema(as = TradingMetricPage)]
pub struct MetricPage {
    /// Oldest first.
    pub metrics: Vec<Metric>,
    /// Every match in the window.
    pub total_count: u64,
}

/// One alert.
#[derive(ToSchema)]
#[schema(as = TradingAlert)]
pub struct Alert {
    /// Its id.
    pub alert_id: String,
    /// `queue_full`, ...
    pub alert_type: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// What raised it.
    pub source: String,
    /// For people.
    pub message: String,
    /// More.
    pub details: Value,
    /// When, RFC 3339.
    pub timestamp: String,
}

/// `GET /api/alerts`.
#[derive(ToSchema)]
#[schema(as = TradingAlertPage)]
pub struct AlertPage {
    /// Oldest first.
    pub alerts: Vec<Alert>,
    /// Every match in the window.
    pub total_count: u64,
}
