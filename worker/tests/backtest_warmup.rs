//! Indicator warm-up before a backtest's window: predicting the window after the strategy's
//! `history_required` bars gives the signals a run over the whole series gives there, where
//! predicting the window alone does not (its indicators warm up inside it).

use chrono::TimeZone;
use ktrdr_trading::{
    backtest::{Prediction, Signal},
    market_data::{Bar, SynthSpec, Timeframe, synthesize},
    strategy::Strategy,
};
use ktrdr_worker_torch::{
    backtesting::predict_with,
    training::trainer::{self, CheckpointPolicy, TrainEnd},
};

fn example() -> (Strategy, Vec<Bar>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/rsi_macd_trend.yaml"
    );
    let mut strategy =
        ktrdr_trading::strategy::parse_file(std::path::Path::new(path)).expect("valid example");
    strategy.training.epochs = 2;
    let bars = synthesize(&SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        start: chrono::Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap(),
        end: chrono::Utc.with_ymd_and_hms(2022, 5, 1, 0, 0, 0).unwrap(),
        seed: 5,
    })
    .unwrap();
    (strategy, bars)
}

#[test]
fn a_window_after_its_history_gets_the_signals_of_the_whole_series() {
    tch::set_num_threads(1);
    let (strategy, bars) = example();
    let prepared = trainer::prepare(&strategy, &bars).unwrap();
    let TrainEnd::Finished(run) = trainer::train(
        &strategy,
        &prepared,
        tch::Device::Cpu,
        &CheckpointPolicy::NONE,
        &mut |_| {},
        &mut |_| {},
        &|| false,
    )
    .unwrap() else {
        panic!("the training should finish");
    };
    let predict = |bars: &[Bar]| -> Vec<Prediction> {
        predict_with(
            &strategy,
            &prepared.feature_names,
            &prepared.scaler,
            &run.weights,
            bars,
        )
        .unwrap()
    };

    let full = predict(&bars);
    let start = 2_000;
    let history = strategy.training_data.history_required;
    assert_eq!(history, 200);
    let warmed = predict(&bars[start - history..]);
    let window = &full[start..];
    let warmed = &warmed[history..];
    let signals = |p: &[Prediction]| p.iter().map(|p| p.signal).collect::<Vec<Signal>>();
    assert_eq!(signals(warmed), signals(window));
    for (i, (a, b)) in warmed.iter().zip(window).enumerate() {
        // Exponential smoothings (RSI, MACD) remember their start by (1 − α)^200 < 1e-6.
        assert!(
            (a.confidence - b.confidence).abs() < 1e-4,
            "bar {}: confidence {} against {}",
            start + i,
            a.confidence,
            b.confidence
        );
    }

    // Without the history the first bars have no features (they hold) and the next ones differ.
    let cold = predict(&bars[start..]);
    let differing = cold
        .iter()
        .zip(window)
        .filter(|(a, b)| a.signal != b.signal || (a.confidence - b.confidence).abs() >= 1e-4)
        .count();
    assert!(
        differing >= 26,
        "only {differing} signals differ without warm-up"
    );
}
