//! The Archway proxy: listeners (plain or TLS), router, the request pipeline, the upstream
//! client (plain, TLS and mutual TLS, with its own DNS cache), the plugins' calls to
//! services, the response cache and response compression.
//!
//! [`Snapshot::build`] turns a config, the admin-managed records and the loaded plugins
//! into a routing snapshot;
//! [`Proxy`] serves the current snapshot and swaps it whole on reload. The order of work
//! on a request is in [`pipeline`], and nowhere else.
#![deny(missing_docs)]

mod admin_docs;
mod admit;
mod balance;
mod body;
mod breaker;
mod bulkhead;
mod cache;
mod client;
mod client_ip;
mod compress;
mod connection;
mod cors;
pub mod error;
mod forward;
mod framing;
mod health;
mod jwks;
mod limit;
mod listener;
mod metrics;
mod metrics_endpoint;
mod otlp;
mod path;
mod pem;
pub mod pipeline;
mod pool;
mod resolve;
mod retry;
mod route;
mod router;
mod server;
mod service;
mod service_calls;
mod snapshot;
mod status;
mod tenants;
mod timed_io;
pub mod timestamp;
mod tls;
mod tls_listener;
mod trace;
mod traffic;
mod tunnel;
mod upstream;
mod upstreams;
mod version;

pub use archway_config::Managed;
pub use body::{BodyError, Handoff, ProxyBody, Relayed};
pub use client::Clients;
pub use client_ip::Peer;
pub use error::GatewayError;
pub use jwks::JwksClient;
pub use metrics::CountedBody;
pub use pem::TlsError;
pub use route::RouteError;
pub use server::{Proxy, RenderMetrics};
pub use service::ServiceError;
pub use service_calls::ServiceDirectory;
pub use snapshot::{Plugins, RoleGrants, Snapshot, SnapshotError};
pub use tls_listener::{CertificateSet, Certificates};
pub use traffic::{Totals, TrafficLog, spawn_flusher as spawn_traffic_flusher};
pub use upstream::UpstreamError;
pub use upstreams::Upstreams;
