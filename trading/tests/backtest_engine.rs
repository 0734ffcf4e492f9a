//! The backtest engine: hand-computed PnL, accounting identities at every bar, the trade filters,
//! reversals, the forced close, checkpoint/resume being bit-identical, input errors, and results
//! that always serialise to finite JSON numbers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ktrdr_trading::backtest::{
    BacktestConfig, BacktestError, BacktestMetrics, BacktestState, Backtester, Prediction, Side,
    Signal, backtest,
};
use ktrdr_trading::market_data::Bar;

fn ts(index: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::hours(index as i64)
}

fn bar(index: usize, open: f64, high: f64, low: f64, close: f64) -> Bar {
    Bar {
        ts: ts(index),
        open,
        high,
        low,
        close,
        volume: 1.0,
    }
}

/// Bars whose open, high, low and close are all `price`.
fn flat_bars(prices: &[f64]) -> Vec<Bar> {
    prices
        .iter()
        .enumerate()
        .map(|(i, &p)| bar(i, p, p, p, p))
        .collect()
}

fn predict(signal: Signal, confidence: f64) -> Prediction {
    Prediction { signal, confidence }
}

fn buy() -> Prediction {
    predict(Signal::Buy, 0.9)
}

fn sell() -> Prediction {
    predict(Signal::Sell, 0.9)
}

fn hold() -> Prediction {
    predict(Signal::Hold, 0.9)
}

fn config() -> BacktestConfig {
    BacktestConfig {
        initial_capital: 10_000.0,
        commission: 0.001,
        slippage: 0.001,
        position_fraction: 0.5,
        confidence_threshold: 0.5,
        min_separation_bars: 0,
        periods_per_year: 252.0,
        equity_samples: 500,
    }
}

fn costless() -> BacktestConfig {
    BacktestConfig {
        commission: 0.0,
        slippage: 0.0,
        ..config()
    }
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-6,
        "{what}: got {actual}, expected {expected}"
    );
}

/// Deterministic pseudo-random numbers (64-bit LCG, Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random walk of consistent bars and random predictions (about 30 % BUY, 30 % SELL).
fn random_series(n: usize, seed: u64) -> (Vec<Bar>, Vec<Prediction>) {
    let mut rng = Lcg(seed);
    let mut close = 100.0;
    let mut bars = Vec::with_capacity(n);
    let mut predictions = Vec::with_capacity(n);
    for i in 0..n {
        let open = close * (1.0 + (rng.next_f64() - 0.5) * 0.004);
        close = open * (1.0 + (rng.next_f64() - 0.5) * 0.02);
        let high = open.max(close) * (1.0 + rng.next_f64() * 0.005);
        let low = open.min(close) * (1.0 - rng.next_f64() * 0.005);
        bars.push(bar(i, open, high, low, close));
        let signal = match rng.next_f64() {
            x if x < 0.3 => Signal::Buy,
            x if x < 0.6 => Signal::Sell,
            _ => Signal::Hold,
        };
        predictions.push(predict(signal, rng.next_f64()));
    }
    (bars, predictions)
}

fn random_config() -> BacktestConfig {
    BacktestConfig {
        initial_capital: 100_000.0,
        commission: 0.0005,
        slippage: 0.0002,
        position_fraction: 0.3,
        confidence_threshold: 0.4,
        min_separation_bars: 3,
        periods_per_year: 24.0 * 365.25,
        equity_samples: 97,
    }
}

