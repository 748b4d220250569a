//! The `[admin_docs]` endpoints: the admin API's OpenAPI document and Swagger UI, answered
//! before routing and without credentials (they describe, they do not act), when a route
//! serves the builtin `admin` plugin, on the listener that serves it; the document's
//! paths use that plugin's prefix, and describe the builtin `trading-control` plugin's
//! API too when a route serves it.

use archway_config::{Config, PluginSource};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};

use crate::body::{ProxyBody, full};

/// The plugin whose API the document describes, and its mount point when its config
/// names none.
const ADMIN: (&str, &str) = ("admin", "/admin");
/// The trading-control plugin, described too when served, and its default mount point.
const TRADING: (&str, &str) = ("trading-control", "/api");

/// The answer to `request`, when it asks for the document or a Swagger UI file on the
/// listener the admin API is on (the admin listener, when `on_admin_listener`).
pub(crate) fn answer<B>(
    config: &Config,
    request: &http::Request<B>,
    on_admin_listener: bool,
) -> Option<http::Response<ProxyBody>> {
    let docs = &config.admin_docs;
    let admin_here = config.server.admin_listen.is_some() == on_admin_listener;
    if !docs.enabled || request.method() != Method::GET || !admin_here {
        return None;
    }
    let path = request.uri().path();
    let ui = path.strip_prefix(docs.swagger_ui_path.as_str());
    if path != docs.openapi_path && ui.is_none() {
        return None;
    }
    let prefix = mounted(config, ADMIN)?;
    match ui {
        None => {
            let trading = mounted(config, TRADING);
            let document = archway_admin_docs::openapi_json(&archway_admin_docs::Mounts {
                admin: &prefix,
                trading: trading.as_deref(),
                health: &config.health.path,
                metrics: &config.metrics.path,
            });
            Some(respond(StatusCode::OK, "application/json", document.into()))
        }
        Some("") => {
            let mut moved = respond(StatusCode::MOVED_PERMANENTLY, "text/plain", Bytes::new());
            let location = format!("{}/", docs.swagger_ui_path);
            moved.headers_mut().insert(
                header::LOCATION,
                HeaderValue::try_from(location).expect("a configured path is a header value"),
            );
            Some(moved)
        }
        Some(rest) => {
            let tail = rest.strip_prefix('/')?;
            Some(
                match archway_admin_docs::swagger_file(tail, &docs.openapi_path) {
                    Some(file) => respond(StatusCode::OK, &file.content_type, file.bytes.into()),
                    None => respond(
                        StatusCode::NOT_FOUND,
                        "text/plain",
                        Bytes::from_static(b"not found"),
                    ),
                },
            )
        }
    }
}

/// Where a builtin handler (its name and default prefix) is mounted, when a route
/// serves it.
fn mounted(config: &Config, (builtin, default): (&str, &str)) -> Option<String> {
    let plugin = config.plugins.iter().find(|plugin| {
        plugin.source == PluginSource::Builtin(builtin.to_owned())
            && config
                .routes
                .iter()
                .any(|route| route.handler.as_deref() == Some(plugin.name.as_str()))
    })?;
    let prefix = plugin
        .config
        .get("prefix")
        .and_then(|prefix| prefix.as_str())
        .unwrap_or(default);
    Some(prefix.to_owned())
}

fn respond(status: StatusCode, content_type: &str, body: Bytes) -> http::Response<ProxyBody> {
    let mut response = http::Response::new(full(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::try_from(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
