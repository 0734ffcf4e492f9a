//! Composing a fresh strategy of one archetype: its indicators (the brief's, a core one of the
//! archetype, more from its pool), their parameters, the outputs fed to the network with their
//! fuzzy sets and lags, and a model, training and decisions from the grid.

use std::collections::BTreeMap;

use rand::{
    Rng,
    seq::{IndexedRandom, SliceRandom},
};

use super::{
    archetypes::Archetype,
    brief::Brief,
    catalogue::{self, Kind, Scale},
    fuzzy_ranges::{self, Columns},
    grid,
};
use crate::{
    indicators::IndicatorSpec,
    market_data::Timeframe,
    strategy::{NnInput, Strategy, TrainingData},
};

/// Whether a design can give `kind` fuzzy sets with these bars.
pub fn placeable(kind: Kind, columns: &Columns) -> bool {
    kind.scale() == Scale::Bounded || kind.variants().iter().all(|spec| columns.can_place(spec))
}

/// A fresh strategy of `archetype` (its name is the caller's to give), or `None` when one of its
/// indicators could not be given fuzzy sets.
pub fn compose(
    archetype: Archetype,
    brief: &Brief,
    (symbol, timeframe): (&str, Timeframe),
    columns: &Columns,
    rng: &mut impl Rng,
) -> Option<Strategy> {
    let mut kinds: Vec<Kind> = brief.indicators.clone();
    if !kinds.iter().any(|kind| archetype.core().contains(kind)) {
        let core: Vec<Kind> = archetype
            .core()
            .iter()
            .copied()
            .filter(|kind| brief.permits(*kind) && placeable(*kind, columns))
            .collect();
        kinds.push(*core.choose(rng)?);
    }
    let mut pool: Vec<Kind> = archetype
        .pool()
        .iter()
        .copied()
        .filter(|kind| !kinds.contains(kind) && brief.permits(*kind) && placeable(*kind, columns))
        .collect();
    pool.shuffle(rng);
    let wanted = rng.random_range(2..=3usize);
    while kinds.len() < wanted
        && let Some(kind) = pool.pop()
    {
        kinds.push(kind);
    }
    let mut strategy = Strategy {
        name: String::new(),
        version: "3.0".into(),
        description: None,
        training_data: TrainingData {
            symbol: symbol.to_string(),
            timeframe,
            history_required: 0,
        },
        indicators: BTreeMap::new(),
        fuzzy_sets: BTreeMap::new(),
        nn_inputs: Vec::new(),
        model: grid::model(rng),
        training: grid::training(rng, columns),
        decisions: grid::decisions(rng),
        backtest: grid::backtest(),
    };
    for kind in kinds {
        let spec = grid::pick(rng, &kind.variants());
        add_indicator(&mut strategy, spec, columns, rng)?;
    }
    strategy.training_data.history_required = grid::history_required(&strategy);
    Some(strategy)
}

/// Adds `spec` under its legible id, with fuzzy sets and an input for its main output and, now
/// and then, for one of its other outputs; `None` when the id is taken or sets cannot be placed.
pub fn add_indicator(
    strategy: &mut Strategy,
    spec: IndicatorSpec,
    columns: &Columns,
    rng: &mut impl Rng,
) -> Option<()> {
    let id = catalogue::indicator_id(&spec);
    if strategy.indicators.contains_key(&id) {
        return None;
    }
    let outputs = Kind::of(&spec).input_outputs();
    let mut used = vec![outputs[0]];
    if outputs.len() > 1 && rng.random_bool(0.3) {
        used.push(grid::pick(rng, &outputs[1..]));
    }
    for output in used {
        let reference = catalogue::reference(&id, &spec, output);
        let sets = fuzzy_ranges::sets_for(&spec, output, columns, rng)?;
        strategy.fuzzy_sets.insert(reference.clone(), sets);
        strategy.nn_inputs.push(NnInput {
            input: reference,
            lags: grid::pick(rng, &grid::LAGS),
        });
    }
    strategy.indicators.insert(id, spec);
    Some(())
}