#[test]
fn a_buy_then_a_sell_gives_the_hand_computed_pnl() {
    let bars = vec![
        bar(0, 100.0, 101.0, 99.0, 100.0),
        bar(1, 100.0, 106.0, 99.0, 105.0),
        bar(2, 110.0, 111.0, 107.0, 109.0),
        bar(3, 109.0, 110.0, 107.0, 108.0),
    ];
    let predictions = [buy(), sell(), hold(), hold()];
    let result = backtest(&bars, &predictions, config()).unwrap();

    // BUY at bar 0's close → long at bar 1's open 100, slipped to 100.1;
    // 49 units = floor(0.5 · 10 000 / 100.1) = floor(49.95).
    // Entry commission 49 · 100.1 · 0.001 = 4.9049; cash 10 000 − 4 904.9 − 4.9049 = 5 090.1951.
    // Equity at bar 1's close: 5 090.1951 + 49 · 105 = 10 235.1951.
    // SELL at bar 1's close → at bar 2's open 110, slipped to 109.89: the long is sold
    // (gross 49 · 9.79 = 479.71, exit commission 5.38461, net 479.71 − 10.28951 = 469.42049) and a
    // short of floor(0.5 · 10 235.1951 / 109.89) = floor(46.57) = 46 units is opened (commission
    // 5.05494). Forced close at bar 3's close 108, slipped up to 108.108: gross 46 · 1.782 = 81.972,
    // exit commission 4.972968, net 81.972 − 10.027908 = 71.944092.
    assert_eq!(result.trades, 2);
    let long = &result.trade_list[0];
    assert_eq!(long.side, Side::Long);
    assert_eq!(long.quantity, 49);
    assert_eq!((long.entry_time, long.exit_time), (ts(1), ts(2)));
    assert_close(long.entry_price, 100.1, "long entry price");
    assert_close(long.exit_price, 109.89, "long exit price");
    assert_close(long.gross_pnl, 479.71, "long gross pnl");
    assert_close(long.commission, 10.28951, "long commission");
    assert_close(long.net_pnl, 469.42049, "long net pnl");
    // Held over bar 1 only: high 106, low 99 against 100.1.
    assert_close(long.mfe, 49.0 * 5.9, "long mfe");
    assert_close(long.mae, -49.0 * 1.1, "long mae");
    assert_eq!(long.bars_held, 1);

    let short = &result.trade_list[1];
    assert_eq!(short.side, Side::Short);
    assert_eq!(short.quantity, 46);
    assert_eq!((short.entry_time, short.exit_time), (ts(2), ts(3)));
    assert_close(short.entry_price, 109.89, "short entry price");
    assert_close(short.exit_price, 108.108, "short exit price");
    assert_close(short.gross_pnl, 81.972, "short gross pnl");
    assert_close(short.commission, 10.027908, "short commission");
    assert_close(short.net_pnl, 71.944092, "short net pnl");
    // Held over bars 2 and 3: lowest low 107, highest high 111 against 109.89.
    assert_close(short.mfe, 46.0 * 2.89, "short mfe");
    assert_close(short.mae, -46.0 * 1.11, "short mae");
    assert_eq!(short.bars_held, 2);

    assert_close(result.final_equity, 10_541.364582, "final equity");
    assert_close(result.total_commission, 20.317418, "total commission");
    assert_close(result.total_return, 0.0541364582, "total return");
    assert_eq!(result.win_rate, 1.0);
    assert_eq!(result.profit_factor, None);
    assert_close(result.avg_win, (469.42049 + 71.944092) / 2.0, "avg win");
    assert_eq!(result.avg_loss, 0.0);
}

