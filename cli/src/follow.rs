//! `--follow`: live progress of one operation, woken by LISTEN on ktrdr_progress (progress from
//! heartbeats, and the end of the operation) and refreshed every second anyway; returns when the
//! operation ends, with its outcome as the result. On a terminal it is a progress bar; otherwise
//! (a log file, CI, a pipe) one plain line on stderr whenever the status, the whole percent or the
//! message changes. While the operation is PENDING and no active worker takes its type, it says so
//! once.

use std::{io::IsTerminal, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};
use ktrdr::{
    notify::{self, Wakeup},
    operations::{self, Operation, Status},
    workers,
};
use sqlx::PgPool;

pub async fn follow(pool: &PgPool, operation_id: &str) -> anyhow::Result<Operation> {
    let (mut wakeups, listener) = notify::spawn_listener(pool.clone(), &[notify::PROGRESS]);
    let mut display = Display::new();
    let mut warned_no_taker = false;
    let finished = loop {
        let op = operations::get(pool, operation_id).await?;
        display.show(&op);
        if op.status.is_terminal() {
            break op;
        }
        if op.status == Status::Pending
            && !warned_no_taker
            && workers::active_takers(pool, &op.operation_type).await? == 0
        {
            display.warn(&workers::no_taker_warning(&op.operation_type));
            warned_no_taker = true;
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
    display.finish();
    match finished.status {
        Status::Completed => Ok(finished),
        status => anyhow::bail!(
            "{operation_id} ended {status}: {}",
            finished.error_message.as_deref().unwrap_or("no message")
        ),
    }
}

/// Where progress goes: a bar on a terminal, plain lines elsewhere.
enum Display {
    Bar(ProgressBar),
    Lines { last: Option<String> },
}

impl Display {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Display::Lines { last: None };
        }
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:40}] {percent:>3}% {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Display::Bar(bar)
    }

    fn show(&mut self, op: &Operation) {
        let detail = op.progress_message.as_deref().unwrap_or_default();
        match self {
            Display::Bar(bar) => {
                bar.set_position((op.progress_percent * 10.0) as u64);
                bar.set_message(format!("{} {detail}", op.status));
            }
            Display::Lines { last } => {
                let line = format!(
                    "{} {:>3.0}% {detail}",
                    op.status,
                    op.progress_percent.floor()
                );
                if last.as_deref() != Some(line.as_str()) {
                    eprintln!(
                        "{} {}",
                        chrono::Utc::now().format("%H:%M:%S"),
                        line.trim_end()
                    );
                    *last = Some(line);
                }
            }
        }
    }

    fn warn(&self, message: &str) {
        match self {
            Display::Bar(bar) => bar.println(format!("warning: {message}")),
            Display::Lines { .. } => eprintln!("warning: {message}"),
        }
    }

    fn finish(&self) {
        if let Display::Bar(bar) = self {
            bar.finish();
        }
    }
}
