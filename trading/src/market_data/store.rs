//! Bars in PostgreSQL: bulk upsert (idempotent: importing the same file twice changes nothing),
//! listing what is loaded, and loading a range.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use crate::{
    Result,
    market_data::{Bar, BarRange, Timeframe},
};

/// Rows per INSERT: keeps each statement's arrays a few megabytes.
const CHUNK: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreReport {
    pub inserted: u64,
    pub updated: u64,
}

/// Upserts `bars` of `symbol`/`timeframe` in one transaction.
pub async fn store(
    pool: &PgPool,
    symbol: &str,
    timeframe: Timeframe,
    bars: &[Bar],
) -> Result<StoreReport> {
    Ok(
        store_stream(pool, symbol, timeframe, bars.iter().copied().map(Ok))
            .await?
            .1,
    )
}

/// Upserts the bars `bars` yields, [`CHUNK`] at a time, in one transaction, and returns how many
/// there were: memory stays at one chunk whatever the stream's length (a CSV file of any size).
/// The first error the stream yields rolls everything back.
pub async fn store_stream(
    pool: &PgPool,
    symbol: &str,
    timeframe: Timeframe,
    mut bars: impl Iterator<Item = Result<Bar>>,
) -> Result<(usize, StoreReport)> {
    let mut tx = pool.begin().await?;
    let mut report = StoreReport {
        inserted: 0,
        updated: 0,
    };
    let mut count = 0;
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        // A synchronous read of the next chunk (a file's bars): milliseconds between statements.
        for bar in bars.by_ref().take(CHUNK) {
            chunk.push(bar?);
        }
        if chunk.is_empty() {
            break;
        }
        count += chunk.len();
        let column = |f: fn(&Bar) -> f64| chunk.iter().map(f).collect::<Vec<f64>>();
        let ts: Vec<DateTime<Utc>> = chunk.iter().map(|bar| bar.ts).collect();
        // `xmax = 0` is true for freshly inserted rows and false for updated ones.
        let (inserted, updated): (i64, i64) = sqlx::query_as(
            "WITH upserted AS (
                 INSERT INTO ktrdr.bars (symbol, timeframe, ts, open, high, low, close, volume)
                 SELECT $1, $2, * FROM unnest($3::timestamptz[], $4::float8[], $5::float8[],
                                              $6::float8[], $7::float8[], $8::float8[])
                 ON CONFLICT (symbol, timeframe, ts) DO UPDATE
                 SET open = excluded.open, high = excluded.high, low = excluded.low,
                     close = excluded.close, volume = excluded.volume
                 RETURNING xmax = 0 AS inserted)
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted",
        )
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(ts)
        .bind(column(|b| b.open))
        .bind(column(|b| b.high))
        .bind(column(|b| b.low))
        .bind(column(|b| b.close))
        .bind(column(|b| b.volume))
        .fetch_one(&mut *tx)
        .await?;
        report.inserted += inserted as u64;
        report.updated += updated as u64;
    }
    tx.commit().await?;
    Ok((count, report))
}

/// One loaded series.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SeriesInfo {
    pub symbol: String,
    pub timeframe: String,
    pub bars: i64,
    pub first_ts: DateTime<Utc>,
    pub last_ts: DateTime<Utc>,
}

pub async fn list(pool: &PgPool) -> Result<Vec<SeriesInfo>> {
    let rows = sqlx::query_as(
        "SELECT symbol, timeframe, bars, first_ts, last_ts FROM ktrdr.bar_series ORDER BY symbol, timeframe",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Whether `symbol` `timeframe` has any bar in `[start, end)` (an open end is unbounded): answered
/// from the (symbol, timeframe, ts) index without reading the bars.
pub async fn has_bars(pool: &PgPool, range: &BarRange<'_>) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT FROM ktrdr.bars
         WHERE symbol = $1 AND timeframe = $2
           AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts < $4))",
    )
    .bind(range.symbol)
    .bind(range.timeframe.as_str())
    .bind(range.start)
    .bind(range.end)
    .fetch_one(pool)
    .await?)
}

/// What to tell someone whose operation has no bars to run on, with the commands that load some.
pub fn no_bars_message(symbol: &str, timeframe: Timeframe) -> String {
    format!(
        "no market data for {symbol} {timeframe} in the requested range: load it with \
         `ktrdr data synth --symbol {symbol} --timeframe {timeframe}` or \
         `ktrdr data import <file.csv> --symbol {symbol} --timeframe {timeframe}`"
    )
}

/// Bars of a series in `[start, end)`, oldest first (either bound may be open).
pub async fn load(pool: &PgPool, range: &BarRange<'_>) -> Result<Vec<Bar>> {
    let bars = sqlx::query_as(
        "SELECT ts, open, high, low, close, volume FROM ktrdr.bars
         WHERE symbol = $1 AND timeframe = $2
           AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts < $4)
         ORDER BY ts",
    )
    .bind(range.symbol)
    .bind(range.timeframe.as_str())
    .bind(range.start)
    .bind(range.end)
    .fetch_all(pool)
    .await?;
    Ok(bars)
}