#[test]
fn cash_plus_position_value_is_the_equity_at_every_bar() {
    let (bars, predictions) = random_series(2_000, 7);
    let config = random_config();
    let mut backtester = Backtester::new(&bars, &predictions, config.clone()).unwrap();
    let mut longs = 0;
    let mut shorts = 0;
    for (i, bar) in bars.iter().enumerate() {
        backtester.run_until(i + 1);
        let state = backtester.state();
        assert_eq!(state.next_bar, i + 1);
        let close = bar.close;
        let (position_value, unrealised) = match &state.position {
            None => (0.0, 0.0),
            Some(p) => {
                let q = p.quantity as f64;
                match p.side {
                    Side::Long => {
                        longs += 1;
                        (q * close, q * (close - p.entry_price) - p.entry_commission)
                    }
                    Side::Short => {
                        shorts += 1;
                        (-q * close, q * (p.entry_price - close) - p.entry_commission)
                    }
                }
            }
        };
        assert_close(state.cash + position_value, state.equity, "cash + position");
        // Independently: the capital plus everything realised plus the open position's PnL so far.
        let realised: f64 = state.trades.iter().map(|t| t.net_pnl).sum();
        assert_close(
            config.initial_capital + realised + unrealised,
            state.equity,
            &format!("capital + realised + unrealised at bar {i}"),
        );
    }
    assert!(backtester.is_finished());
    assert!(backtester.state().position.is_none(), "closed at the end");
    assert!(
        longs > 100 && shorts > 100,
        "both sides held: {longs} {shorts}"
    );
    assert!(backtester.finish().trades > 50);
}

#[test]
fn commissions_and_net_pnl_add_up_to_the_totals() {
    for seed in [1, 2, 3] {
        let (bars, predictions) = random_series(2_000, seed);
        let result = backtest(&bars, &predictions, random_config()).unwrap();
        assert!(result.trades > 50, "seed {seed}: {} trades", result.trades);
        let commissions: f64 = result.trade_list.iter().map(|t| t.commission).sum();
        assert_close(commissions, result.total_commission, "sum of commissions");
        let net: f64 = result.trade_list.iter().map(|t| t.net_pnl).sum();
        assert_close(
            result.initial_capital + net,
            result.final_equity,
            "capital + net pnl",
        );
        for trade in &result.trade_list {
            assert_close(
                trade.gross_pnl - trade.commission,
                trade.net_pnl,
                "trade net",
            );
            assert!(trade.mfe >= 0.0 && trade.mae <= 0.0 && trade.bars_held >= 1);
        }
        let last = result.equity_curve.last().unwrap();
        assert_eq!(last.equity, result.final_equity);
        assert_eq!(last.ts, bars.last().unwrap().ts);
        assert_eq!(result.equity_curve[0].ts, bars[0].ts);
        assert!(result.equity_curve.len() <= 97);
    }
}

#[test]
fn signals_below_the_confidence_threshold_are_ignored() {
    let bars = flat_bars(&[100.0; 5]);
    let weak = [predict(Signal::Buy, 0.59), hold(), hold(), hold(), hold()];
    let strict = BacktestConfig {
        confidence_threshold: 0.6,
        ..costless()
    };
    let result = backtest(&bars, &weak, strict.clone()).unwrap();
    assert_eq!(result.trades, 0);
    assert_eq!(result.final_equity, 10_000.0);

    let at_threshold = [predict(Signal::Buy, 0.6), hold(), hold(), hold(), hold()];
    let result = backtest(&bars, &at_threshold, strict).unwrap();
    assert_eq!(
        result.trades, 1,
        "a confidence equal to the threshold is acted on"
    );
}

#[test]
fn min_separation_suppresses_actions_too_close_to_the_last_one() {
    let bars = flat_bars(&[100.0; 10]);
    // Alternating signals: every bar from 1 on could reverse the position.
    let alternating: Vec<Prediction> = (0..10)
        .map(|i| if i % 2 == 0 { buy() } else { sell() })
        .collect();
    let entries = |config: BacktestConfig| -> Vec<DateTime<Utc>> {
        backtest(&bars, &alternating, config)
            .unwrap()
            .trade_list
            .iter()
            .map(|t| t.entry_time)
            .collect()
    };
    // Unrestricted: an action at every bar 1..=9.
    assert_eq!(entries(costless()), (1..10).map(ts).collect::<Vec<_>>());
    // Three bars apart: bar 1 (BUY from bar 0), bar 4 (SELL from bar 3), bar 7 (BUY from bar 6).
    let separated = BacktestConfig {
        min_separation_bars: 3,
        ..costless()
    };
    assert_eq!(entries(separated), vec![ts(1), ts(4), ts(7)]);
}

