//! How ktrdr's binaries log and exit: tracing to stderr, filtered by `KTRDR_LOG` (an `EnvFilter`
//! directive such as `info,sqlx=warn`) or the binary's default, colours only on a terminal; and an
//! error from `main` as one line on stderr with a non-zero exit status.

use std::{fmt::Display, io::IsTerminal, process::ExitCode};

/// Installs the global tracing subscriber; `default_filter` applies when `KTRDR_LOG` is unset or
/// invalid.
pub fn init(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KTRDR_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The exit status of `main`: success, or `error: …` (with its causes, for `anyhow` errors) on
/// stderr and failure.
pub fn exit_code<E: Display>(outcome: Result<(), E>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
