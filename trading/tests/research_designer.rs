//! The built-in designer: every design validates, none repeats a fingerprint (over 1,000 seeds, and
//! cycle after cycle as experiments accumulate), the same context gives the same design, briefs
//! constrain it, quantile fuzzy sets fit the instrument's scale, and a mutation stays close to its
//! parent.

use std::collections::{BTreeSet, HashSet};

use chrono::{TimeZone, Utc};
use ktrdr_trading::{
    indicators::Bars,
    market_data::{Bar, SynthSpec, Timeframe, synthesize},
    research::{self, Design, DesignContext, ExperimentSummary},
    strategy::{self, Strategy},
};

/// About 2,000 hourly bars of a synthetic series (`symbol` decides the price scale: EURUSD starts
/// at 1.10, other symbols at 100).
fn bars(symbol: &str, seed: u64) -> Vec<Bar> {
    synthesize(&SynthSpec {
        symbol: symbol.into(),
        timeframe: Timeframe::H1,
        start: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2024, 4, 1, 0, 0, 0).unwrap(),
        seed,
    })
    .unwrap()
}

fn context(seed: u64, cycle: u32, brief: Option<&str>) -> DesignContext {
    DesignContext {
        research_id: format!("op_research_{seed}"),
        seed,
        cycle,
        brief: brief.map(str::to_string),
        symbol: "EURUSD".into(),
        timeframe: "1h".into(),
        data: vec![],
        indicators: research::indicator_catalogue(),
        experiments: vec![],
        tried_fingerprints: vec![],
    }
}

/// The design's strategy, checked to validate and to carry the fingerprint it claims.
fn parsed(design: &Design) -> Strategy {
    let strategy = strategy::parse(&design.strategy_yaml).unwrap_or_else(|problems| {
        panic!("{} does not validate: {problems:#?}", design.strategy_name)
    });
    assert_eq!(research::fingerprint(&strategy), design.fingerprint);
    assert_eq!(strategy.name, design.strategy_name);
    strategy
}

fn experiment(design: &Design, score: f64, suggestion: Option<&str>) -> ExperimentSummary {
    ExperimentSummary {
        research_id: "op_research".into(),
        strategy_name: design.strategy_name.clone(),
        fingerprint: design.fingerprint.clone(),
        strategy_yaml: design.strategy_yaml.clone(),
        verdict: Some("weak".into()),
        test_accuracy: None,
        baseline_accuracy: None,
        sharpe: None,
        total_return: None,
        win_rate: None,
        max_drawdown: None,
        trades: None,
        score: Some(score),
        suggestion: suggestion.map(str::to_string),
    }
}

