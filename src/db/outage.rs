//! One warning per database outage. While PostgreSQL is away every loop of a process fails on its
//! own timer — each attempt's heartbeat, the claim loop, the notification listener, the ticker —
//! and each keeps retrying, which is what heals the process once the server is back. Their
//! failures are reported here: the first one of an outage as a warning (what failed and why), the
//! others at debug level, and the first call that reaches the database again ends the outage with
//! one line saying how long it lasted. Failures in the first seconds after that line (the pool
//! still reconnecting, a server that flaps while it starts) are a relapse of the same outage,
//! logged at debug level only: one outage, one warning — unless the relapse itself lasts longer
//! than those seconds, which makes it an outage of its own.
//!
//! The state is per process (a process talks to one database); it only decides what is logged.

use std::{
    fmt::Display,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How long after an outage ends a failure still counts as part of it.
const RELAPSE_WINDOW: Duration = Duration::from_secs(10);

/// Whether an outage is under way: the one check on the path of every successful call.
static IN_OUTAGE: AtomicBool = AtomicBool::new(false);
/// The outage under way, if any.
static OUTAGE: Mutex<Outage> = Mutex::new(Outage {
    since: None,
    relapse: false,
    ended_at: None,
});

struct Outage {
    /// When the outage under way began.
    since: Option<Instant>,
    /// The outage under way is a relapse of one that was already reported.
    relapse: bool,
    /// When the last reported outage ended.
    ended_at: Option<Instant>,
}

fn outage() -> std::sync::MutexGuard<'static, Outage> {
    OUTAGE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `what` failed with `err`, an error that may heal by itself (see
/// [`Error::is_transient`](crate::Error::is_transient)): a warning when this begins an outage,
/// debug while one lasts.
pub fn failed(what: &str, err: &dyn Display) {
    let mut outage = outage();
    if let Some(since) = outage.since {
        if outage.relapse && since.elapsed() > RELAPSE_WINDOW {
            // Not a hiccup after all: an outage of its own, reported as such.
            outage.relapse = false;
            tracing::warn!("database unreachable ({what}: {err}); retrying until it is back");
        } else {
            tracing::debug!("{what} failed during the database outage: {err}");
        }
        return;
    }
    outage.since = Some(Instant::now());
    outage.relapse = outage
        .ended_at
        .is_some_and(|ended| ended.elapsed() < RELAPSE_WINDOW);
    IN_OUTAGE.store(true, Ordering::Relaxed);
    if outage.relapse {
        tracing::debug!("{what} failed just after the database came back: {err}");
    } else {
        tracing::warn!("database unreachable ({what}: {err}); retrying until it is back");
    }
}

/// A call reached the database: ends the outage under way, if any, with one line.
pub fn reached() {
    if !IN_OUTAGE.load(Ordering::Relaxed) {
        return;
    }
    let mut outage = outage();
    let Some(began) = outage.since.take() else {
        return;
    };
    IN_OUTAGE.store(false, Ordering::Relaxed);
    if outage.relapse {
        tracing::debug!(
            "database reachable again after a relapse of {:.1} s",
            began.elapsed().as_secs_f64()
        );
    } else {
        outage.ended_at = Some(Instant::now());
        tracing::info!(
            "database reachable again after {:.1} s",
            began.elapsed().as_secs_f64()
        );
    }
}
