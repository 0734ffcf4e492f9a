//! Loading a backtest's window with its indicators' history, and measuring a stored series'
//! calendar, against a real PostgreSQL.

use chrono::{TimeZone, Utc};
use ktrdr_testkit::TestDatabase;
use ktrdr_trading::market_data::{
    self, BarRange, Calendar, SynthSpec, Timeframe, load_with_history, synthesize,
};

#[tokio::test]
async fn a_window_comes_with_up_to_its_history_of_earlier_bars() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let bars = synthesize(&SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        start: Utc.with_ymd_and_hms(2022, 1, 3, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2022, 3, 1, 0, 0, 0).unwrap(),
        seed: 2,
    })?;
    market_data::store(
        pool,
        "EURUSD",
        Timeframe::H1,
        &market_data::Source::Synth { seed: 2 },
        &bars,
    )
    .await?;
    let range = |start: Option<usize>, end: Option<usize>| BarRange {
        symbol: "EURUSD",
        timeframe: Timeframe::H1,
        start: start.map(|i| bars[i].ts),
        end: end.map(|i| bars[i].ts),
    };

    let loaded = load_with_history(pool, &range(Some(500), Some(900)), 200).await?;
    assert_eq!(loaded.warmup, 200);
    assert_eq!(loaded.bars, bars[300..900]);
    assert_eq!(loaded.window(), &bars[500..900]);

    // Near the series' start there is less history than asked for.
    let loaded = load_with_history(pool, &range(Some(50), None), 200).await?;
    assert_eq!(loaded.warmup, 50);
    assert_eq!(loaded.bars, bars);

    // Without a start the window begins with the series: nothing comes before it.
    let loaded = load_with_history(pool, &range(None, Some(100)), 200).await?;
    assert_eq!((loaded.warmup, loaded.bars.as_slice()), (0, &bars[..100]));

    // The calendar is the whole series', whatever the window.
    let calendar = Calendar::of_series(pool, &range(Some(500), Some(900))).await?;
    let expected = Calendar::of_timestamps(
        &bars.iter().map(|bar| bar.ts).collect::<Vec<_>>(),
        Timeframe::H1,
    );
    assert_eq!(calendar, expected);
    let calendar = calendar.unwrap();
    assert_eq!(calendar.bars, bars.len() as u64);
    assert!(calendar.is_short());
    let other = BarRange {
        symbol: "GBPUSD",
        ..range(None, None)
    };
    assert_eq!(Calendar::of_series(pool, &other).await?, None);
    Ok(())
}
