//! Exact serde for the floats of a checkpoint. `serde_json` (without its `float_roundtrip`
//! feature, which this workspace does not enable) parses decimal numbers with a fast method that
//! is sometimes one ULP off, so a state written as JSON numbers would resume slightly different
//! and the result would no longer be bit-identical to an uninterrupted run. Here floats travel as
//! strings in Rust's shortest round-trip form (`"10469.42049"`, `"1e-7"`), which `str::parse`
//! reads back correctly rounded, i.e. exactly.
//!
//! Only the checkpoint ([`super::BacktestState`]) uses this; results keep plain JSON numbers.
//! [`Trade`] and [`EquityPoint`] appear in both, so the state reaches them through the mirror
//! definitions below (serde "remote" derives, which the compiler keeps in step with the real
//! structs: a field added to one and not the other does not build).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::{EquityPoint, Side, Trade};

/// `#[serde(with = "exact::float")]` for one `f64`.
pub mod float {
    use super::*;

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        // `{:?}` is the shortest text that parses back to the same bits (and keeps exponents short).
        serializer.collect_str(&format_args!("{value:?}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        struct Exact;
        impl de::Visitor<'_> for Exact {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a float written as a string, e.g. \"10469.42049\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<f64, E> {
                text.parse()
                    .map_err(|_| E::custom(format!("'{text}' is not a float")))
            }
        }
        deserializer.deserialize_str(Exact)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Trade")]
struct TradeDef {
    entry_time: DateTime<Utc>,
    exit_time: DateTime<Utc>,
    #[serde(with = "float")]
    entry_price: f64,
    #[serde(with = "float")]
    exit_price: f64,
    side: Side,
    quantity: u64,
    #[serde(with = "float")]
    gross_pnl: f64,
    #[serde(with = "float")]
    commission: f64,
    #[serde(with = "float")]
    net_pnl: f64,
    #[serde(with = "float")]
    mfe: f64,
    #[serde(with = "float")]
    mae: f64,
    bars_held: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "EquityPoint")]
struct EquityPointDef {
    ts: DateTime<Utc>,
    #[serde(with = "float")]
    equity: f64,
}

/// `#[serde(with = "exact::trades")]` for a `Vec<Trade>`.
pub mod trades {
    use super::*;

    pub fn serialize<S: Serializer>(trades: &[Trade], serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Exact<'a>(#[serde(with = "TradeDef")] &'a Trade);
        serializer.collect_seq(trades.iter().map(Exact))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Trade>, D::Error> {
        #[derive(Deserialize)]
        struct Exact(#[serde(with = "TradeDef")] Trade);
        let trades = Vec::<Exact>::deserialize(deserializer)?;
        Ok(trades.into_iter().map(|Exact(trade)| trade).collect())
    }
}

/// `#[serde(with = "exact::equity_points")]` for a `Vec<EquityPoint>`.
pub mod equity_points {
    use super::*;

    pub fn serialize<S: Serializer>(
        points: &[EquityPoint],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Exact<'a>(#[serde(with = "EquityPointDef")] &'a EquityPoint);
        serializer.collect_seq(points.iter().map(Exact))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<EquityPoint>, D::Error> {
        #[derive(Deserialize)]
        struct Exact(#[serde(with = "EquityPointDef")] EquityPoint);
        let points = Vec::<Exact>::deserialize(deserializer)?;
        Ok(points.into_iter().map(|Exact(point)| point).collect())
    }
}
