//! Bars in PostgreSQL: bulk upsert (idempotent: importing the same file twice changes nothing) with
//! the bars' source recorded, listing what is loaded, deleting a series, and loading a range.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use crate::{
    Error, Result,
    market_data::{Bar, BarRange, CsvBars, RecordedSource, Source, Timeframe},
};

/// Rows per INSERT: keeps each statement's arrays a few megabytes.
const CHUNK: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreReport {
    pub inserted: u64,
    pub updated: u64,
    /// Bars deleted first because the import replaced the series.
    pub replaced: u64,
}

/// Bars whose origin is known — for a file, only once they are all read (its SHA-256).
pub trait SourcedBars: Iterator<Item = Result<Bar>> {
    /// `file` or `synth`: known before the first bar.
    fn kind(&self) -> &'static str;
    /// The source, asked for after the last bar.
    fn source(&self) -> Source;
}

impl SourcedBars for CsvBars {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn source(&self) -> Source {
        CsvBars::source(self)
    }
}

/// Bars in memory with their source.
struct Known<'a, I> {
    bars: I,
    source: &'a Source,
}

impl<I: Iterator<Item = Result<Bar>>> Iterator for Known<'_, I> {
    type Item = Result<Bar>;

    fn next(&mut self) -> Option<Result<Bar>> {
        self.bars.next()
    }
}

impl<I: Iterator<Item = Result<Bar>>> SourcedBars for Known<'_, I> {
    fn kind(&self) -> &'static str {
        self.source.kind()
    }

    fn source(&self) -> Source {
        self.source.clone()
    }
}

/// `bars`, from `source`, for [`store_stream`].
pub fn with_source<'a>(bars: &'a [Bar], source: &'a Source) -> impl SourcedBars + 'a {
    Known {
        bars: bars.iter().copied().map(Ok),
        source,
    }
}

/// Whether a store may delete the series' bars first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Keep them: bars of the same time are updated, and a source of the other kind is refused.
    Keep,
    /// Delete the series (bars and sources) first, in the same transaction.
    Replace,
}

/// Upserts `bars` of `symbol`/`timeframe`, from `source`, in one transaction (keeping the series'
/// other bars).
pub async fn store(
    pool: &PgPool,
    symbol: &str,
    timeframe: Timeframe,
    source: &Source,
    bars: &[Bar],
) -> Result<StoreReport> {
    let mut known = with_source(bars, source);
    Ok(
        store_stream(pool, symbol, timeframe, Existing::Keep, &mut known)
            .await?
            .1,
    )
}

/// Upserts the bars `bars` yields, [`CHUNK`] at a time, in one transaction, records their source,
/// and returns how many there were: memory stays at one chunk whatever the stream's length (a CSV
/// file of any size). The first error the stream yields rolls everything back; so does a source of
/// the other kind than the series already has (real over synthetic bars or the reverse), which is
/// refused before any bar is read unless `existing` is [`Existing::Replace`].
pub async fn store_stream(
    pool: &PgPool,
    symbol: &str,
    timeframe: Timeframe,
    existing: Existing,
    bars: &mut impl SourcedBars,
) -> Result<(usize, StoreReport)> {
    let mut tx = pool.begin().await?;
    let mut report = StoreReport {
        inserted: 0,
        updated: 0,
        replaced: 0,
    };
    match existing {
        Existing::Replace => {
            let deleted: i64 = sqlx::query_scalar("SELECT ktrdr.delete_bar_series($1, $2)")
                .bind(symbol)
                .bind(timeframe.as_str())
                .fetch_one(&mut *tx)
                .await?;
            report.replaced = deleted as u64;
        }
        Existing::Keep => refuse_mixing(&mut tx, symbol, timeframe, bars.kind()).await?,
    }
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
    let source = bars.source();
    sqlx::query("SELECT ktrdr.record_bar_source($1, $2, $3, $4, $5, $6)")
        .bind(symbol)
        .bind(timeframe.as_str())
        .bind(source.kind())
        .bind(source.identity())
        .bind(source.file_name())
        .bind(count as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((count, report))
}

/// Refuses, before any bar is read, a source of `kind` for a series that holds the other kind
/// (`ktrdr.record_bar_source` refuses it again at the end, under its lock).
async fn refuse_mixing(
    tx: &mut sqlx::PgConnection,
    symbol: &str,
    timeframe: Timeframe,
    kind: &str,
) -> Result<()> {
    let other: Option<(String, i64)> = sqlx::query_as(
        "SELECT s.kind, (SELECT count(*) FROM ktrdr.bars b WHERE b.symbol = $1 AND b.timeframe = $2)
         FROM ktrdr.bar_sources s WHERE s.symbol = $1 AND s.timeframe = $2 AND s.kind <> $3 LIMIT 1",
    )
    .bind(symbol)
    .bind(timeframe.as_str())
    .bind(kind)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((other, bars)) = other else {
        return Ok(());
    };
    let what = |kind: &str| {
        if kind == "synth" {
            "synthetic"
        } else {
            "real (imported)"
        }
    };
    Err(Error::InvalidInput(format!(
        "{symbol} {timeframe} holds {bars} {} bars; adding {} bars would mix the two: add \
         --replace to delete them first, or use another --symbol",
        what(&other),
        what(kind)
    )))
}

/// Deletes the series `symbol` `timeframe` (bars and sources); returns how many bars it had.
pub async fn delete(pool: &PgPool, symbol: &str, timeframe: Timeframe) -> Result<u64> {
    let deleted: i64 = sqlx::query_scalar("SELECT ktrdr.delete_bar_series($1, $2)")
        .bind(symbol)
        .bind(timeframe.as_str())
        .fetch_one(pool)
        .await?;
    Ok(deleted as u64)
}

/// One loaded series.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SeriesInfo {
    pub symbol: String,
    pub timeframe: String,
    pub bars: i64,
    pub first_ts: DateTime<Utc>,
    pub last_ts: DateTime<Utc>,
    /// Where the bars came from, oldest first (empty for series loaded before sources were kept).
    pub sources: sqlx::types::Json<Vec<RecordedSource>>,
}

pub async fn list(pool: &PgPool) -> Result<Vec<SeriesInfo>> {
    let rows = sqlx::query_as(
        "SELECT symbol, timeframe, bars, first_ts, last_ts, sources FROM ktrdr.bar_series ORDER BY symbol, timeframe",
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
