//! Wake-ups by LISTEN/NOTIFY. Notifications carry ids only and can be lost (a reconnect, a half-open
//! socket), so they only make things faster: every loop that listens also polls on a timer.
//!
//! [`spawn_listener`] runs a `PgListener` in its own task and forwards what it hears into a channel;
//! it reconnects with backoff and reports [`Wakeup::Reconnected`] afterwards, because anything sent
//! while it was away is lost and the receiver should look at the table at once.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};
use tokio::{sync::mpsc, task::JoinHandle};

/// Channel announcing operations that became pending (payload: the operation id).
pub const OPERATION_PENDING: &str = "ktrdr_operation_pending";
/// Channel announcing cancel requests for running operations (payload: the operation id).
pub const CANCEL_REQUESTED: &str = "ktrdr_cancel_requested";

/// Channel announcing new progress of an operation, and its end (payload: the operation id).
pub const PROGRESS: &str = "ktrdr_progress";

/// Channel announcing that a child of a research ended, or that a research's cancel was requested
/// (payload: the research id); the ticker's research service advances at once.
pub const RESEARCH: &str = "ktrdr_research";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    OperationPending(String),
    CancelRequested(String),
    Progress(String),
    Research(String),
    /// The listener was (re)connected; notifications sent before may have been lost.
    Reconnected,
}

/// Listens on `channels` until the receiver is dropped.
pub fn spawn_listener(
    pool: PgPool,
    channels: &'static [&'static str],
) -> (mpsc::UnboundedReceiver<Wakeup>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(async move {
        let mut delay = Duration::from_millis(200);
        loop {
            match listen(&pool, channels, &tx).await {
                ListenEnd::ReceiverGone => return,
                ListenEnd::Failed(err) => {
                    let err = crate::Error::from(err);
                    if err.is_transient() {
                        crate::db::outage::failed("notification listener", &err);
                    } else {
                        tracing::warn!(
                            "notification listener failed: {err}; retrying in {delay:?}"
                        );
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    (rx, handle)
}

enum ListenEnd {
    ReceiverGone,
    Failed(sqlx::Error),
}

async fn listen(pool: &PgPool, channels: &[&str], tx: &mpsc::UnboundedSender<Wakeup>) -> ListenEnd {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(err) => return ListenEnd::Failed(err),
    };
    if let Err(err) = listener.listen_all(channels.iter().copied()).await {
        return ListenEnd::Failed(err);
    }
    crate::db::outage::reached();
    loop {
        if tx.send(Wakeup::Reconnected).is_err() {
            return ListenEnd::ReceiverGone;
        }
        // try_recv answers None when the connection dropped; the next call reconnects and
        // re-subscribes, after which we announce Reconnected again.
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let id = notification.payload().to_string();
                    let wakeup = match notification.channel() {
                        CANCEL_REQUESTED => Wakeup::CancelRequested(id),
                        PROGRESS => Wakeup::Progress(id),
                        RESEARCH => Wakeup::Research(id),
                        _ => Wakeup::OperationPending(id),
                    };
                    if tx.send(wakeup).is_err() {
                        return ListenEnd::ReceiverGone;
                    }
                }
                Ok(None) => break,
                Err(err) => return ListenEnd::Failed(err),
            }
        }
    }
}
