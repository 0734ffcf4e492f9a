//! The checkpoint: everything the bar loop changes, as plain serialisable data. Resuming from a
//! state is processing the remaining bars with it, so [`BacktestState::check_fits`] makes sure a
//! state really belongs to the bars and config it is resumed with before anything runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BacktestConfig, BacktestError, EquityPoint, Side, Trade, exact, sampling};
use crate::market_data::Bar;

/// The whole mutable state of a backtest. Floats are serialised as exact decimal strings (see
/// `exact.rs`), so a JSON round trip gives back the same bits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestState {
    /// Number of bars of the run; a state only resumes on as many bars.
    pub bar_count: usize,
    /// The next bar to process; `bar_count` when finished.
    pub next_bar: usize,
    /// Timestamp of bar `next_bar − 1`, to recognise the bars on resume; `None` before bar 0.
    pub last_bar_ts: Option<DateTime<Utc>>,
    #[serde(with = "exact::float")]
    pub cash: f64,
    /// Equity at the close of bar `next_bar − 1` (the initial capital before bar 0): the equity at
    /// the signal for the next execution, and the base of the next per-bar return.
    #[serde(with = "exact::float")]
    pub equity: f64,
    pub position: Option<OpenPosition>,
    /// Bar at whose open the last trade action executed.
    pub last_action_bar: Option<usize>,
    #[serde(with = "exact::trades")]
    pub trades: Vec<Trade>,
    /// Commission paid so far, accumulated leg by leg.
    #[serde(with = "exact::float")]
    pub total_commission: f64,
    pub returns: ReturnStats,
    /// Highest equity so far (starting at the initial capital), for the drawdown.
    #[serde(with = "exact::float")]
    pub peak_equity: f64,
    #[serde(with = "exact::float")]
    pub max_drawdown: f64,
    /// Bar of the last close at or above the peak: the start of the current drawdown, if any.
    /// (Defaults let a checkpoint from before these fields resume; its durations then start late.)
    #[serde(default)]
    pub peak_bar: usize,
    /// The longest drawdown so far, in bars from its peak…
    #[serde(default)]
    pub max_drawdown_bars: usize,
    /// …and the bar of that peak.
    #[serde(default)]
    pub max_drawdown_from_bar: usize,
    #[serde(with = "exact::equity_points")]
    pub equity_samples: Vec<EquityPoint>,
}

/// The position held, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenPosition {
    pub side: Side,
    pub quantity: u64,
    #[serde(with = "exact::float")]
    pub entry_price: f64,
    pub entry_time: DateTime<Utc>,
    /// Bar at whose open the position was entered.
    pub entry_bar: usize,
    #[serde(with = "exact::float")]
    pub entry_commission: f64,
    /// Running best unrealised PnL (starts at 0).
    #[serde(with = "exact::float")]
    pub mfe: f64,
    /// Running worst unrealised PnL (starts at 0).
    #[serde(with = "exact::float")]
    pub mae: f64,
}

/// Running moments of the per-bar equity returns: Welford's mean and sum of squared deviations
/// (stable where `Σr² − (Σr)²/n` would cancel), and the sum of squared negative returns for the
/// downside deviation. Updated in bar order, so chunking cannot change them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReturnStats {
    pub count: u64,
    #[serde(with = "exact::float")]
    pub mean: f64,
    #[serde(with = "exact::float")]
    pub m2: f64,
    #[serde(with = "exact::float")]
    pub downside_sq_sum: f64,
}

impl ReturnStats {
    pub(super) fn push(&mut self, r: f64) {
        self.count += 1;
        let delta = r - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (r - self.mean);
        if r < 0.0 {
            self.downside_sq_sum += r * r;
        }
    }
}

