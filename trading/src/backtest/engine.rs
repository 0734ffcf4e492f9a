//! The bar loop. Each bar is processed in the same fixed order whatever the chunking:
//!
//! 1. execute the previous bar's prediction at this bar's open (filters, reversal, sizing);
//! 2. update the open position's MFE/MAE with this bar's high and low;
//! 3. on the last bar, close what is still open at the close;
//! 4. take the equity at the close, update return moments and drawdown, sample the curve.
//!
//! Nothing here allocates except pushes to the trade list and the equity samples, and nothing can
//! fail: the inputs were validated when the [`Backtester`] was built.

use super::{
    BacktestConfig, BacktestError, BacktestMetrics, BacktestState, OpenPosition, Prediction, Side,
    Signal, Trade, config::validate_inputs, metrics, sampling,
};
use crate::market_data::Bar;

/// A backtest in progress over borrowed bars and predictions.
#[derive(Debug)]
pub struct Backtester<'a> {
    bars: &'a [Bar],
    predictions: &'a [Prediction],
    config: BacktestConfig,
    /// Equity-curve stride, derived from the bar count and config (not state: it never changes).
    sample_stride: usize,
    state: BacktestState,
}

impl<'a> Backtester<'a> {
    /// Validates the inputs (equal lengths, at least one bar, sane config, consistent positive
    /// bars, confidences in `[0, 1]`) and starts before bar 0.
    pub fn new(
        bars: &'a [Bar],
        predictions: &'a [Prediction],
        config: BacktestConfig,
    ) -> Result<Self, BacktestError> {
        validate_inputs(bars, predictions, &config)?;
        let state = BacktestState::initial(bars.len(), &config);
        Ok(Self::assemble(bars, predictions, config, state))
    }

    /// Continues from a checkpoint taken with [`Backtester::state`]; the bars, predictions and
    /// config must be those of the original run (the bars and sampling are checked).
    pub fn resume(
        bars: &'a [Bar],
        predictions: &'a [Prediction],
        config: BacktestConfig,
        state: BacktestState,
    ) -> Result<Self, BacktestError> {
        validate_inputs(bars, predictions, &config)?;
        state.check_fits(bars, &config)?;
        Ok(Self::assemble(bars, predictions, config, state))
    }

    fn assemble(
        bars: &'a [Bar],
        predictions: &'a [Prediction],
        config: BacktestConfig,
        state: BacktestState,
    ) -> Self {
        let sample_stride = sampling::stride(bars.len(), config.equity_samples);
        Backtester {
            bars,
            predictions,
            config,
            sample_stride,
            state,
        }
    }

    /// The checkpoint: clone or serialise it to resume later.
    pub fn state(&self) -> &BacktestState {
        &self.state
    }

    /// The next bar to be processed (the number of bars processed so far).
    pub fn next_bar(&self) -> usize {
        self.state.next_bar
    }

    pub fn is_finished(&self) -> bool {
        self.state.next_bar == self.bars.len()
    }

    /// Processes bars up to (not including) `until`, clamped to the end; processing the last bar
    /// applies the forced close.
    pub fn run_until(&mut self, until: usize) {
        let end = until.min(self.bars.len());
        for index in self.state.next_bar..end {
            self.step(index);
        }
    }

    /// Runs to the end if needed and computes the metrics.
    pub fn finish(mut self) -> BacktestMetrics {
        self.run_until(self.bars.len());
        metrics::summarize(&self.config, self.state, self.bars)
    }

    fn step(&mut self, index: usize) {
        let bar = &self.bars[index];
        if index > 0 {
            self.execute(index, self.predictions[index - 1]);
        }
        let state = &mut self.state;
        if let Some(position) = &mut state.position {
            position.observe(bar);
        }
        let is_last = index + 1 == self.bars.len();
        if is_last && let Some(position) = state.position.take() {
            let price = fill_price(position.side.opposite(), bar.close, self.config.slippage);
            // Held over this bar too: bars entry_bar..=index.
            let bars_held = index + 1 - position.entry_bar;
            state.close(position, price, bar, bars_held, self.config.commission);
        }

        let position_value = state
            .position
            .as_ref()
            .map_or(0.0, |position| position.value_at(bar.close));
        let equity = state.cash + position_value;
        // Bar 0 has no previous close; its equity is the initial capital anyway.
        if index > 0 && state.equity > 0.0 {
            state.returns.push(equity / state.equity - 1.0);
        }
        if equity > state.peak_equity {
            state.peak_equity = equity;
        }
        // Back at the peak ends a drawdown: its duration counts the bars under water.
        if equity >= state.peak_equity {
            state.peak_bar = index;
        }
        let drawdown = (state.peak_equity - equity) / state.peak_equity;
        if drawdown > state.max_drawdown {
            state.max_drawdown = drawdown;
        }
        let under_water = index - state.peak_bar;
        if under_water > state.max_drawdown_bars {
            state.max_drawdown_bars = under_water;
            state.max_drawdown_from_bar = state.peak_bar;
        }
        if sampling::is_sampled(index, self.bars.len(), self.sample_stride) {
            state
                .equity_samples
                .push(super::EquityPoint { ts: bar.ts, equity });
        }
        state.equity = equity;
        state.next_bar = index + 1;
        state.last_bar_ts = Some(bar.ts);
    }