#[test]
fn a_signal_on_the_last_bar_is_not_executed() {
    let bars = flat_bars(&[100.0; 4]);
    let predictions = [hold(), hold(), hold(), buy()];
    let result = backtest(&bars, &predictions, config()).unwrap();
    assert_eq!(result.trades, 0);
    assert_eq!(result.final_equity, 10_000.0);
    assert_eq!(result.total_commission, 0.0);
}

#[test]
fn an_open_position_is_closed_at_the_last_close() {
    let bars = flat_bars(&[100.0, 100.0, 102.0, 104.0, 120.0]);
    let predictions = [buy(), hold(), buy(), hold(), sell()];
    let result = backtest(&bars, &predictions, config()).unwrap();
    assert_eq!(result.trades, 1, "the SELL on the last bar is not executed");
    let trade = &result.trade_list[0];
    assert_eq!(trade.side, Side::Long);
    assert_eq!(trade.exit_time, ts(4));
    assert_close(
        trade.exit_price,
        120.0 * 0.999,
        "exit at the last close, slipped",
    );
    assert_eq!(trade.bars_held, 4, "held over bars 1 to 4");
    let quantity = (5_000.0_f64 / 100.1).floor();
    assert_eq!(trade.quantity as f64, quantity);
    assert_close(
        trade.commission,
        quantity * (100.1 + 119.88) * 0.001,
        "both legs",
    );
    assert_close(
        result.final_equity,
        10_000.0 + trade.net_pnl,
        "final equity is cash",
    );
}

#[test]
fn drawdown_duration_exposure_and_buy_and_hold_follow_their_definitions() {
    // Long 50 units from bar 1's open at 100 (half of 10 000, no costs); equity at the closes:
    // 10 000, 10 000, 9 500, 9 750, 10 050, 10 100.
    let bars = flat_bars(&[100.0, 100.0, 90.0, 95.0, 101.0, 102.0]);
    let predictions = [buy(), hold(), hold(), hold(), hold(), hold()];
    let result = backtest(&bars, &predictions, costless()).unwrap();
    assert_eq!(result.trades, 1);
    assert_close(result.max_drawdown, 0.05, "max drawdown");
    // At the peak at bar 1 (equal counts), below it at bars 2 and 3, above at bar 4.
    assert_eq!(result.max_drawdown_duration_bars, 2);
    assert_close(result.max_drawdown_duration_days, 2.0 / 24.0, "two hours");
    // Held over bars 1 to 5 of 6.
    assert_close(result.exposure, 5.0 / 6.0, "exposure");
    assert_close(result.buy_and_hold_return, 0.02, "102 / 100 − 1");
    assert_close(result.expectancy, 100.0, "one trade of 50 · 2");
    assert_eq!(result.sqn, 0.0, "undefined for one trade");

    // A drawdown still open at the last bar lasts to it.
    let falling = flat_bars(&[100.0, 100.0, 99.0, 98.0]);
    let result = backtest(&falling, &[buy(), hold(), hold(), hold()], costless()).unwrap();
    assert_eq!(result.max_drawdown_duration_bars, 2);
    // No position, no exposure, no drawdown.
    let result = backtest(&falling, &[hold(); 4], costless()).unwrap();
    assert_eq!(
        (result.exposure, result.max_drawdown_duration_bars),
        (0.0, 0)
    );
    assert_close(result.buy_and_hold_return, -0.02, "98 / 100 − 1");
}

