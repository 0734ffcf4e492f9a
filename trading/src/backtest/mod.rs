//! # Backtesting: replaying a model's predictions over bars
//!
//! Pure Rust, no I/O: [`Backtester`] takes bars, one [`Prediction`] per bar and a [`BacktestConfig`],
//! walks the bars once (O(n), nothing allocated per bar beyond pushes to the trade list and the
//! equity samples) and returns a [`BacktestMetrics`]. Its whole mutable state is a serialisable
//! [`BacktestState`], so a worker can checkpoint a long backtest and resume it elsewhere.
//!
//! ## Rules
//!
//! - **Execution.** The prediction made at bar *i*'s close executes at bar *i + 1*'s open; a
//!   prediction on the last bar is never executed. A buy fills at `open · (1 + slippage)`, a sell at
//!   `open · (1 − slippage)`: slippage is always against the trader.
//! - **Filters.** A prediction whose confidence is below `confidence_threshold` is ignored (equal
//!   to it is acted on). `HOLD` does nothing. After a trade action executed at bar *a*, the next
//!   one may execute at bar *b* only when `b − a ≥ min_separation_bars` (0 and 1 both mean "no
//!   restriction", since at most one action happens per bar).
//! - **Positions.** Long and short, one position at a time, in whole units:
//!   `quantity = floor(position_fraction · equity_at_signal / fill_price)`, where
//!   `equity_at_signal` is the equity at the close of the signal bar. A quantity of 0 opens nothing.
//!   - `BUY` when flat opens a long; when long it does nothing; when short it closes the short and
//!     opens a long at the same fill price (a *reversal*). `SELL` mirrors it.
//!   - A reversal is one trade action for the separation rule. Its closing leg always happens; its
//!     opening leg only when the quantity is at least 1 (then the action just closes).
//!   - A signal that changes nothing (`BUY` while long, quantity 0 when flat, filtered out) is not a
//!     trade action and does not restart the separation count.
//! - **Cash.** With `c = commission · quantity · price` on every leg:
//!   long entry `cash −= q·p + c`, long exit `cash += q·p − c`, short entry `cash += q·p − c`,
//!   short exit `cash −= q·p + c`. Cash may go negative (a long with `position_fraction` 1 and
//!   commission, or a losing short); nothing is refused for it.
//! - **Equity** at every bar's close is `cash + position value`, the value being `+q·close` for a
//!   long and `−q·close` for a short.
//! - **End.** A position still open at the last bar is closed at that bar's close, with slippage
//!   and commission, before the last equity is taken; so the final equity is cash.
//! - **Trades.** Each closed position is a [`Trade`]. `gross_pnl = ±q·(exit − entry)` with the fill
//!   prices (slippage included), `commission` is both legs, `net_pnl = gross_pnl − commission`.
//!   `mfe`/`mae` are the best and worst unrealised PnL in money, before commission, from the highs
//!   and lows of the bars the position was held over (for a long `q·(high − entry)` and
//!   `q·(low − entry)`, mirrored for a short). Both start at 0, the PnL at the moment of entry, so
//!   `mfe ≥ 0 ≥ mae`. The bars held over are those from the entry bar (entered at its open) to the
//!   bar before the exit bar for an exit at an open, or to the last bar for the final close;
//!   `bars_held` counts them.
//!
//! ## Metrics
//!
//! Per-bar returns are `equity_i / equity_{i−1} − 1` between consecutive closes (bars 1 … n−1;
//! skipped where the previous equity is not positive, as a return means nothing there). With
//! `P = periods_per_year` (bars per year of the data's own calendar, see
//! `market_data::calendar`) and `Y` = the years elapsed from the first bar's timestamp to the
//! last's (days / 365.25):
//!
//! - `total_return = final / initial − 1`; `annualized_return = (final / initial)^(1 / Y) − 1`
//!   (0 for a single bar, −1 when the final equity is not positive) — from elapsed time, so
//!   weekends and holidays without bars count as the time they are;
//! - `volatility` = sample standard deviation of the returns · √P; `sharpe` = mean / std · √P
//!   (risk-free rate 0; 0 when std is 0 or there are fewer than two returns); `sortino` = mean /
//!   downside deviation · √P, the downside deviation being `√(Σ min(r, 0)² / count)` (0 when it is 0);
//! - `max_drawdown`: the largest `(peak − equity) / peak` over the closes, peak starting at the
//!   initial capital (a positive fraction); `calmar = annualized_return / max_drawdown`, 0 when
//!   there is no drawdown; `max_drawdown_duration_bars`: the most bars from a close at the peak to
//!   a later close still below it (a drawdown ends at the first close back at or above its peak,
//!   or lasts to the last bar), and `max_drawdown_duration_days` the time between those two closes;
//! - over trades' `net_pnl`: `win_rate` (wins `> 0` / trades, 0 without trades), `profit_factor`
//!   (sum of wins / |sum of losses|, `None` when there are no losses), `avg_win` (mean winning
//!   `net_pnl`, 0 without wins), `avg_loss` (mean losing `net_pnl`, negative, 0 without losses),
//!   `expectancy` (mean `net_pnl` per trade, 0 without trades) and `sqn` (Van Tharp's system
//!   quality number `√N · mean / sample std` of `net_pnl`, 0 with fewer than two trades or no
//!   spread); `total_commission` is accumulated on every leg as it is paid;
//! - `exposure`: the fraction of the bars a position was held over (`Σ bars_held / n`);
//!   `buy_and_hold_return`: `last close / first close − 1`, holding the instrument over the same
//!   bars without costs, the return to beat.
//!
//! No result holds NaN or an infinity: where a ratio is undefined the rules above give 0 or `None`,
//! and the one value that can overflow — annualising a big gain over a few bars of a short
//! timeframe — saturates at `f64::MAX` (as does the calmar ratio built from it).
//!
//! ## Equity curve
//!
//! At most `equity_samples` points `(ts, equity)` at bar closes: every `stride`-th bar from bar 0,
//! `stride = max(1, ⌈(n − 1) / (equity_samples − 1)⌉)`, plus the last bar. It depends on bar indices
//! only, so it is the same however the run is chunked.
//!
//! ## Checkpoints
//!
//! [`Backtester::run_until`] processes bars in chunks; [`Backtester::state`] is the checkpoint;
//! [`Backtester::resume`] continues from it (with the same bars, predictions and config).
//! Running in one go and running in chunks with a `serde_json` round trip of the state in between
//! give the same result bit for bit: the per-bar work is identical whatever the chunking, the
//! running sums are updated in the same order, and the state writes its floats as decimal strings
//! (shortest round-trip form) because `serde_json` parses numbers without correct rounding unless
//! its `float_roundtrip` feature is on (about one in eight 17-digit values came back 1 ULP off).
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use ktrdr_trading::backtest::{BacktestConfig, Backtester, Prediction, Signal};
//! use ktrdr_trading::market_data::{Bar, Timeframe};
//!
//! let ts = |h| Utc.with_ymd_and_hms(2024, 1, 1, h, 0, 0).unwrap();
//! let bar = |h, price: f64| Bar { ts: ts(h), open: price, high: price, low: price, close: price, volume: 0.0 };
//! let bars = [bar(0, 100.0), bar(1, 100.0), bar(2, 110.0)];
//! let buy = Prediction { signal: Signal::Buy, confidence: 0.9 };
//! let hold = Prediction { signal: Signal::Hold, confidence: 0.9 };
//! let predictions = [buy, hold, hold];
//! let mut config = BacktestConfig::for_timeframe(Timeframe::H1);
//! config.commission = 0.0;
//! config.slippage = 0.0;
//! let result = Backtester::new(&bars, &predictions, config).unwrap().finish();
//! assert_eq!(result.trades, 1);
//! // 250 units bought at 100 with a quarter of 100 000, sold at 110 on the last close.
//! assert_eq!(result.final_equity, 102_500.0);
//! ```