/// The indicator types of a strategy ("rsi", "macd", …).
fn indicator_types(strategy: &Strategy) -> BTreeSet<String> {
    strategy
        .indicators
        .values()
        .map(|spec| {
            serde_json::to_value(spec).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn a_thousand_seeds_give_valid_distinct_designs() {
    let window = bars("EURUSD", 1);
    let mut prints = HashSet::new();
    let mut names = HashSet::new();
    let mut archetypes = BTreeSet::new();
    for seed in 0..1000 {
        let design = research::design(&context(seed, 0, None), &window).unwrap();
        let strategy = parsed(&design);
        assert_eq!(strategy.training_data.symbol, "EURUSD");
        assert_eq!(strategy.training_data.timeframe, Timeframe::H1);
        assert!(
            prints.insert(design.fingerprint.clone()),
            "seed {seed} repeats a fingerprint"
        );
        assert!(
            names.insert(design.strategy_name.clone()),
            "seed {seed} repeats a name"
        );
        assert!(
            design
                .strategy_name
                .starts_with(&format!("r_{}_", design.archetype))
        );
        archetypes.insert(design.archetype);
    }
    assert_eq!(
        archetypes.len(),
        4,
        "every archetype is designed: {archetypes:?}"
    );
}

#[test]
fn experiments_accumulate_cycle_after_cycle_without_a_repeat() {
    let window = bars("EURUSD", 2);
    let mut ctx = context(11, 0, None);
    let suggestions = [
        "retune_labels: relabel",
        "regularize: less",
        "more_trades: more",
        "enrich: add",
        "refine: around",
        "explore: anything",
    ];
    let mut prints = HashSet::new();
    let mut mutations = 0;
    for cycle in 0..1000u32 {
        ctx.cycle = cycle;
        let design =
            research::design(&ctx, &window).unwrap_or_else(|err| panic!("cycle {cycle}: {err}"));
        parsed(&design);
        assert!(
            prints.insert(design.fingerprint.clone()),
            "cycle {cycle} repeats a fingerprint"
        );
        if design.rationale.starts_with("mutates") {
            mutations += 1;
        }
        // A score from the fingerprint shuffles which experiment is best, as results would.
        let score = u32::from_str_radix(&design.fingerprint[..6], 16).unwrap() as f64;
        let suggestion = suggestions[cycle as usize % suggestions.len()];
        // Best first, as the research memory hands them over.
        let position = ctx
            .experiments
            .partition_point(|earlier| earlier.score >= Some(score));
        ctx.experiments
            .insert(position, experiment(&design, score, Some(suggestion)));
    }
    assert!(
        mutations >= 990,
        "only {mutations} of 1000 designs were mutations"
    );
}

#[test]
fn a_fingerprint_tried_below_the_memory_shown_is_not_designed_again() {
    let window = bars("EURUSD", 4);
    let first = research::design(&context(9, 0, None), &window).unwrap();
    // Same seed and cycle: only the tried list tells the designer that `first` exists.
    let mut told = context(9, 0, None);
    told.tried_fingerprints.push(first.fingerprint.clone());
    let next = research::design(&told, &window).unwrap();
    parsed(&next);
    assert_ne!(next.fingerprint, first.fingerprint);

    // As the worker hands it over: the best 50 experiments, and every fingerprint tried.
    let mut ctx = context(12, 0, None);
    let mut all: Vec<ExperimentSummary> = Vec::new();
    for cycle in 0..300u32 {
        ctx.cycle = cycle;
        let design = research::design(&ctx, &window).unwrap();
        assert!(
            !ctx.tried_fingerprints.contains(&design.fingerprint),
            "cycle {cycle} repeats a fingerprint"
        );
        let score = u32::from_str_radix(&design.fingerprint[..6], 16).unwrap() as f64;
        let position = all.partition_point(|earlier| earlier.score >= Some(score));
        all.insert(position, experiment(&design, score, None));
        ctx.experiments = all.iter().take(50).cloned().collect();
        ctx.tried_fingerprints.push(design.fingerprint);
    }
}

#[test]
fn the_same_context_gives_the_same_design() {
    let window = bars("EURUSD", 3);
    let first = research::design(&context(5, 0, None), &window).unwrap();
    assert_eq!(
        research::design(&context(5, 0, None), &window).unwrap(),
        first
    );
    let next_cycle = research::design(&context(5, 1, None), &window).unwrap();
    assert_ne!(next_cycle.fingerprint, first.fingerprint);
    let mut with_memory = context(5, 1, None);
    with_memory.experiments.push(experiment(&first, 1.0, None));
    let mutation = research::design(&with_memory, &window).unwrap();
    assert_eq!(research::design(&with_memory, &window).unwrap(), mutation);
}

#[test]
fn a_brief_chooses_the_archetype_and_the_indicators() {
    let window = bars("EURUSD", 4);
    for seed in 0..60 {
        let design = research::design(&context(seed, 0, Some("Mean-Reversion")), &window).unwrap();
        assert_eq!(design.archetype, "mean_reversion", "seed {seed}");
        let design = research::design(&context(seed, 0, Some("trend, please")), &window).unwrap();
        assert_eq!(design.archetype, "trend", "seed {seed}");
        let design = research::design(&context(seed, 0, Some("rsi and macd")), &window).unwrap();
        let types = indicator_types(&parsed(&design));
        assert!(
            types.contains("rsi") && types.contains("macd"),
            "seed {seed}: {types:?}"
        );
        let design =
            research::design(&context(seed, 0, Some("breakout with atr on 1h")), &window).unwrap();
        assert_eq!(design.archetype, "breakout");
        assert!(indicator_types(&parsed(&design)).contains("atr"));
    }
    // Two archetypes named: each design is one of them.
    let archetypes: BTreeSet<String> = (0..40)
        .map(|seed| {
            research::design(&context(seed, 0, Some("momentum or breakout")), &window)
                .unwrap()
                .archetype
        })
        .collect();
    assert_eq!(
        archetypes,
        BTreeSet::from(["breakout".into(), "momentum".into()])
    );
}

#[test]
fn a_brief_binds_mutations_too() {
    let window = bars("EURUSD", 5);
    let momentum = research::design(&context(1, 0, Some("momentum")), &window).unwrap();
    let mut ctx = context(1, 1, Some("stochastic trend"));
    ctx.experiments.push(experiment(&momentum, 5.0, None));
    let design = research::design(&ctx, &window).unwrap();
    // The momentum experiment is no parent for a trend brief.
    assert!(
        !design.rationale.contains(&momentum.strategy_name),
        "{}",
        design.rationale
    );
    assert_eq!(design.archetype, "trend");
    assert!(indicator_types(&parsed(&design)).contains("stochastic"));
    // A trend experiment with a stochastic is one; its mutations keep the stochastic.
    ctx.experiments
        .insert(0, experiment(&design, 9.0, Some("enrich: add")));
    for cycle in 2..30 {
        ctx.cycle = cycle;
        let mutation = research::design(&ctx, &window).unwrap();
        assert!(mutation.rationale.contains(&design.strategy_name));
        assert_eq!(mutation.archetype, "trend");
        assert!(
            indicator_types(&parsed(&mutation)).contains("stochastic"),
            "cycle {cycle}"
        );
    }
}

#[test]
fn a_timeframe_in_the_brief_must_be_the_research_s() {
    let window = bars("EURUSD", 6);
    let mut ctx = context(1, 0, Some("momentum on 4h"));
    let err = research::design(&ctx, &window).unwrap_err().to_string();
    assert!(
        err.contains("the brief asks for 4h but the research trades EURUSD 1h"),
        "{err}"
    );
    assert_eq!(
        research::brief_timeframe(Some("momentum on 4h")).unwrap(),
        Some(Timeframe::H4)
    );
    ctx.timeframe = "4h".into();
    let design = research::design(&ctx, &window).unwrap();
    assert_eq!(parsed(&design).training_data.timeframe, Timeframe::H4);
}

#[test]
fn an_unsatisfiable_brief_is_refused_with_the_reason() {
    let window = bars("EURUSD", 7);
    let refused = |brief: &str, bars: &[Bar]| {
        research::design(&context(1, 0, Some(brief)), bars)
            .unwrap_err()
            .to_string()
    };
    let err = refused("ichimoku cloud breakout", &window);
    assert!(
        err.contains("'ichimoku', an indicator ktrdr does not have"),
        "{err}"
    );
    assert!(err.contains("rsi, stochastic, adx, macd"), "{err}");
    let err = refused("rsi on 1h or 4h", &window);
    assert!(err.contains("several timeframes (1h, 4h)"), "{err}");
    // Quantile fuzzy sets need the training window's bars.
    let err = refused("macd", &window[..60]);
    assert!(err.contains("the brief asks for macd"), "{err}");
    assert!(
        err.contains("the 60 bars of EURUSD 1h given have 42 for training"),
        "{err}"
    );
    let err = refused("breakout", &[]);
    assert!(err.contains("no strategy the brief allows can be designed: breakout needs one of atr, bollinger_bands"), "{err}");
    assert!(
        err.contains("more than the 0 training bars of the 0 given"),
        "{err}"
    );
    let err = refused("breakout without atr or bollinger", &window);
    assert!(
        err.contains("breakout needs one of atr, bollinger_bands; the brief rules those out"),
        "{err}"
    );
    let err = refused("rsi, but not rsi", &window);
    assert!(
        err.contains("the brief both asks for rsi and rules it out"),
        "{err}"
    );
    // Without bars the bounded oscillators still make designs.
    let design = research::design(&context(1, 0, Some("momentum")), &[]).unwrap();
    assert!(
        indicator_types(&parsed(&design))
            .iter()
            .all(|t| ["rsi", "stochastic", "adx"].contains(&t.as_str()))
    );
}

/// How often each fuzzy set of each quantile-placed input is active (membership > 0) on `bars`,
/// and the share of bars where at least one set of the input is.
fn activity(strategy: &Strategy, bars: &[Bar]) -> Vec<(String, Vec<f64>, f64)> {
    let column = |field: fn(&Bar) -> f64| bars.iter().map(field).collect::<Vec<f64>>();
    let (open, high, low, close, volume) = (
        column(|b| b.open),
        column(|b| b.high),
        column(|b| b.low),
        column(|b| b.close),
        column(|b| b.volume),
    );
    let series = Bars {
        open: &open,
        high: &high,
        low: &low,
        close: &close,
        volume: &volume,
    };
    let mut found = Vec::new();
    for (reference, sets) in &strategy.fuzzy_sets {
        let (id, output) = reference.split_once('.').unwrap_or((reference, "value"));
        let spec = &strategy.indicators[id];
        let bounded = matches!(
            spec,
            ktrdr_trading::indicators::IndicatorSpec::Rsi { .. }
                | ktrdr_trading::indicators::IndicatorSpec::Stochastic { .. }
                | ktrdr_trading::indicators::IndicatorSpec::Adx { .. }
        );
        if bounded {
            continue;
        }
        let values: Vec<f64> = spec
            .compute(&series)
            .into_iter()
            .find(|(name, _)| *name == output)
            .unwrap()
            .1
            .into_iter()
            .filter(|v| v.is_finite())
            .collect();
        let share = |active: usize| active as f64 / values.len() as f64;
        let per_set = sets
            .values()
            .map(|set| share(values.iter().filter(|&&v| set.membership(v) > 0.0).count()))
            .collect();
        let covered = share(
            values
                .iter()
                .filter(|&&v| sets.values().any(|s| s.membership(v) > 0.0))
                .count(),
        );
        found.push((reference.clone(), per_set, covered));
    }
    found
}

#[test]
fn quantile_fuzzy_sets_fit_the_instrument_s_price_scale() {
    // A stock near 150 (the synthetic stock starts at 100) and EURUSD near 1.1.
    let stock: Vec<Bar> = bars("ACME", 8)
        .into_iter()
        .map(|bar| Bar {
            open: bar.open * 1.5,
            high: bar.high * 1.5,
            low: bar.low * 1.5,
            close: bar.close * 1.5,
            ..bar
        })
        .collect();
    let fx = bars("EURUSD", 8);
    assert!((1.0..1.3).contains(&fx[0].close) && (140.0..160.0).contains(&stock[0].close));
    let mut thresholds = Vec::new();
    for (symbol, series) in [("EURUSD", &fx), ("ACME", &stock)] {
        let (window, later) = series.split_at(series.len() * 3 / 4);
        let mut inputs = 0;
        for seed in 0..40 {
            let mut ctx = context(seed, 0, Some("macd atr roc"));
            ctx.symbol = symbol.into();
            let strategy = parsed(&research::design(&ctx, window).unwrap());
            let labels = &strategy.training.labels;
            // A move over n bars grows as the square root of n.
            let per_bar = labels.zigzag_threshold / (labels.lookahead as f64).sqrt();
            thresholds.push((symbol, per_bar));
            for (reference, per_set, covered) in activity(&strategy, window) {
                inputs += 1;
                for share in &per_set {
                    assert!(
                        *share >= 0.1,
                        "{symbol} seed {seed} {reference}: {per_set:?}"
                    );
                }
                assert!(
                    covered > 0.999,
                    "{symbol} seed {seed} {reference}: {covered}"
                );
            }
            // Bars after the window (where the model is tested) still fall into the sets.
            for (reference, _, covered) in activity(&strategy, later) {
                assert!(
                    covered > 0.99,
                    "{symbol} seed {seed} {reference} later: {covered}"
                );
            }
        }
        assert!(
            inputs >= 120,
            "{symbol}: only {inputs} quantile-placed inputs checked"
        );
    }
    // The ZigZag threshold follows the instrument's moves too: the stock (25 % a year) moves about
    // three times as much as EURUSD (8 %).
    let mean = |wanted: &str| {
        let of: Vec<f64> = thresholds
            .iter()
            .filter(|(s, _)| *s == wanted)
            .map(|(_, t)| *t)
            .collect();
        of.iter().sum::<f64>() / of.len() as f64
    };
    let ratio = mean("ACME") / mean("EURUSD");
    assert!(
        (2.0..5.0).contains(&ratio),
        "stock/FX threshold ratio {ratio}"
    );
}

#[test]
fn a_mutation_stays_close_to_the_best_experiment() {
    let window = bars("EURUSD", 9);
    let best = research::design(&context(3, 0, None), &window).unwrap();
    let other = research::design(&context(4, 0, None), &window).unwrap();
    let parent = parsed(&best);
    let parent_ids: BTreeSet<&String> = parent.indicators.keys().collect();
    for cycle in 1..40 {
        let mut ctx = context(3, cycle, None);
        ctx.experiments = vec![experiment(&best, 2.0, None), experiment(&other, 1.0, None)];
        let design = research::design(&ctx, &window).unwrap();
        assert!(
            design
                .rationale
                .starts_with(&format!("mutates {}", best.strategy_name))
        );
        assert_eq!(design.archetype, best.archetype);
        let child = parsed(&design);
        let shared = child
            .indicators
            .keys()
            .filter(|id| parent_ids.contains(id))
            .count();
        // One change: at most one indicator added, dropped or re-parametrised.
        assert!(
            shared + 1 >= parent_ids.len() && child.indicators.len() <= parent_ids.len() + 1,
            "cycle {cycle}: {:?} from {parent_ids:?} ({})",
            child.indicators.keys().collect::<Vec<_>>(),
            design.rationale
        );
    }
}

#[test]
fn a_mutation_carries_out_the_suggestion() {
    let window = bars("EURUSD", 10);
    let best = research::design(&context(3, 0, None), &window).unwrap();
    let parent = parsed(&best);
    let mutate = |suggestion: &str, cycle: u32| {
        let mut ctx = context(3, cycle, None);
        ctx.experiments = vec![experiment(&best, 2.0, Some(suggestion))];
        parsed(&research::design(&ctx, &window).unwrap())
    };
    for cycle in 1..20 {
        let child = mutate("more_trades: lower the threshold", cycle);
        let more = child.decisions.confidence_threshold < parent.decisions.confidence_threshold
            || child.decisions.min_separation_bars < parent.decisions.min_separation_bars
            || child.training.labels.zigzag_threshold < parent.training.labels.zigzag_threshold;
        assert!(more, "cycle {cycle}: no step toward more trades");
        assert_eq!(child.indicators, parent.indicators);

        let child = mutate("regularize: smaller", cycle);
        let units = |s: &Strategy| s.model.hidden_layers.iter().sum::<usize>();
        let lags = |s: &Strategy| s.nn_inputs.iter().map(|i| i.lags).sum::<usize>();
        let regularised = child.model.dropout > parent.model.dropout
            || units(&child) < units(&parent)
            || lags(&child) < lags(&parent);
        assert!(regularised, "cycle {cycle}: no step toward regularisation");

        let child = mutate("retune_labels: relabel", cycle);
        assert_ne!(
            child.training.labels, parent.training.labels,
            "cycle {cycle}"
        );
        assert_eq!(child.model, parent.model);
    }
}

#[test]
fn the_fingerprint_ignores_names_and_order_but_not_what_trains() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/rsi_macd_trend.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let original = research::fingerprint(&strategy::parse(&text).unwrap());
    assert_eq!(original.len(), 64);
    let print = |edits: &[(&str, &str)]| {
        let mut edited = text.clone();
        for (old, new) in edits {
            assert!(edited.contains(old), "{old}");
            edited = edited.replace(old, new);
        }
        research::fingerprint(&strategy::parse(&edited).unwrap())
    };
    // Renamed strategy, indicator and fuzzy sets, another description: the same strategy.
    assert_eq!(
        print(&[
            ("name: rsi_macd_trend", "name: renamed"),
            ("description: RSI", "description: Renamed RSI"),
            ("rsi_14", "my_rsi"),
            ("oversold", "low"),
        ]),
        original
    );
    // What trains differently does not.
    assert_ne!(
        print(&[("{ type: rsi, period: 14 }", "{ type: rsi, period: 15 }")]),
        original
    );
    assert_ne!(
        print(&[("oversold: [0, 0, 30]", "oversold: [0, 0, 31]")]),
        original
    );
    assert_ne!(print(&[("dropout: 0.2", "dropout: 0.3")]), original);
    assert_ne!(print(&[("lags: 2", "lags: 3")]), original);
    assert_ne!(print(&[("symbol: EURUSD", "symbol: GBPUSD")]), original);
    assert_ne!(
        print(&[("confidence_threshold: 0.55", "confidence_threshold: 0.6")]),
        original
    );
}

#[test]
fn a_brief_rules_out_what_it_negates() {
    let window = bars("EURUSD", 11);
    let mut ctx = context(2, 0, Some("Momentum, without MACD or ROC"));
    for cycle in 0..60 {
        ctx.cycle = cycle;
        let design = research::design(&ctx, &window).unwrap();
        let types = indicator_types(&parsed(&design));
        assert_eq!(design.archetype, "momentum");
        assert!(
            !types.contains("macd") && !types.contains("roc"),
            "cycle {cycle}: {types:?}"
        );
        // Fed back, so that later cycles mutate (and might add an indicator).
        let score = cycle as f64;
        ctx.experiments
            .insert(0, experiment(&design, score, Some("enrich: add")));
    }
    let archetypes: BTreeSet<String> = (0..60)
        .map(|seed| {
            research::design(&context(seed, 0, Some("no breakout, no trend")), &window)
                .unwrap()
                .archetype
        })
        .collect();
    assert_eq!(
        archetypes,
        BTreeSet::from(["mean_reversion".into(), "momentum".into()])
    );
}
