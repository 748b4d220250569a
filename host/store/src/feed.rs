//! The change feed: every handle of a store hears about config changes published by any
//! node (over Redis pub/sub, or in-process for the embedded store).

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events a subscriber may fall behind by before it is told it missed some.
const CAPACITY: usize = 1024;

/// A config change announced to every node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The config version after the change; see
    /// [`Store::publish_config_change`](crate::Store::publish_config_change).
    pub version: i64,
    /// What changed, such as `routes` or `plugins`.
    pub topic: String,
}

/// What a [`ChangeFeed`] yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedEvent {
    /// A change another (or this) handle published.
    Change(Change),
    /// Changes may have been missed (the subscriber fell behind, or the connection to
    /// Redis was lost and has been re-established): reload everything.
    Missed,
}

/// A subscription to a store's change feed.
#[derive(Debug)]
pub struct ChangeFeed {
    events: broadcast::Receiver<FeedEvent>,
}

impl ChangeFeed {
    /// Waits for the next event; `None` once every handle of the store has been dropped.
    pub async fn recv(&mut self) -> Option<FeedEvent> {
        match self.events.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(FeedEvent::Missed),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Takes the events already waiting, so that a subscriber that reloads everything
    /// on any event handles a burst once.
    pub fn take_pending(&mut self) -> Vec<FeedEvent> {
        let mut pending = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(event) => pending.push(event),
                Err(broadcast::error::TryRecvError::Lagged(_)) => pending.push(FeedEvent::Missed),
                Err(_) => return pending,
            }
        }
    }
}

/// The sending side every backend fans its events out through.
pub(crate) fn channel() -> broadcast::Sender<FeedEvent> {
    broadcast::Sender::new(CAPACITY)
}

/// A new subscription to `events`.
pub(crate) fn subscribe(events: &broadcast::Sender<FeedEvent>) -> ChangeFeed {
    ChangeFeed {
        events: events.subscribe(),
    }
}
