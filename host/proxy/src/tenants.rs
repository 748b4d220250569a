//! Tenants as requests meet them: the tenant a request with no principal claims (by
//! header or host name), each tenant's requests-per-minute budget, and its policy
//! plugins, which run after the route's authorizers on that tenant's requests only and
//! share one cap on calls in flight, so a tenant whose plugin loops or traps holds only
//! its own slots.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use archway_config::{Config, is_tenant_name};
use archway_runtime::{LoadError, Plugin, Role};
use http::{HeaderName, header};
use tokio::sync::Semaphore;

use crate::snapshot::Plugins;

/// The tenants of one snapshot.
#[derive(Debug)]
pub(crate) struct Tenants {
    header: Option<HeaderName>,
    hosts: BTreeMap<String, String>,
    default_rpm: u32,
    rpm: HashMap<String, u32>,
    policies: HashMap<String, Policies>,
}

/// One tenant's policy plugins, in the order they run, and its cap on calls into them.
#[derive(Debug)]
pub(crate) struct Policies {
    /// The plugins, each exporting `authorize`.
    pub(crate) plugins: Vec<Arc<Plugin>>,
    /// One permit per request running them, up to the tenant's `max_concurrent_calls`.
    pub(crate) calls: Semaphore,
    /// Whether one of them reads the request body.
    pub(crate) reads_body: bool,
}

impl Tenants {
    /// The tenants of `config`, with the tenant plugins among `plugins`: the file's in
    /// their order, then uploaded ones by name. Fails when one does not export
    /// `authorize`.
    pub(crate) fn build(config: &Config, plugins: &Plugins) -> Result<Self, LoadError> {
        let declared: Vec<String> = config.tenant_plugins().map(|p| p.name).collect();
        let position = |name: &str| declared.iter().position(|d| d == name);
        let mut owned: Vec<(&str, &Arc<Plugin>)> = plugins
            .values()
            .filter_map(|plugin| Some((plugin.settings().tenant.as_deref()?, plugin)))
            .collect();
        owned.sort_by_key(|(_, plugin)| {
            let name = plugin.name();
            (position(name).unwrap_or(usize::MAX), name.to_owned())
        });
        let mut policies: HashMap<String, Policies> = HashMap::new();
        for (tenant, plugin) in owned {
            plugin.require_role(Role::Authorize)?;
            let entry = policies
                .entry(tenant.to_owned())
                .or_insert_with(|| Policies {
                    plugins: Vec::new(),
                    calls: Semaphore::new(config.tenant_budget(tenant).max_concurrent_calls),
                    reads_body: false,
                });
            entry.reads_body |= plugin.settings().read_body;
            entry.plugins.push(plugin.clone());
        }
        let header =
            config.tenancy.header.as_deref().map(|name| {
                HeaderName::from_bytes(name.as_bytes()).expect("validated header name")
            });
        Ok(Self {
            header,
            hosts: config.tenancy.hosts.clone(),
            default_rpm: config.tenancy.rate_limit_rpm,
            rpm: config
                .tenants
                .iter()
                .map(|tenant| {
                    (
                        tenant.id.clone(),
                        config.tenant_budget(&tenant.id).rate_limit_rpm,
                    )
                })
                .collect(),
            policies,
        })
    }

    /// The tenant a request with no principal claims: its tenant header's, else its
    /// host name's; refused when the header does not hold a tenant id.
    pub(crate) fn claimed(&self, parts: &http::request::Parts) -> Result<Option<String>, String> {
        if let Some(name) = &self.header
            && let Some(value) = parts.headers.get(name)
        {
            return match value.to_str() {
                Ok(tenant) if is_tenant_name(tenant) => Ok(Some(tenant.to_owned())),
                _ => Err(format!("the {name} header does not hold a tenant id")),
            };
        }
        if self.hosts.is_empty() {
            return Ok(None);
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| parts.uri.host())
            .map(|host| host.rsplit_once(':').map_or(host, |(name, _)| name));
        Ok(host.and_then(|host| self.hosts.get(&host.to_ascii_lowercase()).cloned()))
    }

    /// Tenant `tenant`'s requests-per-minute budget over every route (0: unlimited).
    pub(crate) fn rate_limit_rpm(&self, tenant: &str) -> u32 {
        self.rpm.get(tenant).copied().unwrap_or(self.default_rpm)
    }

    /// Tenant `tenant`'s policy plugins, if it has any.
    pub(crate) fn policies(&self, tenant: &str) -> Option<&Policies> {
        self.policies.get(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants() -> Tenants {
        let config = Config::from_toml_str(
            r#"
            [tenancy]
            header = "x-tenant-id"
            hosts = { "acme.example" = "acme" }
            rate_limit_rpm = 100
            [[tenants]]
            id = "globex"
            rate_limit_rpm = 5
            "#,
            std::path::Path::new("."),
        )
        .expect("valid config");
        Tenants::build(&config, &Plugins::new()).expect("no tenant plugins")
    }

    fn claimed(headers: &[(&str, &str)]) -> Result<Option<String>, String> {
        let mut request = http::Request::builder().uri("/orders");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        tenants().claimed(&request.body(()).expect("request").into_parts().0)
    }

    #[test]
    fn a_request_claims_its_tenant_by_header_else_by_host() {
        let header = [("x-tenant-id", "globex"), ("host", "acme.example")];
        assert_eq!(claimed(&header), Ok(Some("globex".to_owned())));
        let host = [("host", "ACME.example:8080")];
        assert_eq!(claimed(&host), Ok(Some("acme".to_owned())));
        assert_eq!(claimed(&[("host", "other.example")]), Ok(None));
        assert_eq!(
            claimed(&[("x-tenant-id", "a/b")]),
            Err("the x-tenant-id header does not hold a tenant id".to_owned())
        );
    }

    #[test]
    fn a_tenant_without_its_own_budget_takes_the_default() {
        let tenants = tenants();
        assert_eq!(tenants.rate_limit_rpm("globex"), 5);
        assert_eq!(tenants.rate_limit_rpm("acme"), 100);
        assert!(tenants.policies("acme").is_none());
    }
}
