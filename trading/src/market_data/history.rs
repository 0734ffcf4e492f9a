//! Loading a window of bars together with the history its indicators need. A backtest that starts
//! at `--start` must not warm its indicators up inside the window (its first bars could not trade,
//! and the rest would see other values than a run over the whole series): the strategy's
//! `training_data.history_required` bars before the window are loaded too, when they exist, and
//! only the window is traded.

use sqlx::PgPool;

use crate::{
    Result,
    market_data::{Bar, BarRange, load},
};

/// Bars of a window and the history before it, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct WithHistory {
    /// The history (`warmup` bars), then the window.
    pub bars: Vec<Bar>,
    /// How many of `bars` come before the window.
    pub warmup: usize,
}

impl WithHistory {
    /// The window's bars, without the history.
    pub fn window(&self) -> &[Bar] {
        &self.bars[self.warmup..]
    }
}

/// The bars of `range` and up to `history` stored bars before its start (none when the range has
/// no start: it begins with the series).
pub async fn load_with_history(
    pool: &PgPool,
    range: &BarRange<'_>,
    history: usize,
) -> Result<WithHistory> {
    let mut bars: Vec<Bar> = match range.start {
        Some(start) if history > 0 => {
            sqlx::query_as(
                "SELECT ts, open, high, low, close, volume FROM ktrdr.bars
                 WHERE symbol = $1 AND timeframe = $2 AND ts < $3
                 ORDER BY ts DESC LIMIT $4",
            )
            .bind(range.symbol)
            .bind(range.timeframe.as_str())
            .bind(start)
            .bind(i64::try_from(history).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
        }
        _ => Vec::new(),
    };
    bars.reverse();
    let warmup = bars.len();
    bars.extend(load(pool, range).await?);
    Ok(WithHistory { bars, warmup })
}
