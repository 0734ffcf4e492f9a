//! Configuration from the environment (and a `.env` file, which the binaries load first).
//!
//! Every setting is read and validated once at start-up; a bad value stops the process with one line
//! that names the variable and the accepted range.

use std::{fmt::Display, ops::RangeInclusive, path::PathBuf, str::FromStr, time::Duration};

use crate::{
    Error, Result,
    maintenance::{
        CheckpointCleanerConfig, OrphanDetectorConfig, PrunerConfig, ReconciliationExpirerConfig,
        ResearchAdvancerConfig, VacuumConfig, checkpoint_cleanup, orphans, pruning, research,
        vacuum,
    },
};

/// Loads `.env` from the working directory (or a parent) if there is one. Variables already set win.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

/// Reads a numeric variable, falling back to `default` when unset or empty, and refusing values that
/// do not parse or fall outside `range`.
pub fn number_from_env<T>(name: &str, default: T, range: RangeInclusive<T>) -> Result<T>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    match std::env::var(name) {
        Ok(raw) if !raw.trim().is_empty() => parse_number(name, raw.trim(), range),
        _ => Ok(default),
    }
}

/// Reads a duration variable in seconds, like [`number_from_env`].
pub fn seconds_from_env(
    name: &str,
    default: Duration,
    range_seconds: RangeInclusive<f64>,
) -> Result<Duration> {
    number_from_env(name, default.as_secs_f64(), range_seconds).map(Duration::from_secs_f64)
}

/// Parses `raw` as the setting `name`, with the same messages as [`number_from_env`].
pub fn parse_number<T>(name: &str, raw: &str, range: RangeInclusive<T>) -> Result<T>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    let value: T = raw.parse().map_err(|_| out_of_range(name, raw, &range))?;
    ensure_in_range(name, value, &range)
}

/// Refuses a setting's value outside `range` with one line naming the setting (as
/// [`parse_number`] words it), for settings built in code rather than read from the environment.
pub fn ensure_in_range<T>(name: &str, value: T, range: &RangeInclusive<T>) -> Result<T>
where
    T: PartialOrd + Display,
{
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(out_of_range(name, &value, range))
    }
}

fn out_of_range<T: Display>(name: &str, shown: impl Display, range: &RangeInclusive<T>) -> Error {
    Error::Config(format!(
        "{name}={shown} is invalid: expected a number from {} to {}",
        range.start(),
        range.end()
    ))
}

/// A directory setting (`KTRDR_ARTIFACTS_PATH`, `CHECKPOINT_ARTIFACTS_PATH`, `KTRDR_OUTBOX_DIR`):
/// `None` when unset or empty. A relative path is refused: it would mean a different directory for
/// each process, depending on where it was started.
pub fn directory_setting(name: &str) -> Result<Option<PathBuf>> {
    let Some(raw) = std::env::var_os(name).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(raw);
    if path.is_relative() {
        let here = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        return Err(Error::Config(format!(
            "{name}={} is invalid: it must be an absolute path (a relative one depends on the \
             directory each process starts in), e.g. {name}={}",
            path.display(),
            here.display()
        )));
    }
    Ok(Some(path))
}

/// Checks a directory setting ([`directory_setting`]) when it is set: the directory is created if
/// missing, and a path that cannot be one is refused.
pub fn ensure_directory_setting(name: &str) -> Result<()> {
    let Some(path) = directory_setting(name)? else {
        return Ok(());
    };
    let invalid =
        |why: String| Error::Config(format!("{name}={} is invalid: {why}", path.display()));
    if path.exists() && !path.is_dir() {
        return Err(invalid("not a directory".into()));
    }
    std::fs::create_dir_all(&path).map_err(|err| invalid(format!("cannot create it: {err}")))
}

/// Lease and heartbeat timing shared by workers and the maintenance functions.
///
/// A running operation holds a lease of `orphan_timeout_seconds` that each heartbeat renews; a worker
/// that stops heartbeating for that long has lost its operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseSettings {
    /// ORPHAN_TIMEOUT_SECONDS (default 60): the lease length.
    pub orphan_timeout_seconds: f64,
    /// HEARTBEAT_INTERVAL_SECONDS (default a third of the timeout): how often workers renew leases.
    pub heartbeat_interval_seconds: f64,
}

impl LeaseSettings {
    pub const DEFAULT_ORPHAN_TIMEOUT_SECONDS: f64 = 60.0;

    pub fn from_env() -> Result<Self> {
        let orphan_timeout_seconds = number_from_env(
            "ORPHAN_TIMEOUT_SECONDS",
            Self::DEFAULT_ORPHAN_TIMEOUT_SECONDS,
            orphans::ORPHAN_TIMEOUT_RANGE_SECONDS,
        )?;
        let heartbeat_interval_seconds = number_from_env(
            "HEARTBEAT_INTERVAL_SECONDS",
            orphan_timeout_seconds / 3.0,
            0.1..=orphan_timeout_seconds / 2.0,
        )?;
        Ok(Self {
            orphan_timeout_seconds,
            heartbeat_interval_seconds,
        })
    }
}

