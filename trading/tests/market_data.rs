//! Market data in PostgreSQL: CSV import (idempotent, refusing bad rows with their line), synthetic
//! data, listing and loading.

use std::path::PathBuf;

use chrono::TimeZone;
use ktrdr_testkit::TestDatabase;
use ktrdr_trading::market_data::{self, BarRange, SynthSpec, Timeframe};

/// EURUSD 1h bars from `start` on.
fn eurusd_h1(start: Option<chrono::DateTime<chrono::Utc>>) -> BarRange<'static> {
    BarRange {
        symbol: "EURUSD",
        timeframe: Timeframe::H1,
        start,
        end: None,
    }
}

fn csv_file(name: &str, content: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ktrdr-{name}-{}.csv", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

/// The file at `path` as a source.
fn source(path: &std::path::Path) -> market_data::Source {
    market_data::CsvBars::open(path).unwrap().source()
}

#[tokio::test]
async fn importing_a_csv_twice_stores_it_once() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let path = csv_file(
        "good",
        "timestamp,open,high,low,close,volume\n\
         2024-01-01 00:00:00,1.10,1.12,1.09,1.11,100\n\
         2024-01-01T01:00:00Z,1.11,1.13,1.10,1.12,120\n\
         1704074400,1.12,1.12,1.08,1.09,90\n",
    );
    let bars = market_data::read_csv(&path)?;
    assert_eq!(bars.len(), 3);
    let first = market_data::store(pool, "EURUSD", Timeframe::H1, &source(&path), &bars).await?;
    assert_eq!((first.inserted, first.updated), (3, 0));
    let again = market_data::store(pool, "EURUSD", Timeframe::H1, &source(&path), &bars).await?;
    assert_eq!((again.inserted, again.updated), (0, 3));
    let loaded = market_data::load(pool, &eurusd_h1(None)).await?;
    assert_eq!(loaded, bars);
    let series = market_data::list(pool).await?;
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].bars, 3);
    std::fs::remove_file(path)?;
    Ok(())
}

#[test]
fn bad_rows_are_refused_with_their_line() {
    let header = "timestamp,open,high,low,close,volume\n";
    let good = "2024-01-01 00:00,1,2,0.5,1.5,10\n";
    let cases = [
        (
            "2024-01-01 00:00,1,2,0.5,1.5,10\n",
            ":3: timestamp 2024-01-01T00:00:00+00:00 is not after the previous row's",
        ),
        (
            "2024-01-01 01:00,1,1.2,0.5,1.5,10\n",
            ":3: high 1.2 is below open/close/low",
        ),
        (
            "2024-01-01 01:00,1,2,1.2,1.5,10\n",
            ":3: low 1.2 is above open/close",
        ),
        ("2024-01-01 01:00,1,NaN,0.5,1.5,10\n", ":3: high is NaN"),
        (
            "2024-01-01 01:00,1,x,0.5,1.5,10\n",
            ":3: high 'x' is not a number",
        ),
        (
            "yesterday,1,2,0.5,1.5,10\n",
            ":3: timestamp 'yesterday' is not RFC 3339",
        ),
    ];
    for (row, expected) in cases {
        let path = csv_file("bad", &format!("{header}{good}{row}"));
        let err = market_data::read_csv(&path).unwrap_err().to_string();
        assert!(err.contains(expected), "{row:?}: {err}");
        std::fs::remove_file(path).unwrap();
    }
    let path = csv_file("noclose", "timestamp,open,high,low\n2024-01-01,1,1,1\n");
    let err = market_data::read_csv(&path).unwrap_err().to_string();
    assert!(err.contains("no 'close' column"), "{err}");
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn synthetic_data_loads_and_range_queries_cut_it() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let spec = SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        start: chrono::Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap(),
        end: chrono::Utc.with_ymd_and_hms(2023, 3, 1, 0, 0, 0).unwrap(),
        seed: 5,
    };
    let bars = market_data::synthesize(&spec)?;
    let source = market_data::Source::Synth { seed: spec.seed };
    market_data::store(pool, "EURUSD", Timeframe::H1, &source, &bars).await?;
    let february = chrono::Utc.with_ymd_and_hms(2023, 2, 1, 0, 0, 0).unwrap();
    let loaded = market_data::load(pool, &eurusd_h1(Some(february))).await?;
    assert!(!loaded.is_empty());
    assert!(loaded.iter().all(|bar| bar.ts >= february));
    assert_eq!(
        loaded.len(),
        bars.iter().filter(|bar| bar.ts >= february).count()
    );
    Ok(())
}

#[tokio::test]
async fn the_database_refuses_nan_bars_whatever_the_caller() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let ts = chrono::Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let good = market_data::Bar {
        ts,
        open: 1.0,
        high: 1.2,
        low: 0.9,
        close: 1.1,
        volume: 10.0,
    };
    for bad in [
        market_data::Bar {
            volume: f64::NAN,
            ..good
        },
        market_data::Bar {
            high: f64::NAN,
            ..good
        },
        market_data::Bar {
            close: f64::INFINITY,
            high: f64::INFINITY,
            ..good
        },
    ] {
        let source = market_data::Source::Synth { seed: 1 };
        let err = market_data::store(pool, "EURUSD", Timeframe::H1, &source, &[bad])
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("violates check constraint"),
            "{err}"
        );
    }
    assert!(market_data::list(pool).await?.is_empty());
    Ok(())
}
