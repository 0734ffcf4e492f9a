//! Strategy files: the examples are valid, and a broken file gets every problem with its path/line.

use ktrdr_trading::strategy::{self, Problem};

fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../strategies")
        .join(name)
}

#[test]
fn example_strategies_are_valid() {
    for name in ["rsi_macd_trend.yaml", "bollinger_reversion.yaml"] {
        let parsed = strategy::parse_file(&example(name));
        let strategy = parsed.unwrap_or_else(|problems| panic!("{name}: {problems:#?}"));
        assert!(!strategy.indicators.is_empty());
        assert!(
            strategy
                .nn_inputs
                .iter()
                .all(|input| strategy.fuzzy_sets.contains_key(&input.input))
        );
    }
}

/// The example with `replace` applied (each pair: old text, new text).
fn broken(replacements: &[(&str, &str)]) -> Vec<Problem> {
    let mut text = std::fs::read_to_string(example("rsi_macd_trend.yaml")).unwrap();
    for (old, new) in replacements {
        assert!(text.contains(old), "the example no longer contains {old:?}");
        text = text.replacen(old, new, 1);
    }
    strategy::parse(&text).expect_err("the broken strategy must be refused")
}

fn find<'p>(problems: &'p [Problem], path: &str) -> &'p Problem {
    problems
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no problem at {path}: {problems:#?}"))
}

#[test]
fn every_problem_is_reported_with_its_path_and_line() {
    let problems = broken(&[
        (
            "rsi_14: { type: rsi, period: 14 }",
            "rsi_14: { type: rsi, perod: 14 }",
        ),
        (
            "atr_14: { type: atr, period: 14 }",
            "atr_14: { type: astrology }",
        ),
        ("  dropout: 0.2", "  dropout: 1.5"),
        ("    train: 0.7", "    train: 0.8"),
        ("decisions:", "colour: blue\ndecisions:"),
    ]);
    let rsi = find(&problems, "indicators.rsi_14");
    assert!(rsi.message.contains("perod"), "{rsi:?}");
    assert_eq!(rsi.line, Some(12));
    let atr = find(&problems, "indicators.atr_14.type");
    assert!(atr.message.contains("astrology"), "{atr:?}");
    let dropout = find(&problems, "model.dropout");
    assert_eq!(dropout.message, "expected a number in [0, 1), got 1.5");
    assert!(dropout.line.is_some());
    let split = find(&problems, "training.split");
    assert!(
        split
            .message
            .starts_with("train + validation + test must be 1"),
        "{split:?}"
    );
    let colour = find(&problems, "colour");
    assert!(colour.message.starts_with("unknown key"), "{colour:?}");
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn references_to_missing_indicators_outputs_and_fuzzy_sets_are_refused() {
    let problems = broken(&[
        ("  adx_14.adx:", "  adx_99.adx:"),
        ("  macd.histogram:\n", "  macd.hist:\n"),
        ("  - input: rsi_14\n", "  - input: rsi_7\n"),
    ]);
    let adx = find(&problems, "fuzzy_sets.adx_99.adx");
    assert!(
        adx.message
            .contains("indicator 'adx_99', which is not defined"),
        "{adx:?}"
    );
    let macd = find(&problems, "fuzzy_sets.macd.hist");
    assert_eq!(
        macd.message,
        "'macd' has no output 'hist' (outputs: macd, signal, histogram)"
    );
    let input = find(&problems, "nn_inputs[0].input");
    assert!(
        input.message.starts_with("'rsi_7' has no fuzzy sets"),
        "{input:?}"
    );
    assert_eq!(input.line, Some(32));
    assert_eq!(find(&problems, "nn_inputs[2].input").line, Some(36));
    // macd.histogram and adx_14.adx lost their fuzzy sets, so those inputs are refused too.
    assert!(
        problems.iter().any(|p| p.path == "nn_inputs[1].input"),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn bad_membership_functions_and_yaml_syntax_are_refused() {
    let problems = broken(&[("    oversold: [0, 0, 30]", "    oversold: [30, 0, 0]")]);
    let set = find(&problems, "fuzzy_sets.rsi_14.oversold");
    assert!(set.message.contains("ascending"), "{set:?}");

    let problems = strategy::parse("name: x\nindicators: [unclosed\n").unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.starts_with("not valid YAML"),
        "{:?}",
        problems[0]
    );
    assert!(problems[0].line.is_some());

    let problems = broken(&[("  epochs: 50", "  epochs: 50\n  epoch_count: 3")]);
    let unknown = find(&problems, "training.epoch_count");
    assert!(
        unknown.message.starts_with("unknown field `epoch_count`"),
        "{unknown:?}"
    );
    assert_eq!(unknown.line, Some(45));

    let problems = strategy::parse("name: only\n").unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.path == "indicators" && p.message == "missing (required)")
    );
}