impl BacktestState {
    /// The state before bar 0.
    pub(super) fn initial(bar_count: usize, config: &BacktestConfig) -> Self {
        BacktestState {
            bar_count,
            next_bar: 0,
            last_bar_ts: None,
            cash: config.initial_capital,
            equity: config.initial_capital,
            position: None,
            last_action_bar: None,
            trades: Vec::new(),
            total_commission: 0.0,
            returns: ReturnStats::default(),
            peak_equity: config.initial_capital,
            max_drawdown: 0.0,
            peak_bar: 0,
            max_drawdown_bars: 0,
            max_drawdown_from_bar: 0,
            equity_samples: Vec::with_capacity(config.equity_samples.min(bar_count)),
        }
    }

    /// Refuses a state saved for other bars (count, timestamps) or another sampling config, and
    /// one that is internally inconsistent. Inputs must already have passed validation.
    pub(super) fn check_fits(
        &self,
        bars: &[Bar],
        config: &BacktestConfig,
    ) -> Result<(), BacktestError> {
        let mismatch = |why: String| Err(BacktestError::StateMismatch(why));
        let n = bars.len();
        if self.bar_count != n {
            return mismatch(format!("it was saved for {} bars, not {n}", self.bar_count));
        }
        if self.next_bar > n {
            return mismatch(format!("next bar {} is past the {n} bars", self.next_bar));
        }
        let expected_ts = self.next_bar.checked_sub(1).map(|last| bars[last].ts);
        if self.last_bar_ts != expected_ts {
            return mismatch(format!(
                "its last processed bar has timestamp {}, the bars have {} there",
                show(self.last_bar_ts),
                show(expected_ts)
            ));
        }
        if let Some(position) = &self.position {
            if self.next_bar == n {
                return mismatch("a position is open although all bars are processed".into());
            }
            if position.entry_bar >= self.next_bar {
                return mismatch(format!(
                    "its position was entered at bar {}, not yet processed (next bar {})",
                    position.entry_bar, self.next_bar
                ));
            }
            if bars[position.entry_bar].ts != position.entry_time {
                return mismatch(format!(
                    "its position was entered at {} but bar {} is at {}",
                    position.entry_time.to_rfc3339(),
                    position.entry_bar,
                    bars[position.entry_bar].ts.to_rfc3339()
                ));
            }
            if position.quantity == 0 {
                return mismatch("its position has quantity 0".into());
            }
        }
        if let Some(last) = self.last_action_bar
            && last >= self.next_bar
        {
            return mismatch(format!(
                "its last trade action is at bar {last}, not yet processed (next bar {})",
                self.next_bar
            ));
        }
        if self.next_bar > 0
            && (self.peak_bar >= self.next_bar
                || self.max_drawdown_from_bar + self.max_drawdown_bars >= self.next_bar)
        {
            return mismatch(format!(
                "its drawdown bookkeeping (peak at bar {}, longest drawdown {} bars from bar {}) \
                 lies past the processed bars (next bar {})",
                self.peak_bar, self.max_drawdown_bars, self.max_drawdown_from_bar, self.next_bar
            ));
        }
        let expected_samples =
            sampling::samples_before(self.next_bar, n, sampling::stride(n, config.equity_samples));
        if self.equity_samples.len() != expected_samples {
            return mismatch(format!(
                "it holds {} equity samples where {} bars with equity_samples = {} give {}",
                self.equity_samples.len(),
                self.next_bar,
                config.equity_samples,
                expected_samples
            ));
        }
        let floats = [
            ("cash", self.cash),
            ("equity", self.equity),
            ("total_commission", self.total_commission),
            ("peak_equity", self.peak_equity),
            ("max_drawdown", self.max_drawdown),
        ];
        if let Some((name, value)) = floats.iter().find(|(_, value)| !value.is_finite()) {
            return mismatch(format!("{name} is {value}"));
        }
        Ok(())
    }
}

fn show(ts: Option<DateTime<Utc>>) -> String {
    ts.map_or_else(|| "none (no bar processed)".into(), |ts| ts.to_rfc3339())
}
