//! Tests of `ktrdr::indicators`: every indicator against values computed by the Python package `ta`
//! (0.11.0 on pandas 3.1.1; fixture `tests/fixtures/indicators/reference.json`, written by
//! `generate.py` beside it), plus the spec format (defaults, unknown keys and types), `validate`,
//! and input too short to compute anything.

use std::collections::BTreeMap;

use ktrdr_trading::indicators::{Bars, IndicatorSpec};
use serde::Deserialize;
use serde_json::{Value, json};

/// Relative tolerance against `ta`. The fixture holds 12 significant digits, the Rust code follows
/// `ta`'s formulas operation by operation, and what remains is summation order (numpy's pairwise
/// sums, pandas' compensated rolling sums) at around 1e-13.
const RELATIVE_TOLERANCE: f64 = 1e-9;

/// Each compared output must have at least this many defined values (the fixture has 300 bars),
/// so that no comparison passes for lack of data.
const MIN_COMPARED: usize = 200;

#[derive(Deserialize)]
struct Fixture {
    bars: FixtureBars,
    indicators: Vec<Case>,
}

#[derive(Deserialize)]
struct FixtureBars {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

impl FixtureBars {
    fn all(&self) -> Bars<'_> {
        self.prefix(self.close.len())
    }

    /// The first `len` bars.
    fn prefix(&self, len: usize) -> Bars<'_> {
        Bars {
            open: &self.open[..len],
            high: &self.high[..len],
            low: &self.low[..len],
            close: &self.close[..len],
            volume: &self.volume[..len],
        }
    }
}

#[derive(Deserialize)]
struct Case {
    spec: Value,
    /// Output name to series; null where `ta` has no value (NaN, or its warm-up placeholders).
    outputs: BTreeMap<String, Vec<Option<f64>>>,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/indicators/reference.json");
    serde_json::from_str(text).expect("reference.json parses")
}

fn parse(spec: Value) -> IndicatorSpec {
    serde_json::from_value(spec.clone()).unwrap_or_else(|err| panic!("{spec}: {err}"))
}

/// Index of the first non-NaN value, or the length if there is none.
fn first_defined(values: &[f64]) -> usize {
    values
        .iter()
        .position(|v| !v.is_nan())
        .unwrap_or(values.len())
}

/// Compares the Rust outputs for the fixture case whose spec is `spec` with `ta`'s values and
/// checks the warm-up; returns how many values were compared per output.
fn check_against_ta(spec: Value) -> BTreeMap<&'static str, usize> {
    let fixture = fixture();
    let case = fixture
        .indicators
        .iter()
        .find(|case| case.spec == spec)
        .unwrap_or_else(|| panic!("no fixture case for {spec}"));
    let parsed = parse(spec.clone());
    parsed.validate().unwrap();
    let bars = fixture.bars.all();
    let outputs = parsed.compute(&bars);

    let names: Vec<&str> = outputs.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, parsed.output_names(), "{spec}: output order");
    let mut expected_names: Vec<&str> = case.outputs.keys().map(String::as_str).collect();
    let mut sorted_names = names.clone();
    expected_names.sort_unstable();
    sorted_names.sort_unstable();
    assert_eq!(sorted_names, expected_names, "{spec}: output names");

    let mut compared = BTreeMap::new();
    let mut longest_warmup = 0;
    for (name, actual) in &outputs {
        let expected = &case.outputs[*name];
        assert_eq!(actual.len(), bars.len(), "{spec} {name}: length");
        assert_eq!(expected.len(), bars.len(), "{spec} {name}: fixture length");

        // Warm-up: NaN exactly until ta has a value. The one documented exception is +DI/-DI,
        // which are defined one bar before ta reports them (see src/indicators/adx.rs).
        let ours = first_defined(actual);
        let theirs = expected.iter().position(Option::is_some).unwrap();
        let di = spec["type"] == "adx" && *name != "adx";
        assert_eq!(
            ours,
            if di { theirs - 1 } else { theirs },
            "{spec} {name}: first defined bar"
        );
        longest_warmup = longest_warmup.max(ours);

        let mut count = 0;
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            let Some(e) = *e else {
                continue;
            };
            assert!(a.is_finite(), "{spec} {name}[{i}]: {a}, ta has {e}");
            let tolerance = RELATIVE_TOLERANCE * a.abs().max(e.abs());
            assert!(
                (a - e).abs() <= tolerance,
                "{spec} {name}[{i}]: {a} vs ta {e} (relative difference {:e})",
                (a - e).abs() / e.abs()
            );
            count += 1;
        }
        assert!(
            count > MIN_COMPARED,
            "{spec} {name}: only {count} values compared"
        );
        compared.insert(*name, count);
    }
    assert_eq!(parsed.warmup(), longest_warmup, "{spec}: warmup()");
    compared
}

