//! `--follow`: a live progress bar for one operation, woken by LISTEN on ktrdr_progress (progress
//! from heartbeats, and the end of the operation) and refreshed every second anyway; returns when the
//! operation ends, with its outcome as the result.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use ktrdr::{
    notify::{self, Wakeup},
    operations::{self, Operation, Status},
};
use sqlx::PgPool;

pub async fn follow(pool: &PgPool, operation_id: &str) -> anyhow::Result<Operation> {
    let (mut wakeups, listener) = notify::spawn_listener(pool.clone(), &[notify::PROGRESS]);
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:40}] {percent:>3}% {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let finished = loop {
        let op = operations::get(pool, operation_id).await?;
        bar.set_position((op.progress_percent * 10.0) as u64);
        let status = op.status;
        let detail = op.progress_message.clone().unwrap_or_default();
        bar.set_message(format!("{status} {detail}"));
        if status.is_terminal() {
            break op;
        }
        let wait = async {
            while let Some(wakeup) = wakeups.recv().await {
                if matches!(&wakeup, Wakeup::Progress(id) if id == operation_id) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), wait).await;
    };
    listener.abort();
    bar.finish();
    match finished.status {
        Status::Completed => Ok(finished),
        status => anyhow::bail!(
            "{operation_id} ended {status}: {}",
            finished.error_message.as_deref().unwrap_or("no message")
        ),
    }
}
