//! How a file writes its timestamps. The first row decides ([`TimestampFormat::detect`]) and every
//! later row must follow it, so a file cannot mix Unix seconds with milliseconds, or day-first
//! dates with year-first ones, without the row that breaks the pattern being named.
//!
//! Accepted: RFC 3339 (with `T` or a space, any offset); a date (`YYYY-MM-DD`, `YYYY.MM.DD`,
//! `YYYY/MM/DD`, `YYYYMMDD`, `DD.MM.YYYY`) alone or followed by a time (`HH:MM[:SS[.fff]]` or
//! `HHMMSS`) and optionally an offset (`+01:00`, `+0100`, `GMT+0100`); and Unix time as an integer,
//! in seconds, milliseconds or microseconds, whichever puts the first row between 1970 and 2100.
//! Times without an offset are UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Dates, tried in this order (the compact form only on exactly eight digits).
const DATES: [&str; 5] = ["%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d"];
/// Times after a date.
const TIMES: [&str; 3] = ["%H:%M:%S%.f", "%H:%M", "%H%M%S"];
/// Offsets after a time (after a space for the `GMT` form).
const OFFSETS: [&str; 3] = ["%:z", "%z", " GMT%z"];

/// 2100-01-01T00:00:00Z in Unix seconds: the latest plausible bar.
const LATEST_PLAUSIBLE_SECONDS: i64 = 4_102_444_800;

impl std::fmt::Display for EpochUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The unit of an integer Unix timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    Seconds,
    Milliseconds,
    Microseconds,
}

impl EpochUnit {
    fn per_second(self) -> i64 {
        match self {
            EpochUnit::Seconds => 1,
            EpochUnit::Milliseconds => 1_000,
            EpochUnit::Microseconds => 1_000_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EpochUnit::Seconds => "seconds",
            EpochUnit::Milliseconds => "milliseconds",
            EpochUnit::Microseconds => "microseconds",
        }
    }

    /// `value` in this unit as a time, if it lies in 1970–2100.
    fn time(self, value: i64) -> Option<DateTime<Utc>> {
        let per_second = self.per_second();
        if !(0..=LATEST_PLAUSIBLE_SECONDS * per_second).contains(&value) {
            return None;
        }
        let micros = value * (1_000_000 / per_second);
        DateTime::from_timestamp_micros(micros)
    }
}

/// How one file writes its timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampFormat {
    Rfc3339,
    /// A chrono pattern without an offset (UTC).
    Naive(String),
    /// A chrono pattern ending in an offset.
    WithOffset(String),
    /// A date alone: midnight UTC.
    Date(String),
    Epoch(EpochUnit),
}

impl TimestampFormat {
    /// The format `text` (the first row's timestamp) is written in.
    pub fn detect(text: &str) -> Result<Self, String> {
        if DateTime::parse_from_rfc3339(text).is_ok() {
            return Ok(TimestampFormat::Rfc3339);
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            if text.len() == 8 && NaiveDate::parse_from_str(text, "%Y%m%d").is_ok() {
                return Ok(TimestampFormat::Date("%Y%m%d".into()));
            }
            return Self::detect_epoch(text);
        }
        for date in DATES {
            if date == "%Y%m%d" && !starts_with_eight_digits_alone(text) {
                continue;
            }
            if NaiveDate::parse_from_str(text, date).is_ok() {
                return Ok(TimestampFormat::Date(date.into()));
            }
            for separator in [" ", "T"] {
                for time in TIMES {
                    let pattern = format!("{date}{separator}{time}");
                    if NaiveDateTime::parse_from_str(text, &pattern).is_ok() {
                        return Ok(TimestampFormat::Naive(pattern));
                    }
                    for offset in OFFSETS {
                        let pattern = format!("{pattern}{offset}");
                        if DateTime::parse_from_str(text, &pattern).is_ok() {
                            return Ok(TimestampFormat::WithOffset(pattern));
                        }
                    }
                }
            }
        }
        Err(format!(
            "timestamp '{}' is not RFC 3339, a date (YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD, \
             DD.MM.YYYY, YYYYMMDD) with an optional time, or Unix seconds/milliseconds",
            super::csv_file::shorten(text)
        ))
    }

    fn detect_epoch(text: &str) -> Result<Self, String> {
        let value: i64 = text
            .parse()
            .map_err(|_| format!("timestamp {text} is too large for Unix time"))?;
        [
            EpochUnit::Seconds,
            EpochUnit::Milliseconds,
            EpochUnit::Microseconds,
        ]
        .into_iter()
        .find(|unit| unit.time(value).is_some())
        .map(TimestampFormat::Epoch)
        .ok_or_else(|| {
            format!(
                "timestamp {text} is not between 1970 and 2100 as Unix seconds, milliseconds or \
                 microseconds"
            )
        })
    }

    /// `text` read in this format.
    pub fn parse(&self, text: &str) -> Result<DateTime<Utc>, String> {
        let parsed = match self {
            TimestampFormat::Rfc3339 => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|ts| ts.to_utc()),
            TimestampFormat::Naive(pattern) => NaiveDateTime::parse_from_str(text, pattern)
                .ok()
                .map(|ts| ts.and_utc()),
            TimestampFormat::WithOffset(pattern) => DateTime::parse_from_str(text, pattern)
                .ok()
                .map(|ts| ts.to_utc()),
            TimestampFormat::Date(pattern) => NaiveDate::parse_from_str(text, pattern)
                .ok()
                .map(|date| date.and_time(chrono::NaiveTime::MIN).and_utc()),
            TimestampFormat::Epoch(unit) => {
                return match text.parse::<i64>() {
                    Ok(value) => unit.time(value).ok_or_else(|| {
                        format!(
                            "timestamp {value} is not between 1970 and 2100 as Unix {} (the unit \
                             the first row implied)",
                            unit.name()
                        )
                    }),
                    Err(_) => Err(format!(
                        "timestamp '{}' is not Unix {} like the first row's",
                        super::csv_file::shorten(text),
                        unit.name()
                    )),
                };
            }
        };
        parsed.ok_or_else(|| {
            format!(
                "timestamp '{}' is not written like the first row's ({})",
                super::csv_file::shorten(text),
                self.describe()
            )
        })
    }

    /// This format in words, for the import's summary.
    pub fn describe(&self) -> String {
        match self {
            TimestampFormat::Rfc3339 => "RFC 3339".into(),
            TimestampFormat::Naive(pattern) => format!("{pattern} (UTC)"),
            TimestampFormat::WithOffset(pattern) | TimestampFormat::Date(pattern) => {
                pattern.clone()
            }
            TimestampFormat::Epoch(unit) => format!("Unix {}", unit.name()),
        }
    }
}

/// Whether `text` starts with exactly eight digits followed by the end or a separator: the only
/// texts the compact `YYYYMMDD` date is tried on (chrono's `%Y` would take more digits).
fn starts_with_eight_digits_alone(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 8
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes.get(8).is_none_or(|b| !b.is_ascii_digit())
}
