//! Who may do what: `trading.read` for reads, `trading.write` for engine and portfolio
//! changes, `trading.admin` for scheduling, nodes and other users' portfolios. Each
//! level includes the ones below it.

use archway_sdk::{Principal, Request};

use crate::failure::Failure;

/// A level of access, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Reads.
    Read,
    /// Engine and portfolio changes.
    Write,
    /// Scheduling, nodes, and anyone's portfolios.
    Admin,
}

impl Level {
    /// The permission that grants this level.
    pub fn permission(self) -> &'static str {
        match self {
            Self::Read => "trading.read",
            Self::Write => "trading.write",
            Self::Admin => "trading.admin",
        }
    }
}

/// The caller, once it holds a level of access.
pub struct Caller {
    /// The principal's subject.
    pub subject: String,
    level: Level,
}

impl Caller {
    /// The request's caller, if it holds at least `needed`.
    pub fn of(request: &Request, needed: Level) -> Result<Self, Failure> {
        let principal = request.principal().ok_or_else(Failure::unauthorized)?;
        let level = level(&principal).ok_or_else(|| Failure::forbidden(needed.permission()))?;
        match level >= needed {
            true => Ok(Self {
                subject: principal.subject,
                level,
            }),
            false => Err(Failure::forbidden(needed.permission())),
        }
    }

    /// Whether the caller may act for `user_id` (itself, or as an admin).
    pub fn may_act_for(&self, user_id: &str) -> Result<(), Failure> {
        match self.subject == user_id || self.level == Level::Admin {
            true => Ok(()),
            false => Err(Failure::forbidden(Level::Admin.permission())),
        }
    }
}

/// The highest level the principal's permissions grant.
fn level(principal: &Principal) -> Option<Level> {
    [Level::Admin, Level::Write, Level::Read]
        .into_iter()
        .find(|level| {
            principal
                .permissions
                .iter()
                .any(|p| p == level.permission())
        })
}