/// Settings of the maintenance ticker: the lease timing it shares with the workers, and the config of
/// each maintenance service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickerSettings {
    pub lease: LeaseSettings,
    /// ORPHAN_TIMEOUT_SECONDS (the lease's) and ORPHAN_CHECK_INTERVAL_SECONDS (default 15): the
    /// longest the leader waits between two orphan passes (it also wakes at the earliest lease
    /// expiry), and how often followers try to take over.
    pub orphans: OrphanDetectorConfig,
    /// Its interval: the smaller of the check interval and the orphan timeout.
    pub reconciliation: ReconciliationExpirerConfig,
    /// CHECKPOINT_CLEANUP_INTERVAL_HOURS (default 24) and CHECKPOINT_MAX_AGE_DAYS (default 30).
    pub checkpoint_cleanup: CheckpointCleanerConfig,
    /// KTRDR_RETENTION_DAYS (default 30; 0 keeps everything); batches and interval as the
    /// service's defaults.
    pub pruning: PrunerConfig,
    /// KTRDR_VACUUM_DEAD_ROWS (default 20,000; 0 turns it off) and KTRDR_VACUUM_INTERVAL_SECONDS
    /// (default 10).
    pub vacuum: VacuumConfig,
    /// AGENT_POLL_INTERVAL_SECONDS (default 2).
    pub research: ResearchAdvancerConfig,
}

impl TickerSettings {
    pub fn from_env() -> Result<Self> {
        let lease = LeaseSettings::from_env()?;
        let orphan_timeout = Duration::from_secs_f64(lease.orphan_timeout_seconds);
        let check_interval = seconds_from_env(
            "ORPHAN_CHECK_INTERVAL_SECONDS",
            orphans::CHECK_INTERVAL_DEFAULT,
            orphans::CHECK_INTERVAL_RANGE_SECONDS,
        )?;
        Ok(Self {
            lease,
            orphans: OrphanDetectorConfig {
                orphan_timeout,
                check_interval,
            },
            // A reconciliation deadline lies one grace period (the orphan timeout) ahead when it is
            // set; passing at least that often sees every deadline before it passes.
            reconciliation: ReconciliationExpirerConfig {
                interval: check_interval.min(orphan_timeout),
            },
            checkpoint_cleanup: CheckpointCleanerConfig {
                interval_hours: number_from_env(
                    "CHECKPOINT_CLEANUP_INTERVAL_HOURS",
                    checkpoint_cleanup::INTERVAL_HOURS_DEFAULT,
                    checkpoint_cleanup::INTERVAL_HOURS_RANGE,
                )?,
                max_age_days: checkpoint_max_age_days()?,
                ..CheckpointCleanerConfig::default()
            },
            pruning: PrunerConfig {
                retention_days: number_from_env(
                    "KTRDR_RETENTION_DAYS",
                    pruning::RETENTION_DAYS_DEFAULT,
                    pruning::RETENTION_DAYS_RANGE,
                )?,
                interval: seconds_from_env(
                    "KTRDR_PRUNING_INTERVAL_SECONDS",
                    pruning::INTERVAL_DEFAULT,
                    pruning::INTERVAL_RANGE_SECONDS,
                )?,
                ..PrunerConfig::default()
            },
            vacuum: VacuumConfig {
                dead_rows: number_from_env(
                    "KTRDR_VACUUM_DEAD_ROWS",
                    vacuum::DEAD_ROWS_DEFAULT,
                    vacuum::DEAD_ROWS_RANGE,
                )?,
                interval: seconds_from_env(
                    "KTRDR_VACUUM_INTERVAL_SECONDS",
                    vacuum::INTERVAL_DEFAULT,
                    vacuum::INTERVAL_RANGE_SECONDS,
                )?,
            },
            research: ResearchAdvancerConfig {
                poll_interval: seconds_from_env(
                    "AGENT_POLL_INTERVAL_SECONDS",
                    research::POLL_INTERVAL_DEFAULT,
                    research::POLL_INTERVAL_RANGE_SECONDS,
                )?,
            },
        })
    }
}

/// CHECKPOINT_MAX_AGE_DAYS (default 30): checkpoints older than this are cleaned up.
pub fn checkpoint_max_age_days() -> Result<f64> {
    number_from_env(
        "CHECKPOINT_MAX_AGE_DAYS",
        checkpoint_cleanup::MAX_AGE_DAYS_DEFAULT,
        checkpoint_cleanup::MAX_AGE_DAYS_RANGE,
    )
}

/// `DATABASE_URL` when set and non-empty; `None` selects the embedded cluster.
pub fn database_url_from_env() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn a_relative_directory_setting_is_refused_with_what_it_would_have_meant() {
        // A name no other test sets, so that setting it cannot race with them.
        let name = "KTRDR_TEST_RELATIVE_DIRECTORY";
        // SAFETY: only this test reads or writes this variable.
        unsafe { std::env::set_var(name, "../../etc") };
        let err = super::directory_setting(name).unwrap_err().to_string();
        let here = std::env::current_dir().unwrap().join("../../etc");
        assert_eq!(
            err,
            format!(
                "{name}=../../etc is invalid: it must be an absolute path (a relative one depends \
                 on the directory each process starts in), e.g. {name}={}",
                here.display()
            )
        );
        unsafe { std::env::set_var(name, "/var/lib/ktrdr/artifacts") };
        assert_eq!(
            super::directory_setting(name).unwrap(),
            Some("/var/lib/ktrdr/artifacts".into())
        );
        unsafe { std::env::remove_var(name) };
        assert_eq!(super::directory_setting(name).unwrap(), None);
    }

    #[test]
    fn numbers_outside_the_range_name_the_variable_and_range() {
        let err = parse_number::<f64>("X_SECONDS", "-1", 0.1..=10.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "X_SECONDS=-1 is invalid: expected a number from 0.1 to 10"
        );
        assert!(parse_number::<u32>("N", "abc", 1..=4).is_err());
        assert_eq!(parse_number::<u32>("N", "3", 1..=4).unwrap(), 3);
    }
}
