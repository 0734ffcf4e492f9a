//! Bar timeframes.

use std::{fmt, str::FromStr};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Timeframe {
    M1,
    M5,
    M15,
    M30,
    H1,
    H4,
    D1,
}

impl Timeframe {
    pub const ALL: [Timeframe; 7] = [
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::H1,
        Timeframe::H4,
        Timeframe::D1,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1h",
            Timeframe::H4 => "4h",
            Timeframe::D1 => "1d",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Timeframe::M1 => Duration::minutes(1),
            Timeframe::M5 => Duration::minutes(5),
            Timeframe::M15 => Duration::minutes(15),
            Timeframe::M30 => Duration::minutes(30),
            Timeframe::H1 => Duration::hours(1),
            Timeframe::H4 => Duration::hours(4),
            Timeframe::D1 => Duration::days(1),
        }
    }

    /// Bars in a year of continuous trading, for annualising returns and volatility.
    pub fn bars_per_year(self) -> f64 {
        365.25 * 86_400.0 / self.duration().num_seconds() as f64
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Timeframe::ALL
            .into_iter()
            .find(|tf| tf.as_str() == text.trim())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown timeframe '{text}' (expected one of: {})",
                    Timeframe::ALL.map(Timeframe::as_str).join(", ")
                ))
            })
    }
}

impl TryFrom<String> for Timeframe {
    type Error = Error;

    fn try_from(text: String) -> Result<Self, Error> {
        text.parse()
    }
}

impl From<Timeframe> for String {
    fn from(tf: Timeframe) -> String {
        tf.as_str().to_string()
    }
}
