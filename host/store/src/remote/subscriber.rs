//! The Redis side of the change feed: one task per store holds a pub/sub connection to
//! the changes channel, forwards each change to the store's subscribers, and after any
//! loss reconnects, resubscribes and tells subscribers they may have missed changes.

use std::time::Duration;

use futures_util::StreamExt;
use redis::Client;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{broadcast, oneshot};
use tokio::time::timeout;

use super::keys::CHANGES_CHANNEL;
use super::link::RETRY_INTERVAL;
use crate::{Change, FeedEvent};

/// How often an idle subscription checks that its connection is still alive.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Keeps the store subscribed for as long as the task lives. `first_attempt` fires once
/// the first subscription has been confirmed or has failed.
pub(super) async fn run(
    client: Client,
    events: broadcast::Sender<FeedEvent>,
    op_timeout: Duration,
    first_attempt: oneshot::Sender<()>,
) {
    let mut first_attempt = Some(first_attempt);
    let mut missed = false;
    loop {
        let subscribed = timeout(op_timeout, subscribe(&client)).await;
        if let Some(done) = first_attempt.take() {
            // The opener may have stopped waiting; nothing to tell then.
            let _ = done.send(());
        }
        match subscribed {
            Ok(Ok((sink, stream))) => {
                if missed {
                    tracing::info!(channel = CHANGES_CHANNEL, "redis change feed resubscribed");
                    let _ = events.send(FeedEvent::Missed);
                }
                listen(sink, stream, &events, op_timeout).await;
                tracing::warn!(
                    channel = CHANGES_CHANNEL,
                    "redis change feed lost its connection; resubscribing"
                );
            }
            Ok(Err(error)) => tracing::debug!(%error, "redis change feed cannot subscribe yet"),
            Err(_) => tracing::debug!("redis change feed subscription timed out"),
        }
        missed = true;
        tokio::time::sleep(RETRY_INTERVAL).await;
    }
}

async fn subscribe(client: &Client) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANGES_CHANNEL).await?;
    Ok(pubsub.split())
}

/// Forwards changes until the connection ends or stops answering heartbeats.
async fn listen(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    events: &broadcast::Sender<FeedEvent>,
    op_timeout: Duration,
) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return };
                match serde_json::from_slice::<Change>(message.get_payload_bytes()) {
                    // No subscriber right now is fine: nobody has anything to rebuild.
                    Ok(change) => drop(events.send(FeedEvent::Change(change))),
                    Err(error) => tracing::warn!(
                        channel = CHANGES_CHANNEL,
                        %error,
                        "ignoring a malformed change"
                    ),
                }
            }
            _ = heartbeat.tick() => {
                if !matches!(timeout(op_timeout, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}
