//! The external programs that replace the built-in designer and assessor: `KTRDR_DESIGNER_CMD`
//! (with `KTRDR_DESIGNER_TIMEOUT_SECONDS`, default 300) and `KTRDR_ASSESSOR_CMD` (with
//! `KTRDR_ASSESSOR_TIMEOUT_SECONDS`, default 120), each run with `sh -c` (see
//! `ktrdr_trading::research::external`). The worker checks them when it starts ([`check`]), so a
//! bad timeout stops it with one line naming the variable instead of failing every design.

use std::{ops::RangeInclusive, time::Duration};

use ktrdr::config::number_from_env;

/// Default KTRDR_DESIGNER_TIMEOUT_SECONDS: a language model may think for minutes.
pub const DESIGNER_TIMEOUT_DEFAULT_SECONDS: f64 = 300.0;
/// Default KTRDR_ASSESSOR_TIMEOUT_SECONDS.
pub const ASSESSOR_TIMEOUT_DEFAULT_SECONDS: f64 = 120.0;
/// Accepted timeouts, in seconds (at most a day).
pub const TIMEOUT_RANGE_SECONDS: RangeInclusive<f64> = 0.1..=86_400.0;

/// A command line to run with `sh -c`, and how long it may take.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalCommand {
    pub command: String,
    pub timeout: Duration,
}

/// KTRDR_DESIGNER_CMD with its timeout; None for the built-in designer.
pub fn designer() -> Result<Option<ExternalCommand>, String> {
    command(
        "KTRDR_DESIGNER_CMD",
        "KTRDR_DESIGNER_TIMEOUT_SECONDS",
        DESIGNER_TIMEOUT_DEFAULT_SECONDS,
    )
}

/// KTRDR_ASSESSOR_CMD with its timeout; None for the built-in assessment rules.
pub fn assessor() -> Result<Option<ExternalCommand>, String> {
    command(
        "KTRDR_ASSESSOR_CMD",
        "KTRDR_ASSESSOR_TIMEOUT_SECONDS",
        ASSESSOR_TIMEOUT_DEFAULT_SECONDS,
    )
}

/// Both settings checked, for the worker's start-up.
pub fn check() -> Result<(), String> {
    designer()?;
    assessor()?;
    Ok(())
}

fn command(
    variable: &str,
    timeout_variable: &str,
    default_timeout: f64,
) -> Result<Option<ExternalCommand>, String> {
    let timeout = number_from_env(timeout_variable, default_timeout, TIMEOUT_RANGE_SECONDS)
        .map_err(|err| err.to_string())?;
    Ok(std::env::var(variable)
        .ok()
        .filter(|command| !command.trim().is_empty())
        .map(|command| ExternalCommand {
            command,
            timeout: Duration::from_secs_f64(timeout),
        }))
}