#[test]
fn expectancy_and_sqn_are_over_the_trades_net_pnl() {
    // The reversal below: a long of +1 000, then a short of 43 units from 120 to 90, +1 290.
    let bars = flat_bars(&[100.0, 100.0, 110.0, 120.0, 90.0, 90.0]);
    let predictions = [buy(), hold(), sell(), hold(), hold(), hold()];
    let result = backtest(&bars, &predictions, costless()).unwrap();
    let pnl: Vec<f64> = result.trade_list.iter().map(|t| t.net_pnl).collect();
    assert_eq!(pnl, [1_000.0, 1_290.0]);
    assert_close(result.expectancy, 1_145.0, "mean net pnl");
    // √2 · mean / std, the sample std of two values being |a − b| / √2.
    assert_close(result.sqn, 2.0 * 1_145.0 / 290.0, "sqn");
}

#[test]
fn annualising_uses_elapsed_time_and_the_configured_periods_per_year() {
    // Three bars, the last a year (365.25 days) after the first: a 21 % gain is 21 % a year,
    // however few bars there are.
    let start = ts(0);
    let at = |ts: DateTime<Utc>, price: f64| Bar {
        ts,
        open: price,
        high: price,
        low: price,
        close: price,
        volume: 1.0,
    };
    let bars = [
        at(start, 100.0),
        at(start + Duration::days(1), 100.0),
        at(start + Duration::hours(365 * 24 + 6), 121.0),
    ];
    let all_in = BacktestConfig {
        position_fraction: 1.0,
        periods_per_year: 252.0,
        ..costless()
    };
    let result = backtest(&bars, &[buy(), hold(), hold()], all_in).unwrap();
    assert_close(result.total_return, 0.21, "total return");
    assert_close(result.annualized_return, 0.21, "one year elapsed");
    assert_eq!(result.periods_per_year, 252.0);
    // Returns 0 and 0.21: mean 0.105, sample std 0.21 / √2.
    let sharpe = 0.105 / (0.21 / 2.0_f64.sqrt()) * 252.0_f64.sqrt();
    assert_close(result.sharpe, sharpe, "sharpe with 252 periods a year");
    assert_close(
        result.volatility,
        0.21 / 2.0_f64.sqrt() * 252.0_f64.sqrt(),
        "volatility",
    );
}

#[test]
fn a_sell_while_long_reverses_into_a_short() {
    let bars = flat_bars(&[100.0, 100.0, 110.0, 120.0, 90.0, 90.0]);
    let predictions = [buy(), hold(), sell(), hold(), hold(), hold()];
    let result = backtest(&bars, &predictions, costless()).unwrap();
    assert_eq!(result.trades, 2);
    let (long, short) = (&result.trade_list[0], &result.trade_list[1]);
    assert_eq!((long.side, short.side), (Side::Long, Side::Short));
    // Long: 50 units at 100 (half of 10 000), sold at bar 3's open 120.
    assert_eq!(long.quantity, 50);
    assert_eq!(long.exit_time, ts(3));
    assert_eq!(long.net_pnl, 1_000.0);
    // Short at the same open and price, sized on the equity at bar 2's close: 10 000 + 50 · 10.
    assert_eq!(short.entry_time, ts(3));
    assert_eq!(short.entry_price, long.exit_price);
    assert_eq!(short.quantity, (10_500.0_f64 * 0.5 / 120.0).floor() as u64);
    assert_eq!(short.net_pnl, short.quantity as f64 * 30.0);
    assert_eq!(result.final_equity, 10_000.0 + long.net_pnl + short.net_pnl);
}

