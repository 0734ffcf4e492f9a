//! How ktrdr's binaries log and exit: tracing to stderr, filtered by `KTRDR_LOG` (an `EnvFilter`
//! directive such as `info,sqlx=warn`) or the binary's default, as text (colours only on a
//! terminal) or, with `KTRDR_LOG_FORMAT=json`, one JSON object a line for log collectors (Loki,
//! `kubectl logs | jq`); and an error from `main` as one line on stderr with a non-zero exit status.

use std::{fmt::Display, io::IsTerminal, process::ExitCode};

use crate::{Error, Result};

/// What `KTRDR_LOG_FORMAT` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `KTRDR_LOG_FORMAT`: `text` (the default when unset or empty) or `json`.
    pub fn from_env() -> Result<Self> {
        match std::env::var("KTRDR_LOG_FORMAT").unwrap_or_default().trim() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(Error::Config(format!(
                "KTRDR_LOG_FORMAT={other} is not a log format: use text or json"
            ))),
        }
    }
}

/// Installs the global tracing subscriber; `default_filter` applies when `KTRDR_LOG` is unset or
/// invalid. Refuses an unknown `KTRDR_LOG_FORMAT` (the caller exits with the message).
pub fn init(default_filter: &str) -> Result<()> {
    let format = LogFormat::from_env()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KTRDR_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        // Flattened: the message and the fields sit at the top level of each line, where log
        // collectors look for them.
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
    Ok(())
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