    /// Acts at bar `index`'s open on the prediction made at the previous close.
    fn execute(&mut self, index: usize, prediction: Prediction) {
        let config = &self.config;
        let state = &mut self.state;
        if prediction.confidence < config.confidence_threshold {
            return;
        }
        let side = match prediction.signal {
            Signal::Hold => return,
            Signal::Buy => Side::Long,
            Signal::Sell => Side::Short,
        };
        if state
            .position
            .as_ref()
            .is_some_and(|position| position.side == side)
        {
            return;
        }
        if let Some(last) = state.last_action_bar
            && index - last < config.min_separation_bars
        {
            return;
        }

        let bar = &self.bars[index];
        let price = fill_price(side, bar.open, config.slippage);
        // Sized on the equity at the signal (the previous close), before this action's costs.
        let equity_at_signal = state.equity;
        let mut acted = false;
        if let Some(position) = state.position.take() {
            let bars_held = index - position.entry_bar;
            state.close(position, price, bar, bars_held, config.commission);
            acted = true;
        }
        let quantity = units(config.position_fraction * equity_at_signal / price);
        if quantity > 0 {
            state.open(side, quantity, price, index, bar, config.commission);
            acted = true;
        }
        if acted {
            state.last_action_bar = Some(index);
        }
    }
}

/// Whole units affordable for `amount / price`; 0 for less than one (or a non-positive equity).
fn units(raw: f64) -> u64 {
    let whole = raw.floor();
    // `as` saturates, so absurdly large amounts cannot wrap.
    if whole >= 1.0 { whole as u64 } else { 0 }
}

/// The fill of a buy (`Side::Long`: a long entry or a short exit) or a sell (`Side::Short`) at
/// `price`: slippage always makes it worse for the trader.
fn fill_price(order: Side, price: f64, slippage: f64) -> f64 {
    match order {
        Side::Long => price * (1.0 + slippage),
        Side::Short => price * (1.0 - slippage),
    }
}

impl Side {
    fn opposite(self) -> Side {
        match self {
            Side::Long => Side::Short,
            Side::Short => Side::Long,
        }
    }
}

impl OpenPosition {
    /// Updates MFE/MAE with a bar the position is held over.
    fn observe(&mut self, bar: &Bar) {
        let quantity = self.quantity as f64;
        let (best, worst) = match self.side {
            Side::Long => (
                quantity * (bar.high - self.entry_price),
                quantity * (bar.low - self.entry_price),
            ),
            Side::Short => (
                quantity * (self.entry_price - bar.low),
                quantity * (self.entry_price - bar.high),
            ),
        };
        self.mfe = self.mfe.max(best);
        self.mae = self.mae.min(worst);
    }

    /// What the position adds to equity at `close`: a short is a liability.
    fn value_at(&self, close: f64) -> f64 {
        self.side.sign() * self.quantity as f64 * close
    }
}

impl BacktestState {
    fn open(
        &mut self,
        side: Side,
        quantity: u64,
        price: f64,
        index: usize,
        bar: &Bar,
        commission_rate: f64,
    ) {
        let notional = quantity as f64 * price;
        let commission = notional * commission_rate;
        match side {
            Side::Long => self.cash -= notional + commission,
            Side::Short => self.cash += notional - commission,
        }
        self.total_commission += commission;
        self.position = Some(OpenPosition {
            side,
            quantity,
            entry_price: price,
            entry_time: bar.ts,
            entry_bar: index,
            entry_commission: commission,
            mfe: 0.0,
            mae: 0.0,
        });
    }

    fn close(
        &mut self,
        position: OpenPosition,
        price: f64,
        bar: &Bar,
        bars_held: usize,
        commission_rate: f64,
    ) {
        let quantity = position.quantity as f64;
        let notional = quantity * price;
        let commission = notional * commission_rate;
        match position.side {
            Side::Long => self.cash += notional - commission,
            Side::Short => self.cash -= notional + commission,
        }
        self.total_commission += commission;
        let gross_pnl = position.side.sign() * quantity * (price - position.entry_price);
        let commission = position.entry_commission + commission;
        self.trades.push(Trade {
            entry_time: position.entry_time,
            exit_time: bar.ts,
            entry_price: position.entry_price,
            exit_price: price,
            side: position.side,
            quantity: position.quantity,
            gross_pnl,
            commission,
            net_pnl: gross_pnl - commission,
            mfe: position.mfe,
            mae: position.mae,
            bars_held,
        });
    }
}
