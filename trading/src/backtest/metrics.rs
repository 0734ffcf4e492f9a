//! From the final state to the reported metrics (definitions in the module docs). Every ratio
//! whose denominator can be 0 has an explicit fallback, and [`finite`] is the last guard, so a
//! result never carries NaN or an infinity into JSON (where `serde_json` would write `null`).

use super::{BacktestConfig, BacktestMetrics, BacktestState};
use crate::market_data::{Bar, calendar};

/// The metrics of a finished run over `bars` (the bars it was given, all processed).
pub(super) fn summarize(
    config: &BacktestConfig,
    state: BacktestState,
    bars: &[Bar],
) -> BacktestMetrics {
    let initial = config.initial_capital;
    let final_equity = state.equity;
    let bar_count = state.bar_count;
    let per_year = config.periods_per_year;
    let sqrt_year = per_year.sqrt();
    let (first, last) = (&bars[0], &bars[bars.len() - 1]);

    let growth = final_equity / initial;
    let years = calendar::elapsed_years(first.ts, last.ts);
    let annualized_return = if years <= 0.0 {
        0.0
    } else if growth <= 0.0 {
        -1.0
    } else {
        growth.powf(1.0 / years) - 1.0
    };

    let returns = &state.returns;
    let std = if returns.count >= 2 {
        (returns.m2 / (returns.count - 1) as f64).sqrt()
    } else {
        0.0
    };
    let sharpe = ratio_or_zero(returns.mean, std) * sqrt_year;
    let downside = if returns.count > 0 {
        (returns.downside_sq_sum / returns.count as f64).sqrt()
    } else {
        0.0
    };
    let sortino = ratio_or_zero(returns.mean, downside) * sqrt_year;
    let calmar = ratio_or_zero(annualized_return, state.max_drawdown);

    let (mut wins, mut win_sum, mut losses, mut loss_sum) = (0usize, 0.0, 0usize, 0.0);
    for trade in &state.trades {
        if trade.net_pnl > 0.0 {
            wins += 1;
            win_sum += trade.net_pnl;
        } else if trade.net_pnl < 0.0 {
            losses += 1;
            loss_sum += trade.net_pnl;
        }
    }
    let trades = state.trades.len();
    let mean = |sum: f64, count: usize| if count > 0 { sum / count as f64 } else { 0.0 };
    let expectancy = mean(state.trades.iter().map(|t| t.net_pnl).sum(), trades);
    let bars_held: usize = state.trades.iter().map(|t| t.bars_held).sum();
    let drawdown_from = &bars[state.max_drawdown_from_bar];
    let drawdown_to = &bars[state.max_drawdown_from_bar + state.max_drawdown_bars];

    BacktestMetrics {
        bars: bar_count,
        periods_per_year: per_year,
        initial_capital: initial,
        final_equity: finite(final_equity),
        total_return: finite(growth - 1.0),
        annualized_return: finite(annualized_return),
        volatility: finite(std * sqrt_year),
        sharpe: finite(sharpe),
        sortino: finite(sortino),
        max_drawdown: finite(state.max_drawdown),
        calmar: finite(calmar),
        trades,
        win_rate: mean(wins as f64, trades),
        profit_factor: (losses > 0).then(|| finite(win_sum / -loss_sum)),
        avg_win: finite(mean(win_sum, wins)),
        avg_loss: finite(mean(loss_sum, losses)),
        total_commission: finite(state.total_commission),
        buy_and_hold_return: finite(last.close / first.close - 1.0),
        exposure: bars_held as f64 / bar_count as f64,
        max_drawdown_duration_bars: state.max_drawdown_bars,
        max_drawdown_duration_days: (drawdown_to.ts - drawdown_from.ts).as_seconds_f64() / 86_400.0,
        expectancy: finite(expectancy),
        sqn: finite(system_quality(&state.trades, expectancy)),
        equity_curve: state.equity_samples,
        trade_list: state.trades,
    }
}

/// Van Tharp's system quality number: `√N · mean / sample std` of the trades' net PnL; 0 with
/// fewer than two trades or when every trade made the same.
fn system_quality(trades: &[super::Trade], mean: f64) -> f64 {
    let n = trades.len();
    if n < 2 {
        return 0.0;
    }
    let squares: f64 = trades.iter().map(|t| (t.net_pnl - mean).powi(2)).sum();
    let std = (squares / (n - 1) as f64).sqrt();
    ratio_or_zero(mean, std) * (n as f64).sqrt()
}

/// Saturates infinities at the largest finite values and maps NaN to 0. Only overflow can get
/// here (annualising a big gain over a few bars of a short timeframe): validated inputs give
/// finite values everywhere else.
fn finite(value: f64) -> f64 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(f64::MIN, f64::MAX)
    }
}

/// `numerator / denominator`, or 0 when the denominator is not positive (no spread, no drawdown).
fn ratio_or_zero(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}
