//! `ktrdr data import` on files as real sources write them — pandas, Date+Time, Dukascopy,
//! MetaTrader 5, HistData, Binance, a header-less file named by `--columns` — each written here and
//! checked bar for bar against what the database holds; the refusals (implausible Unix times, bars
//! spaced unlike `--timeframe`, real bars over synthetic ones); sources in `data list`; `data
//! delete`; and the memory an import takes, whatever the file's size.

mod support;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Duration, TimeZone, Utc};
use ktrdr_testkit::TestDatabase;
use ktrdr_trading::market_data::{self, Bar, BarRange, Timeframe};
use sha2::{Digest, Sha256};
use support::{ktrdr, stderr};

/// A file named `name` in a fresh directory of this test process.
fn sample(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ktrdr-real-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn import(
    db: &TestDatabase,
    path: &Path,
    symbol: &str,
    timeframe: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "data",
        "import",
        path.to_str().unwrap(),
        "--symbol",
        symbol,
        "--timeframe",
        timeframe,
    ];
    args.extend_from_slice(extra);
    ktrdr(db.url(), &args)
}

async fn stored(db: &TestDatabase, symbol: &str, timeframe: Timeframe) -> Vec<Bar> {
    let range = BarRange {
        symbol,
        timeframe,
        start: None,
        end: None,
    };
    market_data::load(&db.pool, &range).await.unwrap()
}

/// The three hourly bars every sample file writes, in its own way.
fn expected() -> Vec<Bar> {
    let at = |hour| Utc.with_ymd_and_hms(2020, 1, 2, hour, 0, 0).unwrap();
    vec![
        Bar {
            ts: at(0),
            open: 1.1205,
            high: 1.1215,
            low: 1.1201,
            close: 1.1210,
            volume: 150.0,
        },
        Bar {
            ts: at(1),
            open: 1.1210,
            high: 1.1222,
            low: 1.1208,
            close: 1.1219,
            volume: 0.0,
        },
        Bar {
            ts: at(2),
            open: 1.1219,
            high: 1.1225,
            low: 1.1199,
            close: 1.1203,
            volume: 98.5,
        },
    ]
}