#[test]
fn rsi_matches_the_ta_package() {
    check_against_ta(json!({"type": "rsi", "period": 14}));
    check_against_ta(json!({"type": "rsi", "period": 7}));
}

#[test]
fn sma_matches_the_ta_package() {
    check_against_ta(json!({"type": "sma", "period": 20}));
    check_against_ta(json!({"type": "sma", "period": 50}));
}

#[test]
fn ema_matches_the_ta_package() {
    check_against_ta(json!({"type": "ema", "period": 20}));
}

#[test]
fn macd_matches_the_ta_package() {
    let compared = check_against_ta(json!({"type": "macd", "fast": 12, "slow": 26, "signal": 9}));
    assert_eq!(compared.len(), 3);
}

#[test]
fn adx_matches_the_ta_package_after_its_warm_up() {
    let compared = check_against_ta(json!({"type": "adx", "period": 14}));
    // ta's +DI/-DI start at bar 15, its ADX at bar 27.
    assert_eq!(compared["plus_di"], 300 - 15);
    assert_eq!(compared["adx"], 300 - 27);
}

#[test]
fn atr_matches_the_ta_package_after_its_warm_up() {
    check_against_ta(json!({"type": "atr", "period": 14}));
}

#[test]
fn bollinger_bands_match_the_ta_package() {
    check_against_ta(json!({"type": "bollinger_bands", "period": 20, "std_dev": 2.0}));
}

#[test]
fn roc_matches_the_ta_package() {
    check_against_ta(json!({"type": "roc", "period": 10}));
}

#[test]
fn stochastic_without_smoothing_matches_the_ta_package() {
    check_against_ta(json!({"type": "stochastic", "k_period": 14, "d_period": 3, "smooth": 1}));
}

#[test]
fn slow_stochastic_matches_an_sma_of_ta_k() {
    // The default smooth = 3, which ta lacks: the fixture applies pandas' rolling mean to ta's %K.
    check_against_ta(json!({"type": "stochastic", "k_period": 14, "d_period": 3, "smooth": 3}));
}