#[test]
fn a_checkpointed_run_with_json_round_trips_is_bit_identical_to_an_uninterrupted_one() {
    let (bars, predictions) = random_series(2_000, 11);
    let config = random_config();
    let uninterrupted = backtest(&bars, &predictions, config.clone()).unwrap();

    let mut backtester = Backtester::new(&bars, &predictions, config.clone()).unwrap();
    let mut checkpoints = 0;
    for until in [1, 137, 138, 500, 999, 1_000, 1_763, 1_999] {
        backtester.run_until(until);
        let json = serde_json::to_string(backtester.state()).unwrap();
        let state: BacktestState = serde_json::from_str(&json).unwrap();
        assert_eq!(&state, backtester.state(), "state after a round trip");
        backtester = Backtester::resume(&bars, &predictions, config.clone(), state).unwrap();
        assert_eq!(backtester.next_bar(), until);
        checkpoints += 1;
    }
    assert_eq!(checkpoints, 8);
    let chunked = backtester.finish();
    assert!(chunked.trades > 50);
    assert_eq!(chunked, uninterrupted);
    // `==` on f64 is exact, but make the claim explicit for the headline numbers.
    assert_eq!(
        chunked.final_equity.to_bits(),
        uninterrupted.final_equity.to_bits()
    );
    assert_eq!(chunked.sharpe.to_bits(), uninterrupted.sharpe.to_bits());
}