mod config;
mod engine;
mod exact;
mod metrics;
mod sampling;
mod state;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{features, market_data::Bar};

pub use config::BacktestConfig;
pub use engine::Backtester;
pub use state::{BacktestState, OpenPosition, ReturnStats};

/// What the model says to do at a bar's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Buy,
    Hold,
    Sell,
}

impl Signal {
    /// The signal of a classifier output, in the labels' class order (`features::Label`); `None`
    /// for any other index.
    pub fn from_class(class: usize) -> Option<Signal> {
        [Signal::Buy, Signal::Hold, Signal::Sell]
            .into_iter()
            .find(|signal| signal.class() == class)
    }

    /// The class index of this signal (inverse of [`Signal::from_class`]).
    pub fn class(self) -> usize {
        usize::from(match self {
            Signal::Buy => features::BUY,
            Signal::Hold => features::HOLD,
            Signal::Sell => features::SELL,
        })
    }
}

/// The model's output for one bar: the chosen signal and its probability, in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub signal: Signal,
    pub confidence: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Long,
    Short,
}

impl std::fmt::Display for Side {
    /// `LONG` or `SHORT`, as tables for people show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Long => "LONG",
            Side::Short => "SHORT",
        })
    }
}

impl Side {
    /// +1 for a long, −1 for a short: the sign of the PnL of a price rise.
    pub fn sign(self) -> f64 {
        match self {
            Side::Long => 1.0,
            Side::Short => -1.0,
        }
    }
}

