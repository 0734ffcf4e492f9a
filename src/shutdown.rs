//! SIGTERM/SIGINT handling for the long-running processes (`ktrdr-worker`, `ktrdr ticker`): the first
//! signal asks for a graceful stop (a worker stops claiming, stops its operations cleanly and
//! deregisters; a ticker gives up leadership); a second one exits at once.

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};

/// A receiver that turns true on the first SIGTERM or SIGINT.
pub fn install() -> std::io::Result<watch::Receiver<bool>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutdown requested: stopping cleanly (signal again to exit at once)");
        let _ = tx.send(true);
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    Ok(rx)
}
