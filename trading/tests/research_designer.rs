//! The built-in designer: every design validates, none repeats a fingerprint (over 1,000 seeds, and
//! cycle after cycle as experiments accumulate), the same context gives the same design, briefs
//! constrain it, quantile fuzzy sets fit the instrument's scale, and a mutation stays close to its
//! parent.

use std::collections::{BTreeSet, HashSet};

use chrono::{TimeZone, Utc};
use ktrdr_trading::{
    market_data::{Bar, SynthSpec, Timeframe, synthesize},
    research::{self, Design, DesignContext},
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