#[tokio::test]
async fn every_format_stores_the_same_bars() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    // (symbol, file name, content, extra arguments); the second bar's volume is empty or 0.
    let samples: [(&str, &str, String, &[&str]); 9] = [
        ("PANDAS", "pandas.csv", ",Open,High,Low,Close,Volume\n\
          2020-01-02 00:00:00,1.1205,1.1215,1.1201,1.1210,150\n\
          2020-01-02 01:00:00,1.1210,1.1222,1.1208,1.1219,\n\
          2020-01-02 02:00:00+00:00,1.1219,1.1225,1.1199,1.1203,98.5\n".into(), &[]),
        ("DATETIME", "date-time.csv", "Date,Time,Open,High,Low,Close,Volume\n\
          2020-01-02,00:00,1.1205,1.1215,1.1201,1.1210,150\n\
          2020-01-02,01:00,1.1210,1.1222,1.1208,1.1219,0\n\
          2020-01-02,02:00,1.1219,1.1225,1.1199,1.1203,98.5\n".into(), &[]),
        ("DUKAS", "dukascopy.csv", "Gmt time,Open,High,Low,Close,Volume\n\
          02.01.2020 00:00:00.000,1.1205,1.1215,1.1201,1.1210,150\n\
          02.01.2020 01:00:00.000,1.1210,1.1222,1.1208,1.1219,0\n\
          02.01.2020 02:00:00.000,1.1219,1.1225,1.1199,1.1203,98.5\n".into(), &[]),
        ("MT5", "mt5.csv", "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\r\n\
          2020.01.02\t00:00:00\t1.1205\t1.1215\t1.1201\t1.1210\t7\t150\t2\r\n\
          2020.01.02\t01:00:00\t1.1210\t1.1222\t1.1208\t1.1219\t8\t0\t2\r\n\
          2020.01.02\t02:00:00\t1.1219\t1.1225\t1.1199\t1.1203\t9\t98.5\t2\r\n".into(), &[]),
        ("MT4", "mt4.csv", "2020.01.02,00:00,1.1205,1.1215,1.1201,1.1210,150\n\
          2020.01.02,01:00,1.1210,1.1222,1.1208,1.1219,0\n\
          2020.01.02,02:00,1.1219,1.1225,1.1199,1.1203,98.5\n".into(), &[]),
        ("HISTDATA", "histdata.csv", "20200102 000000;1.1205;1.1215;1.1201;1.1210;150\n\
          20200102 010000;1.1210;1.1222;1.1208;1.1219;0\n\
          20200102 020000;1.1219;1.1225;1.1199;1.1203;98.5\n".into(), &[]),
        ("BINANCE", "binance.csv", "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n\
          1577923200000,1.1205,1.1215,1.1201,1.1210,150,1577926799999,168,12,70,78,0\n\
          1577926800000,1.1210,1.1222,1.1208,1.1219,0,1577930399999,0,0,0,0,0\n\
          1577930400000,1.1219,1.1225,1.1199,1.1203,98.5,1577933999999,110,9,40,45,0\n".into(), &[]),
        ("COLUMNS", "columns.txt", "1.1205|1.1215|1.1201|1.1210|150|1577923200\n\
          1.1210|1.1222|1.1208|1.1219||1577926800\n\
          1.1219|1.1225|1.1199|1.1203|98.5|1577930400\n".into(),
          &["--delimiter", "|", "--columns", "open,high,low,close,volume,timestamp"]),
        ("UPPER", "upper.csv", "TIMESTAMP;OPEN;HIGH;LOW;CLOSE;VOLUME\n\
          2020-01-02T00:00:00Z;1.1205;1.1215;1.1201;1.1210;150\n\
          2020-01-02T01:00:00+00:00;1.1210;1.1222;1.1208;1.1219;0\n\
          2020-01-02T03:00:00+01:00;1.1219;1.1225;1.1199;1.1203;98.5\n".into(), &[]),
    ];
    for (symbol, name, content, extra) in samples {
        let path = sample(name, &content);
        let output = import(&db, &path, symbol, "1h", extra);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert_eq!(
            stored(&db, symbol, Timeframe::H1).await,
            expected(),
            "{name}"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.starts_with(&format!("{symbol} 1h: 3 bars (3 new, 0 updated)")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("from {name} (sha256 ")),
            "{stdout}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn what_was_assumed_is_said() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    let path = sample(
        "ms.csv",
        "20200102 000000;1.1205;1.1215;1.1201;1.1210;150\n",
    );
    let output = import(&db, &path, "H", "1h", &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let notes = json["notes"].to_string();
    for said in [
        "fields separated by ';'",
        "no header: fields read as timestamp,open,high,low,close,volume",
        "timestamps read as %Y%m%d %H%M%S (UTC)",
    ] {
        assert!(notes.contains(said), "{said}: {notes}");
    }
    let path = sample(
        "ms2.csv",
        "open_time,open,high,low,close\n1577923200000,1,1,1,1\n",
    );
    let output = import(&db, &path, "MS", "1h", &["--json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert!(
        json["notes"]
            .to_string()
            .contains("timestamps read as Unix milliseconds"),
        "{json}"
    );
    assert_eq!(
        stored(&db, "MS", Timeframe::H1).await[0].ts,
        Utc.with_ymd_and_hms(2020, 1, 2, 0, 0, 0).unwrap()
    );
    Ok(())
}

#[tokio::test]
async fn implausible_times_and_contradicting_spacing_are_refused() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    let cases = [
        (
            "timestamp,open,high,low,close\n99999999999999999,1,1,1,1\n",
            "1h",
            ":2: timestamp 99999999999999999 is not between 1970 and 2100 as Unix seconds, milliseconds or microseconds",
        ),
        (
            "timestamp,open,high,low,close\n1577923200,1,1,1,1\n1577926800000,1,1,1,1\n",
            "1h",
            ":3: timestamp 1577926800000 is not between 1970 and 2100 as Unix seconds (the unit the first row implied)",
        ),
        (
            "timestamp,open,high,low,close\n2020-01-02,1,1,1,1\n2020.01.03,1,1,1,1\n",
            "1d",
            "",
        ),
    ];
    for (content, timeframe, message) in cases {
        let path = sample("bad.csv", content);
        let output = import(&db, &path, "BAD", timeframe, &[]);
        if message.is_empty() {
            assert!(output.status.success(), "{}", stderr(&output));
            continue;
        }
        assert!(!output.status.success());
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }

    // Daily bars with weekends off: 1d, not 1h.
    let mut daily = String::from("Date,Open,High,Low,Close,Volume\n");
    let mut day = Utc.with_ymd_and_hms(2021, 3, 1, 0, 0, 0).unwrap();
    let mut days = Vec::new();
    while days.len() < 40 {
        if !matches!(day.format("%a").to_string().as_str(), "Sat" | "Sun") {
            daily.push_str(&format!("{},10,11,9,10.5,1000\n", day.format("%Y-%m-%d")));
            days.push(day);
        }
        day += Duration::days(1);
    }
    let path = sample("daily.csv", &daily);
    let output = import(&db, &path, "SPY", "1h", &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("the bars are 1d apart (32 of 39 intervals; gaps longer than that are ignored), not 1h as --timeframe says: import them with --timeframe 1d"),
        "{}", stderr(&output)
    );
    assert!(stored(&db, "SPY", Timeframe::H1).await.is_empty());
    let output = import(&db, &path, "SPY", "1d", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let loaded: Vec<DateTime<Utc>> = stored(&db, "SPY", Timeframe::D1)
        .await
        .iter()
        .map(|bar| bar.ts)
        .collect();
    assert_eq!(loaded, days);
    Ok(())
}

#[tokio::test]
async fn real_bars_do_not_mix_with_synthetic_ones_and_sources_are_listed() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    let synth = [
        "data",
        "synth",
        "--symbol",
        "EURUSD",
        "--start",
        "2020-01-01",
        "--end",
        "2020-01-08",
        "--seed",
        "9",
    ];
    let output = ktrdr(db.url(), &synth);
    assert!(output.status.success(), "{}", stderr(&output));
    let synthetic = stored(&db, "EURUSD", Timeframe::H1).await;

    let content =
        ",Open,High,Low,Close,Volume\n2020-01-02 00:00:00,1.1205,1.1215,1.1201,1.1210,150\n";
    let path = sample("eurusd.csv", content);
    let output = import(&db, &path, "EURUSD", "1h", &[]);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        format!(
            "error: EURUSD 1h holds {} synthetic bars; adding real (imported) bars would mix the two: add --replace to delete them first, or use another --symbol",
            synthetic.len()
        )
    );
    assert_eq!(stored(&db, "EURUSD", Timeframe::H1).await, synthetic);
    // Nor the reverse.
    let output = import(&db, &path, "REAL", "1h", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = ktrdr(
        db.url(),
        &[
            "data",
            "synth",
            "--symbol",
            "REAL",
            "--start",
            "2020-01-01",
            "--end",
            "2020-01-08",
        ],
    );
    assert!(
        stderr(&output).contains("REAL 1h holds 1 real (imported) bars; adding synthetic bars"),
        "{}",
        stderr(&output)
    );

    let output = import(&db, &path, "EURUSD", "1h", &["--replace", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(json["replaced"], synthetic.len());
    assert_eq!(stored(&db, "EURUSD", Timeframe::H1).await.len(), 1);

    let sha256: String = Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let output = ktrdr(db.url(), &["data", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let eurusd = &list.as_array().unwrap()[0];
    assert_eq!(eurusd["symbol"], "EURUSD");
    assert_eq!(eurusd["sources"].as_array().unwrap().len(), 1, "{eurusd}");
    assert_eq!(eurusd["sources"][0]["kind"], "file");
    assert_eq!(eurusd["sources"][0]["file_name"], "eurusd.csv");
    assert_eq!(eurusd["sources"][0]["identity"], sha256.as_str());
    let output = ktrdr(
        db.url(),
        &[
            "data",
            "synth",
            "--symbol",
            "SYN",
            "--start",
            "2020-01-01",
            "--end",
            "2020-01-03",
            "--seed",
            "9",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&ktrdr(db.url(), &["data", "list"]).stdout).to_string();
    assert!(
        table.contains(&format!("eurusd.csv (sha256 {})", &sha256[..12])),
        "{table}"
    );
    assert!(table.contains("synth seed 9"), "{table}");

    let output = ktrdr(db.url(), &["data", "delete", "EURUSD", "1h", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(json["deleted"], 1);
    let output = ktrdr(db.url(), &["data", "delete", "EURUSD", "1h"]);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "error: no bars for EURUSD 1h: `ktrdr data list` shows what is loaded"
    );
    Ok(())
}

/// The largest resident set of any child this process has waited for, in bytes.
fn peak_child_rss() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss as u64 * 1024
}

#[tokio::test]
async fn a_large_file_imports_in_bounded_memory() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    // About 48 MB of 1-minute bars (a year and a half), written line by line: the test process
    // stays small, so that a child forked from it starts small too. Read whole, with its bars in
    // memory, the import would take more than the file's size.
    let start = Utc
        .with_ymd_and_hms(2019, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let rows = 800_000;
    let path = sample("large.csv", "");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(file, "Gmt time,Open,High,Low,Close,Volume")?;
    for i in 0..rows {
        let ts = DateTime::from_timestamp(start + 60 * i as i64, 0).unwrap();
        let price = 1.1 + (i % 997) as f64 / 100_000.0;
        writeln!(
            file,
            "{},{price:.5},{:.5},{:.5},{price:.5},{}",
            ts.format("%d.%m.%Y %H:%M:%S%.3f"),
            price + 0.0002,
            price - 0.0002,
            i % 500
        )?;
    }
    file.flush()?;
    drop(file);
    let size = std::fs::metadata(&path)?.len();
    let output = import(&db, &path, "BIG", "1m", &[]);
    std::fs::remove_file(&path)?;
    assert!(output.status.success(), "{}", stderr(&output));
    let peak = peak_child_rss();
    assert_eq!(stored(&db, "BIG", Timeframe::M1).await.len(), rows);
    assert!(
        peak > 0 && peak < size,
        "the import of {size} bytes grew to {peak} bytes"
    );
    Ok(())
}