#[test]
fn resuming_refuses_a_state_from_other_bars() {
    let (bars, predictions) = random_series(300, 5);
    let mut backtester = Backtester::new(&bars, &predictions, random_config()).unwrap();
    backtester.run_until(100);
    let state = backtester.state().clone();

    let err = Backtester::resume(
        &bars[..299],
        &predictions[..299],
        random_config(),
        state.clone(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the checkpoint state does not fit these bars: it was saved for 300 bars, not 299"
    );

    let mut shifted = bars.clone();
    shifted[99].ts += Duration::minutes(1);
    let err =
        Backtester::resume(&shifted, &predictions, random_config(), state.clone()).unwrap_err();
    assert!(
        matches!(&err, BacktestError::StateMismatch(why) if why.contains("timestamp")),
        "{err}"
    );

    let resampled = BacktestConfig {
        equity_samples: 10,
        ..random_config()
    };
    let err = Backtester::resume(&bars, &predictions, resampled, state).unwrap_err();
    assert!(
        matches!(&err, BacktestError::StateMismatch(why) if why.contains("equity samples")),
        "{err}"
    );
}

#[test]
fn bad_inputs_are_refused_with_a_precise_message() {
    let bars = flat_bars(&[100.0; 3]);
    let err = backtest(&bars, &[hold(), hold()], config()).unwrap_err();
    assert_eq!(
        err,
        BacktestError::LengthMismatch {
            bars: 3,
            predictions: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "3 bars but 2 predictions: a backtest needs exactly one prediction per bar"
    );

    let err = backtest(&[], &[], config()).unwrap_err();
    assert_eq!(err, BacktestError::NoBars);
    assert_eq!(err.to_string(), "no bars to backtest");

    let negative = BacktestConfig {
        initial_capital: -1_000.0,
        ..config()
    };
    let err = backtest(&bars, &[hold(); 3], negative).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid backtest config: initial_capital must be a finite number greater than 0, got -1000"
    );

    let too_big = BacktestConfig {
        position_fraction: 1.5,
        ..config()
    };
    assert_eq!(
        backtest(&bars, &[hold(); 3], too_big)
            .unwrap_err()
            .to_string(),
        "invalid backtest config: position_fraction must be a fraction in (0, 1], got 1.5"
    );

    let nan_slippage = BacktestConfig {
        slippage: f64::NAN,
        ..config()
    };
    assert_eq!(
        backtest(&bars, &[hold(); 3], nan_slippage)
            .unwrap_err()
            .to_string(),
        "invalid backtest config: slippage must be a fraction in [0, 1), got NaN"
    );

    let mut zero_price = bars.clone();
    zero_price[1] = bar(1, 0.0, 0.0, 0.0, 0.0);
    assert_eq!(
        backtest(&zero_price, &[hold(); 3], config())
            .unwrap_err()
            .to_string(),
        "bar 1 (2024-01-01 01:00:00 UTC): prices must be positive, low is 0"
    );

    let unsure = [hold(), predict(Signal::Buy, f64::NAN), hold()];
    assert_eq!(
        backtest(&bars, &unsure, config()).unwrap_err().to_string(),
        "prediction 1: confidence must be a probability in [0, 1], got NaN"
    );
}

/// Every number in `value` is finite; nulls appear only under `profit_factor`.
fn assert_plain_json(value: &serde_json::Value, path: &str) {
    match value {
        serde_json::Value::Null => assert!(path.ends_with("profit_factor"), "null at {path}"),
        serde_json::Value::Number(n) => {
            assert!(n.as_f64().unwrap().is_finite(), "{path} is {n}")
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_plain_json(item, &format!("{path}[{i}]"));
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields {
                assert_plain_json(item, &format!("{path}.{key}"));
            }
        }
        _ => {}
    }
}

fn assert_finite_result(result: &BacktestMetrics, what: &str) {
    let metrics = [
        result.final_equity,
        result.total_return,
        result.annualized_return,
        result.volatility,
        result.sharpe,
        result.sortino,
        result.max_drawdown,
        result.calmar,
        result.win_rate,
        result.profit_factor.unwrap_or(0.0),
        result.avg_win,
        result.avg_loss,
        result.total_commission,
    ];
    assert!(metrics.iter().all(|m| m.is_finite()), "{what}: {metrics:?}");
    let json = serde_json::to_string(result).unwrap();
    for word in ["NaN", "nan", "Infinity", "inf"] {
        assert!(!json.contains(word), "{what}: {word} in {json}");
    }
    assert_plain_json(&serde_json::from_str(&json).unwrap(), what);
}

#[test]
fn results_never_hold_nan_or_infinity() {
    // No trades at all: flat equity, zero std, no drawdown, no wins or losses.
    let bars = flat_bars(&[100.0; 20]);
    let result = backtest(&bars, &[hold(); 20], config()).unwrap();
    assert_eq!(
        (result.sharpe, result.sortino, result.calmar),
        (0.0, 0.0, 0.0)
    );
    assert_eq!(result.profit_factor, None);
    assert_finite_result(&result, "no trades");

    // A single bar: no returns, no annualising interval.
    let result = backtest(&bars[..1], &[buy()], config()).unwrap();
    assert_eq!(result.annualized_return, 0.0);
    assert_finite_result(&result, "one bar");

    // Only winning bars: no downside deviation and no losing trade.
    let rising = flat_bars(&[100.0, 100.0, 101.0, 103.0, 106.0]);
    let result = backtest(
        &rising,
        &[buy(), hold(), hold(), hold(), hold()],
        costless(),
    )
    .unwrap();
    assert!(result.final_equity > 10_000.0);
    assert_eq!(result.sortino, 0.0);
    assert_eq!(result.profit_factor, None);
    assert_finite_result(&result, "only wins");

    // A 50 % gain over three minute bars annualises beyond f64: saturated, not infinite.
    let minute = BacktestConfig {
        periods_per_year: 525_960.0,
        position_fraction: 1.0,
        ..costless()
    };
    let jump = flat_bars(&[100.0, 100.0, 150.0]);
    let result = backtest(&jump, &[buy(), hold(), hold()], minute).unwrap();
    assert_eq!(result.annualized_return, f64::MAX);
    assert_finite_result(&result, "overflowing annualisation");

    // Wins and losses on random data.
    let (bars, predictions) = random_series(2_000, 3);
    let result = backtest(&bars, &predictions, random_config()).unwrap();
    assert!(result.profit_factor.is_some());
    assert_finite_result(&result, "random");
}

#[test]
fn class_indices_map_to_signals() {
    assert_eq!(Signal::from_class(0), Some(Signal::Buy));
    assert_eq!(Signal::from_class(1), Some(Signal::Hold));
    assert_eq!(Signal::from_class(2), Some(Signal::Sell));
    assert_eq!(Signal::from_class(3), None);
    for signal in [Signal::Buy, Signal::Hold, Signal::Sell] {
        assert_eq!(Signal::from_class(signal.class()), Some(signal));
    }
}
