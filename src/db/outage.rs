//! One warning per database outage. While PostgreSQL is away every loop of a process fails on its
//! own timer — each attempt's heartbeat, the claim loop, the notification listener, the ticker —
//! and each keeps retrying, which is what heals the process once the server is back. Their
//! failures are reported here: the first one of an outage as a warning (what failed and why), the
//! others at debug level, and the first call that reaches the database again ends the outage with
//! one line saying how long it lasted.
//!
//! The state is per process (a process talks to one database); it only decides what is logged.

use std::{
    fmt::Display,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

/// Whether an outage is under way: the one check on the path of every successful call.
static IN_OUTAGE: AtomicBool = AtomicBool::new(false);
/// When the outage under way began.
static SINCE: Mutex<Option<Instant>> = Mutex::new(None);

/// `what` failed with `err`, an error that may heal by itself (see
/// [`Error::is_transient`](crate::Error::is_transient)): a warning when this begins an outage,
/// debug while one lasts.
pub fn failed(what: &str, err: &dyn Display) {
    let mut since = SINCE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if since.is_none() {
        *since = Some(Instant::now());
        IN_OUTAGE.store(true, Ordering::Relaxed);
        tracing::warn!("database unreachable ({what}: {err}); retrying until it is back");
    } else {
        tracing::debug!("{what} failed during the database outage: {err}");
    }
}

/// A call reached the database: ends the outage under way, if any, with one line.
pub fn reached() {
    if !IN_OUTAGE.load(Ordering::Relaxed) {
        return;
    }
    let mut since = SINCE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(began) = since.take() {
        IN_OUTAGE.store(false, Ordering::Relaxed);
        tracing::info!(
            "database reachable again after {:.1} s",
            began.elapsed().as_secs_f64()
        );
    }
}
