//! Building principals in authenticators.

use crate::{Principal, Quota};

impl Principal {
    /// A principal with this subject and nothing else.
    ///
    /// ```
    /// let p = archway_sdk::Principal::subject("alice").with_permissions(&["user.read"]);
    /// assert_eq!(p.permissions, vec!["user.read".to_owned()]);
    /// ```
    pub fn subject(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            tenant: None,
            roles: Vec::new(),
            permissions: Vec::new(),
            claims: "{}".to_owned(),
            quotas: Vec::new(),
        }
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Adds roles.
    pub fn with_roles(mut self, roles: &[&str]) -> Self {
        self.roles.extend(roles.iter().map(|r| (*r).to_owned()));
        self
    }

    /// Adds permissions.
    pub fn with_permissions(mut self, permissions: &[&str]) -> Self {
        self.permissions
            .extend(permissions.iter().map(|p| (*p).to_owned()));
        self
    }

    /// Adds a budget of `limit` requests per `window_seconds` under `key`, enforced by the
    /// host on every node (`Principal::subject("k1").with_quota("key:k1", 100, 60)`).
    pub fn with_quota(mut self, key: impl Into<String>, limit: u32, window_seconds: u32) -> Self {
        self.quotas.push(Quota {
            key: key.into(),
            limit,
            window_seconds,
        });
        self
    }
}
