//! Reading bars from CSV: a header with `timestamp` (or `time`, `date`, `datetime`), `open`, `high`,
//! `low`, `close` and optionally `volume`, in any order. Timestamps may be RFC 3339, `YYYY-MM-DD
//! HH:MM[:SS]` (UTC), `YYYY-MM-DD`, or Unix seconds. Every row is checked — finite numbers, OHLC
//! consistency, strictly increasing timestamps — and the first bad row is reported with its line.

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::{Error, Result, market_data::Bar};

pub fn read_csv(path: &Path) -> Result<Vec<Bar>> {
    let shown = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|err| Error::InvalidInput(format!("cannot read {shown}: {err}")))?;
    let headers = reader
        .headers()
        .map_err(|err| Error::InvalidInput(format!("{shown}: cannot read the header: {err}")))?
        .clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|name| h.eq_ignore_ascii_case(name)))
    };
    let missing = |what: &str| {
        Error::InvalidInput(format!(
            "{shown}: no '{what}' column (header: {})",
            headers.iter().collect::<Vec<_>>().join(",")
        ))
    };
    let ts_col =
        column(&["timestamp", "time", "date", "datetime"]).ok_or_else(|| missing("timestamp"))?;
    let price_cols = [
        column(&["open"]).ok_or_else(|| missing("open"))?,
        column(&["high"]).ok_or_else(|| missing("high"))?,
        column(&["low"]).ok_or_else(|| missing("low"))?,
        column(&["close"]).ok_or_else(|| missing("close"))?,
    ];
    let volume_col = column(&["volume"]);

    let mut bars: Vec<Bar> = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2; // 1-based, after the header
        let record = record.map_err(|err| Error::InvalidInput(format!("{shown}:{line}: {err}")))?;
        let bad = |why: String| Error::InvalidInput(format!("{shown}:{line}: {why}"));
        let field = |col: usize| record.get(col).unwrap_or("");
        let ts = parse_timestamp(field(ts_col)).map_err(bad)?;
        let number = |col: usize, name: &str| -> Result<f64> {
            field(col)
                .parse::<f64>()
                .map_err(|_| bad(format!("{name} '{}' is not a number", field(col))))
        };
        let bar = Bar {
            ts,
            open: number(price_cols[0], "open")?,
            high: number(price_cols[1], "high")?,
            low: number(price_cols[2], "low")?,
            close: number(price_cols[3], "close")?,
            volume: match volume_col {
                Some(col) => number(col, "volume")?,
                None => 0.0,
            },
        };
        if let Some(why) = bar.inconsistency() {
            return Err(bad(why));
        }
        if let Some(previous) = bars.last()
            && bar.ts <= previous.ts
        {
            return Err(bad(format!(
                "timestamp {} is not after the previous row's {} (timestamps must increase)",
                bar.ts.to_rfc3339(),
                previous.ts.to_rfc3339()
            )));
        }
        bars.push(bar);
    }
    if bars.is_empty() {
        return Err(Error::InvalidInput(format!("{shown}: no rows")));
    }
    Ok(bars)
}

fn parse_timestamp(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Ok(ts.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(ts.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| format!("timestamp {seconds} is out of range"));
    }
    Err(format!(
        "timestamp '{text}' is not RFC 3339, 'YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DD' or Unix seconds"
    ))
}
