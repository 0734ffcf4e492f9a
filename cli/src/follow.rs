//! `--follow`: live progress of one operation, woken by LISTEN on ktrdr_progress (progress from
//! heartbeats, and the end of the operation) and refreshed every second anyway; returns when the
//! operation ends, with its outcome as the result. On a terminal it is a progress bar; otherwise
//! (a log file, CI, a pipe) one plain line on stderr whenever the status, the whole percent or the
//! message changes. Milestones the worker kept (a training's epochs) are shown each, in order — a
//! line above the bar on a terminal —, even those that ended between two reads. While the operation
//! is PENDING and no active worker takes its type, it says so once.

use std::{io::IsTerminal, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};
use ktrdr::{
    notify::{self, Wakeup},
    operations::{self, Operation, ProgressRecord, Status},
    workers,
};
use sqlx::PgPool;

/// Kept milestones read at a time.
const MILESTONES_PER_READ: i64 = 500;

pub async fn follow(pool: &PgPool, operation_id: &str) -> anyhow::Result<Operation> {
    let (mut wakeups, listener) = notify::spawn_listener(pool.clone(), &[notify::PROGRESS]);
    let mut display = Display::new();
    let mut warned_no_taker = false;
    let mut milestone_seq = 0;
    let finished = loop {
        // Milestones first: the operation read after them is never older than they are.
        loop {
            let records =
                operations::progress_since(pool, operation_id, milestone_seq, MILESTONES_PER_READ)
                    .await?;
            let read = records.len() as i64;
            for record in records {
                milestone_seq = record.seq;
                display.milestone(&record);
            }
            if read < MILESTONES_PER_READ {
                break;
            }
        }
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
            Display::Lines { .. } => self.line(op.status, op.progress_percent, detail),
        }
    }

    /// A kept milestone: its own line, also on a terminal (above the bar).
    fn milestone(&mut self, record: &ProgressRecord) {
        let detail = record.progress_message.as_deref().unwrap_or_default();
        match self {
            Display::Bar(bar) => bar.println(format!("{:>3.0}% {detail}", record.progress_percent)),
            Display::Lines { .. } => self.line(Status::Running, record.progress_percent, detail),
        }
    }

    /// One plain line, unless it repeats the last.
    fn line(&mut self, status: Status, percent: f32, detail: &str) {
        if let Display::Lines { last } = self {
            let line = format!("{status} {:>3.0}% {detail}", percent.floor());
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