#[test]
fn every_indicator_type_has_a_reference_case() {
    let types: std::collections::BTreeSet<String> = fixture()
        .indicators
        .iter()
        .map(|case| case.spec["type"].as_str().unwrap().to_owned())
        .collect();
    let expected = [
        "adx",
        "atr",
        "bollinger_bands",
        "ema",
        "macd",
        "roc",
        "rsi",
        "sma",
        "stochastic",
    ];
    assert_eq!(
        types.iter().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    for case in fixture().indicators {
        parse(case.spec);
    }
}

#[test]
fn omitted_parameters_take_their_defaults() {
    let cases = [
        (json!({"type": "rsi"}), IndicatorSpec::Rsi { period: 14 }),
        (json!({"type": "sma"}), IndicatorSpec::Sma { period: 20 }),
        (json!({"type": "ema"}), IndicatorSpec::Ema { period: 20 }),
        (
            json!({"type": "macd"}),
            IndicatorSpec::Macd {
                fast: 12,
                slow: 26,
                signal: 9,
            },
        ),
        (json!({"type": "adx"}), IndicatorSpec::Adx { period: 14 }),
        (json!({"type": "atr"}), IndicatorSpec::Atr { period: 14 }),
        (
            json!({"type": "bollinger_bands"}),
            IndicatorSpec::BollingerBands {
                period: 20,
                std_dev: 2.0,
            },
        ),
        (json!({"type": "roc"}), IndicatorSpec::Roc { period: 10 }),
        (
            json!({"type": "stochastic"}),
            IndicatorSpec::Stochastic {
                k_period: 14,
                d_period: 3,
                smooth: 3,
            },
        ),
        (
            json!({"type": "macd", "slow": 30}),
            IndicatorSpec::Macd {
                fast: 12,
                slow: 30,
                signal: 9,
            },
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(parse(json), expected);
    }
}

#[test]
fn an_integer_std_dev_is_accepted() {
    assert_eq!(
        parse(json!({"type": "bollinger_bands", "std_dev": 3})),
        IndicatorSpec::BollingerBands {
            period: 20,
            std_dev: 3.0
        }
    );
}

#[test]
fn a_spec_round_trips_through_serde_in_strategy_file_form() {
    let spec = IndicatorSpec::Macd {
        fast: 5,
        slow: 35,
        signal: 5,
    };
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        json,
        json!({"type": "macd", "fast": 5, "slow": 35, "signal": 5})
    );
    assert_eq!(parse(json), spec);
}

#[test]
fn an_unknown_parameter_is_rejected_by_name() {
    let err = serde_json::from_str::<IndicatorSpec>(r#"{"type":"rsi","perid":14}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("perid"), "{err}");
    // A parameter of another indicator is just as unknown.
    let err = serde_json::from_value::<IndicatorSpec>(json!({"type": "sma", "std_dev": 2.0}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("std_dev"), "{err}");
}

#[test]
fn an_unknown_or_missing_type_is_rejected() {
    let err = serde_json::from_value::<IndicatorSpec>(json!({"type": "vwap", "period": 14}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("vwap"), "{err}");
    // Names are snake_case, as in a strategy file.
    assert!(serde_json::from_value::<IndicatorSpec>(json!({"type": "BollingerBands"})).is_err());
    let err = serde_json::from_value::<IndicatorSpec>(json!({"period": 14}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("type"), "{err}");
}

#[test]
fn validate_names_the_offending_field() {
    let cases = [
        (
            json!({"type": "rsi", "period": 0}),
            "period must be at least 1",
        ),
        (
            json!({"type": "sma", "period": 0}),
            "period must be at least 1",
        ),
        (
            json!({"type": "ema", "period": 0}),
            "period must be at least 1",
        ),
        (
            json!({"type": "adx", "period": 0}),
            "period must be at least 1",
        ),
        (
            json!({"type": "atr", "period": 0}),
            "period must be at least 1",
        ),
        (
            json!({"type": "roc", "period": 0}),
            "period must be at least 1",
        ),
        (
            json!({"type": "bollinger_bands", "period": 0}),
            "period must be at least 1",
        ),
        (
            json!({"type": "macd", "fast": 0}),
            "fast must be at least 1",
        ),
        (
            json!({"type": "macd", "signal": 0}),
            "signal must be at least 1",
        ),
        (
            json!({"type": "macd", "fast": 26, "slow": 26}),
            "fast must be less than slow",
        ),
        (
            json!({"type": "macd", "fast": 30, "slow": 26}),
            "fast must be less than slow",
        ),
        (
            json!({"type": "bollinger_bands", "std_dev": 0}),
            "std_dev must be a positive number",
        ),
        (
            json!({"type": "bollinger_bands", "std_dev": -1.5}),
            "std_dev must be a positive number",
        ),
        (
            json!({"type": "stochastic", "k_period": 0}),
            "k_period must be at least 1",
        ),
        (
            json!({"type": "stochastic", "d_period": 0}),
            "d_period must be at least 1",
        ),
        (
            json!({"type": "stochastic", "smooth": 0}),
            "smooth must be at least 1",
        ),
    ];
    for (json, message) in cases {
        let err = parse(json.clone()).validate().unwrap_err();
        assert!(err.starts_with(message), "{json}: {err}");
    }
    let nan_band = IndicatorSpec::BollingerBands {
        period: 20,
        std_dev: f64::NAN,
    };
    assert!(nan_band.validate().unwrap_err().contains("std_dev"));
    for spec in default_specs() {
        spec.validate().unwrap();
    }
}

fn default_specs() -> Vec<IndicatorSpec> {
    [
        "rsi",
        "sma",
        "ema",
        "macd",
        "adx",
        "atr",
        "bollinger_bands",
        "roc",
        "stochastic",
    ]
    .into_iter()
    .map(|kind| parse(json!({ "type": kind })))
    .collect()
}

#[test]
fn output_names_are_listed_in_compute_order() {
    let expected: [&[&str]; 9] = [
        &["value"],
        &["value"],
        &["value"],
        &["macd", "signal", "histogram"],
        &["adx", "plus_di", "minus_di"],
        &["value"],
        &["upper", "middle", "lower"],
        &["value"],
        &["k", "d"],
    ];
    let fixture = fixture();
    for (spec, names) in default_specs().iter().zip(expected) {
        assert_eq!(spec.output_names(), names, "{spec:?}");
        let computed: Vec<&str> = spec
            .compute(&fixture.bars.all())
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(computed, names, "{spec:?}");
    }
}

#[test]
fn warmup_is_the_longest_leading_nan_run_among_the_outputs() {
    let fixture = fixture();
    for spec in default_specs() {
        let longest = spec
            .compute(&fixture.bars.all())
            .iter()
            .map(|(_, values)| first_defined(values))
            .max()
            .unwrap();
        assert_eq!(spec.warmup(), longest, "{spec:?}");
    }
    assert_eq!(IndicatorSpec::Adx { period: 14 }.warmup(), 27);
    assert_eq!(
        IndicatorSpec::Macd {
            fast: 12,
            slow: 26,
            signal: 9
        }
        .warmup(),
        33
    );
}

#[test]
fn empty_and_short_input_give_nan_without_panicking() {
    let fixture = fixture();
    let mut specs = default_specs();
    specs.extend(
        fixture
            .indicators
            .iter()
            .map(|case| parse(case.spec.clone())),
    );
    for spec in specs {
        let full = spec.compute(&fixture.bars.all());
        let warmup = spec.warmup();
        for len in 0..=warmup + 1 {
            let outputs = spec.compute(&fixture.bars.prefix(len));
            assert_eq!(outputs.len(), spec.output_names().len());
            for ((name, values), (_, full_values)) in outputs.iter().zip(&full) {
                assert_eq!(values.len(), len, "{spec:?} {name}");
                // Each output is all NaN until the input is longer than its own warm-up...
                if len <= first_defined(full_values) {
                    assert!(
                        values.iter().all(|v| v.is_nan()),
                        "{spec:?} {name} on {len} bars: {values:?}"
                    );
                }
                // ...and never looks ahead: a bar's value does not depend on later bars.
                let same = values
                    .iter()
                    .zip(full_values)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{spec:?} {name} on {len} bars differs from the full series"
                );
            }
            // Up to warmup(), the output with the longest warm-up has nothing yet; one bar more
            // and every output has a value.
            let all_nan = |values: &Vec<f64>| values.iter().all(|v| v.is_nan());
            if len <= warmup {
                assert!(
                    outputs.iter().any(|(_, values)| all_nan(values)),
                    "{spec:?}"
                );
            } else {
                for (name, values) in &outputs {
                    assert!(values[warmup].is_finite(), "{spec:?} {name}: {values:?}");
                }
            }
        }
    }
}

#[test]
fn an_invalid_spec_computes_nan_instead_of_panicking() {
    let fixture = fixture();
    let specs = [
        IndicatorSpec::Rsi { period: 0 },
        IndicatorSpec::Sma { period: 0 },
        IndicatorSpec::Adx { period: 0 },
        IndicatorSpec::Macd {
            fast: 26,
            slow: 12,
            signal: 9,
        },
        IndicatorSpec::Stochastic {
            k_period: 14,
            d_period: 0,
            smooth: 3,
        },
        IndicatorSpec::BollingerBands {
            period: 20,
            std_dev: -2.0,
        },
    ];
    for spec in specs {
        for (name, values) in spec.compute(&fixture.bars.all()) {
            assert_eq!(values.len(), 300);
            assert!(values.iter().all(|v| v.is_nan()), "{spec:?} {name}");
        }
    }
    // Absurd but valid periods: no overflow, nothing defined.
    let huge = IndicatorSpec::Adx { period: usize::MAX };
    assert_eq!(huge.warmup(), usize::MAX - 1);
    for (_, values) in huge.compute(&fixture.bars.all()) {
        assert!(values.iter().all(|v| v.is_nan()));
    }
}

#[test]
fn series_of_different_lengths_do_not_panic() {
    let fixture = fixture();
    let full = fixture.bars.all();
    let bars = Bars {
        high: &full.high[..100],
        ..full
    };
    for spec in default_specs() {
        for (name, values) in spec.compute(&bars) {
            assert_eq!(values.len(), 300, "{spec:?} {name}");
        }
    }
    let atr = &IndicatorSpec::Atr { period: 14 }.compute(&bars)[0].1;
    assert!(atr[99].is_finite() && atr[100].is_nan());
}

#[test]
fn flat_prices_follow_the_ta_conventions() {
    let flat = vec![50.0; 60];
    let bars = Bars {
        open: &flat,
        high: &flat,
        low: &flat,
        close: &flat,
        volume: &flat,
    };
    let value = |spec: Value, output: &str| -> f64 {
        let spec = parse(spec);
        let outputs = spec.compute(&bars);
        let (_, values) = outputs.iter().find(|(name, _)| *name == output).unwrap();
        values[59]
    };
    // No losses: RSI is 100. No range: DIs and DX are 0, the stochastic is undefined.
    assert_eq!(value(json!({"type": "rsi"}), "value"), 100.0);
    assert_eq!(value(json!({"type": "adx"}), "plus_di"), 0.0);
    assert_eq!(value(json!({"type": "adx"}), "adx"), 0.0);
    assert_eq!(value(json!({"type": "atr"}), "value"), 0.0);
    assert!(value(json!({"type": "stochastic"}), "k").is_nan());
    // Bands collapse onto the average exactly, without rounding residue.
    assert_eq!(value(json!({"type": "bollinger_bands"}), "upper"), 50.0);
    assert_eq!(value(json!({"type": "bollinger_bands"}), "lower"), 50.0);
    assert_eq!(value(json!({"type": "ema"}), "value"), 50.0);
    assert_eq!(value(json!({"type": "sma"}), "value"), 50.0);
    assert_eq!(value(json!({"type": "macd"}), "histogram"), 0.0);
    assert_eq!(value(json!({"type": "roc"}), "value"), 0.0);
}