/// One closed position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub entry_time: DateTime<Utc>,
    pub exit_time: DateTime<Utc>,
    /// Fill price, slippage included.
    pub entry_price: f64,
    /// Fill price, slippage included.
    pub exit_price: f64,
    pub side: Side,
    pub quantity: u64,
    /// `±quantity · (exit_price − entry_price)`, before commission.
    pub gross_pnl: f64,
    /// Commission of both legs.
    pub commission: f64,
    pub net_pnl: f64,
    /// Best unrealised PnL while open (≥ 0), before commission.
    pub mfe: f64,
    /// Worst unrealised PnL while open (≤ 0), before commission.
    pub mae: f64,
    pub bars_held: usize,
}

/// Equity at one bar's close.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    pub ts: DateTime<Utc>,
    pub equity: f64,
}

/// Everything a backtest reports; see the module documentation for the definitions. Contains no
/// NaN or infinity, so it always serialises to plain JSON numbers (`profit_factor` may be null).
/// Fields added after the first release default to 0 when a stored result lacks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestMetrics {
    /// Bars replayed.
    pub bars: usize,
    /// Bars per year the annualised figures use (0 in results stored before it was recorded).
    #[serde(default)]
    pub periods_per_year: f64,
    pub initial_capital: f64,
    pub final_equity: f64,
    pub total_return: f64,
    pub annualized_return: f64,
    pub volatility: f64,
    pub sharpe: f64,
    pub sortino: f64,
    pub max_drawdown: f64,
    pub calmar: f64,
    /// Number of closed trades (the list is `trade_list`).
    pub trades: usize,
    pub win_rate: f64,
    pub profit_factor: Option<f64>,
    pub avg_win: f64,
    pub avg_loss: f64,
    pub total_commission: f64,
    #[serde(default)]
    pub buy_and_hold_return: f64,
    #[serde(default)]
    pub exposure: f64,
    #[serde(default)]
    pub max_drawdown_duration_bars: usize,
    #[serde(default)]
    pub max_drawdown_duration_days: f64,
    #[serde(default)]
    pub expectancy: f64,
    #[serde(default)]
    pub sqn: f64,
    pub equity_curve: Vec<EquityPoint>,
    pub trade_list: Vec<Trade>,
}

/// Why a backtest cannot start or resume; messages name the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BacktestError {
    #[error(
        "{bars} bars but {predictions} predictions: a backtest needs exactly one prediction per bar"
    )]
    LengthMismatch { bars: usize, predictions: usize },
    #[error("no bars to backtest")]
    NoBars,
    #[error("invalid backtest config: {0}")]
    InvalidConfig(String),
    #[error("bar {index} ({ts}): {reason}")]
    InvalidBar {
        index: usize,
        ts: DateTime<Utc>,
        reason: String,
    },
    #[error("prediction {index}: {reason}")]
    InvalidPrediction { index: usize, reason: String },
    #[error("the checkpoint state does not fit these bars: {0}")]
    StateMismatch(String),
}

impl From<BacktestError> for crate::Error {
    fn from(err: BacktestError) -> Self {
        crate::Error::InvalidInput(err.to_string())
    }
}

/// Runs a whole backtest in one call.
pub fn backtest(
    bars: &[Bar],
    predictions: &[Prediction],
    config: BacktestConfig,
) -> Result<BacktestMetrics, BacktestError> {
    Ok(Backtester::new(bars, predictions, config)?.finish())
}
