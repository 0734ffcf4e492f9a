//! `GET /api/v1/operations/{id}/progress`: `--follow` over HTTP, as server-sent events. Each change
//! of the operation's status or progress is one `progress` event; when the operation ends, one
//! `end` event carries the whole operation and the stream closes. Milestones — a training's epochs —
//! are kept by the worker (`ktrdr.operation_progress`), and the stream sends every one in order,
//! from the first, however late it connects and however close together they came; other progress
//! is sent as last read. Woken by LISTEN on `ktrdr_progress` (one listener per server, fanned out to
//! the streams) and, because notifications can be lost and a listener can hang, re-read every
//! [`POLL`] anyway. A stream also closes when the server shuts down.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    extract::{Path, State},
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, stream};
use ktrdr::operations::{self, Operation, ProgressRecord, Status};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

use super::{
    AppState,
    envelope::{ApiError, ErrorEnvelope},
    validate,
    views::{ApiStatus, OperationView},
};

/// How often a stream re-reads its operation without a notification.
const POLL: Duration = Duration::from_secs(1);

/// Kept milestones read at a time; a stream with more to send reads on without waiting.
const MILESTONES_PER_READ: i64 = 500;

/// The payload of a `progress` event.
#[derive(Debug, PartialEq, Serialize, ToSchema)]
pub struct ProgressEvent {
    pub operation_id: String,
    pub status: ApiStatus,
    pub attempt: i32,
    pub worker_id: Option<String>,
    pub progress_percent: f32,
    pub progress_message: Option<String>,
    /// The job's structured progress (epoch and losses, bar and equity, step).
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
}

impl From<&Operation> for ProgressEvent {
    fn from(op: &Operation) -> Self {
        Self {
            operation_id: op.operation_id.clone(),
            status: op.status.into(),
            attempt: op.attempt,
            worker_id: op.worker_id.clone(),
            progress_percent: op.progress_percent,
            progress_message: op.progress_message.clone(),
            progress: op.progress.clone(),
        }
    }
}

impl ProgressEvent {
    /// A kept milestone of `op`, recorded while it ran.
    fn milestone(op: &Operation, record: ProgressRecord) -> Self {
        Self {
            operation_id: op.operation_id.clone(),
            status: Status::Running.into(),
            attempt: record.attempt,
            worker_id: op.worker_id.clone(),
            progress_percent: record.progress_percent,
            progress_message: record.progress_message,
            progress: record.progress,
        }
    }
}

struct Follow {
    state: AppState,
    operation_id: String,
    wakeups: broadcast::Receiver<String>,
    shutdown: watch::Receiver<bool>,
    /// Milestones read, not yet sent.
    milestones: VecDeque<ProgressEvent>,
    /// The last milestone read.
    milestone_seq: i64,
    /// More milestones than one read holds are waiting: read on before sending the operation.
    behind: bool,
    /// The operation as last read, not yet sent.
    fresh: Option<Operation>,
    last_sent: Option<ProgressEvent>,
    ended: bool,
}

#[utoipa::path(get, path = "/api/v1/operations/{operation_id}/progress", tag = "operations",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    responses(
        (status = 200, description = "Server-sent events: `progress` (a ProgressEvent) at each change, then `end` (the operation) when it ends", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    validate::id("operation_id", &id)?;
    // Subscribed before the first read: a change after it wakes the stream.
    let wakeups = state.progress.subscribe();
    let mut follow = Follow {
        shutdown: state.shutdown.clone(),
        state,
        operation_id: id,
        wakeups,
        milestones: VecDeque::new(),
        milestone_seq: 0,
        behind: false,
        fresh: None,
        last_sent: None,
        ended: false,
    };
    follow.read().await?;
    Ok(Sse::new(stream::unfold(follow, next_event)).keep_alive(KeepAlive::default()))
}

/// The next event of the stream, or its end.
async fn next_event(mut follow: Follow) -> Option<(Result<Event, Infallible>, Follow)> {
    loop {
        if follow.ended || *follow.shutdown.borrow() {
            return None;
        }
        if let Some(event) = follow.milestones.pop_front() {
            if let Some(sent) = follow.send(event) {
                return Some((Ok(sent), follow));
            }
            continue;
        }
        if let Some(op) = follow.fresh.take() {
            if op.status.is_terminal() {
                follow.ended = true;
                return Some((Ok(json_event("end", &OperationView::from(op))), follow));
            }
            if let Some(sent) = follow.send(ProgressEvent::from(&op)) {
                return Some((Ok(sent), follow));
            }
        }
        if !follow.behind {
            follow.wait().await;
        }
        match follow.read().await {
            Ok(()) => {}
            Err(err) if err.is_transient() => {
                // The database is away: keep the stream, try again at the next poll.
                tracing::warn!("progress stream: {err}");
            }
            Err(err) => {
                follow.ended = true;
                let error = ApiError::from(err).message().to_string();
                return Some((Ok(json_event("error", &error)), follow));
            }
        }
    }
}

impl Follow {
    /// Reads the milestones kept since the last read, then the operation (in this order, so that
    /// the operation is never older than the milestones before it).
    async fn read(&mut self) -> ktrdr::Result<()> {
        let pool = &self.state.pool;
        let records = operations::progress_since(
            pool,
            &self.operation_id,
            self.milestone_seq,
            MILESTONES_PER_READ,
        )
        .await?;
        let op = operations::get(pool, &self.operation_id).await?;
        self.behind = records.len() as i64 == MILESTONES_PER_READ;
        if let Some(last) = records.last() {
            self.milestone_seq = last.seq;
        }
        self.milestones.extend(
            records
                .into_iter()
                .map(|r| ProgressEvent::milestone(&op, r)),
        );
        // Sent once the milestones before it are: it may already be the last of them.
        self.fresh = (!self.behind).then_some(op);
        Ok(())
    }

    /// `event` as a `progress` event, unless it repeats the last one sent.
    fn send(&mut self, event: ProgressEvent) -> Option<Event> {
        if self.last_sent.as_ref() == Some(&event) {
            return None;
        }
        let sent = json_event("progress", &event);
        self.last_sent = Some(event);
        Some(sent)
    }

    /// Until a notification names this operation (or the listener reconnected, or fell behind),
    /// the poll interval passed, or the server shuts down.
    async fn wait(&mut self) {
        let id = &self.operation_id;
        let woken = async {
            loop {
                match self.wakeups.recv().await {
                    Ok(woke) if woke == *id || woke.is_empty() => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(POLL, woken) => {}
            _ = self.shutdown.changed() => {}
        }
    }
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event("error").data("unserializable event"))
}
