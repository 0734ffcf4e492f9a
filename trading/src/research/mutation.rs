//! Mutating an earlier strategy: a few small changes (an indicator's periods, one input's fuzzy
//! sets or lags, a model or training parameter, the labels, the decisions, an indicator added or
//! dropped), the first of them chosen by the suggestion its assessment left. Everything else stays
//! as it was, so the new strategy is a neighbour of the old one and its result says what the
//! change did.

use rand::{
    Rng,
    seq::{IndexedMutRandom, IndexedRandom},
};

use super::{
    archetypes::Archetype,
    brief::Brief,
    catalogue::{self, Kind, Scale},
    compose,
    fuzzy_ranges::{self, Columns},
    grid,
    suggestion::Suggestion,
};
use crate::strategy::Strategy;

/// The kinds of change a mutation makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Periods,
    FuzzySets,
    Lags,
    Model,
    Labels,
    Decisions,
    AddIndicator,
    DropIndicator,
    /// Toward a model that generalises: more dropout, a smaller network, fewer lags.
    Regularize,
    /// Toward more trades: a lower confidence threshold, fewer bars between trades, a lower
    /// ZigZag threshold (more BUY and SELL labels).
    MoreTrades,
}

/// The undirected changes, from which a mutation draws when no suggestion directs it.
const ALL_CHANGES: [Change; 8] = [
    Change::Periods,
    Change::FuzzySets,
    Change::Lags,
    Change::Model,
    Change::Labels,
    Change::Decisions,
    Change::AddIndicator,
    Change::DropIndicator,
];

/// The changes that carry out a suggestion.
fn changes_for(suggestion: Suggestion) -> &'static [Change] {
    match suggestion {
        Suggestion::RetuneLabels => &[Change::Labels],
        Suggestion::Regularize => &[Change::Regularize],
        Suggestion::MoreTrades => &[Change::MoreTrades],
        Suggestion::Enrich => &[Change::AddIndicator, Change::FuzzySets],
        Suggestion::Refine => &[Change::Periods, Change::FuzzySets],
        Suggestion::Explore => &ALL_CHANGES,
    }
}

/// What a mutation needs to know besides the parent.
pub struct Mutator<'a> {
    pub archetype: Archetype,
    pub brief: &'a Brief,
    pub columns: &'a Columns,
}

impl Mutator<'_> {
    /// `parent` with `count` changes, the first following `suggestion`, and a description of each;
    /// `None` when no change applied.
    pub fn mutate(
        &self,
        parent: &Strategy,
        suggestion: Option<Suggestion>,
        count: usize,
        rng: &mut impl Rng,
    ) -> Option<(Strategy, Vec<String>)> {
        let mut strategy = parent.clone();
        let mut done = Vec::new();
        // Each change may not apply (nothing to drop, no other value); a few more tries than
        // changes wanted keeps the count without looping on a strategy where none applies.
        for attempt in 0..count * 4 {
            if done.len() == count {
                break;
            }
            let choices = match suggestion {
                Some(suggestion) if attempt == 0 => changes_for(suggestion),
                _ => &ALL_CHANGES,
            };
            let change = *choices.choose(rng).expect("non-empty");
            if let Some(description) = self.apply(&mut strategy, change, rng) {
                done.push(description);
            }
        }
        strategy.training_data.history_required = grid::history_required(&strategy);
        (!done.is_empty()).then_some((strategy, done))
    }

    fn apply(&self, strategy: &mut Strategy, change: Change, rng: &mut impl Rng) -> Option<String> {
        match change {
            Change::Periods => self.change_periods(strategy, rng),
            Change::FuzzySets => self.change_fuzzy_sets(strategy, rng),
            Change::Lags => {
                let input = strategy.nn_inputs.choose_mut(rng)?;
                let lags = grid::another(rng, &[0, 1, 2, 3], &input.lags)?;
                let description = format!("{} lags {} → {lags}", input.input, input.lags);
                input.lags = lags;
                Some(description)
            }
            Change::Model => change_model(strategy, rng),
            Change::Labels => self.change_labels(strategy, rng),
            Change::Decisions => {
                let decisions = &mut strategy.decisions;
                if rng.random_bool(0.5) {
                    let value =
                        grid::another(rng, &grid::CONFIDENCE, &decisions.confidence_threshold)?;
                    let description = format!(
                        "confidence threshold {} → {value}",
                        decisions.confidence_threshold
                    );
                    decisions.confidence_threshold = value;
                    Some(description)
                } else {
                    let value =
                        grid::another(rng, &grid::SEPARATION, &decisions.min_separation_bars)?;
                    let description = format!(
                        "bars between trades {} → {value}",
                        decisions.min_separation_bars
                    );
                    decisions.min_separation_bars = value;
                    Some(description)
                }
            }
            Change::AddIndicator => self.add_indicator(strategy, rng),
            Change::DropIndicator => self.drop_indicator(strategy, rng),
            Change::Regularize => regularize(strategy, rng),
            Change::MoreTrades => more_trades(strategy, rng),
        }
    }

    /// Another parameter set for one indicator, renamed to match; its quantile fuzzy sets are
    /// placed again, since the scale of e.g. an ATR changes with its period.
    fn change_periods(&self, strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
        let ids: Vec<String> = strategy.indicators.keys().cloned().collect();
        let id = ids.choose(rng)?.clone();
        let spec = strategy.indicators[&id].clone();
        let kind = Kind::of(&spec);
        let new_spec = grid::another(rng, &kind.variants(), &spec)?;
        let new_id = catalogue::indicator_id(&new_spec);
        if strategy.indicators.contains_key(&new_id) {
            return None;
        }
        let mut sets = Vec::new();
        for (reference, old_sets) in &strategy.fuzzy_sets {
            let Some(output) = output_of(reference, &id, &spec) else {
                continue;
            };
            let new_sets = match kind.scale() {
                Scale::Bounded => old_sets.clone(),
                Scale::Quantile => fuzzy_ranges::sets_for(&new_spec, output, self.columns, rng)?,
            };
            sets.push((
                reference.clone(),
                catalogue::reference(&new_id, &new_spec, output),
                new_sets,
            ));
        }
        for (old, new, new_sets) in sets {
            strategy.fuzzy_sets.remove(&old);
            strategy.fuzzy_sets.insert(new.clone(), new_sets);
            for input in strategy.nn_inputs.iter_mut().filter(|i| i.input == old) {
                input.input = new.clone();
            }
        }
        strategy.indicators.remove(&id);
        strategy.indicators.insert(new_id.clone(), new_spec);
        Some(format!("{id} → {new_id}"))
    }

    /// The fuzzy sets of one input placed anew (other thresholds or cut quantiles).
    fn change_fuzzy_sets(&self, strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
        let input = strategy.nn_inputs.choose(rng)?.input.clone();
        let (id, output) = input.split_once('.').unwrap_or((&input, "value"));
        let spec = strategy.indicators.get(id)?;
        let sets = fuzzy_ranges::sets_for(spec, output, self.columns, rng)?;
        if strategy.fuzzy_sets.get(&input) == Some(&sets) {
            return None;
        }
        let names: Vec<&str> = sets.keys().map(String::as_str).collect();
        let description = format!("new fuzzy sets over {input} ({})", names.join(", "));
        strategy.fuzzy_sets.insert(input, sets);
        Some(description)
    }

    fn change_labels(&self, strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
        let labels = &mut strategy.training.labels;
        if rng.random_bool(0.6) {
            let factor = grid::pick(rng, &[0.67, 1.5]);
            let threshold = grid::two_digits(labels.zigzag_threshold * factor).clamp(0.0001, 0.5);
            if threshold == labels.zigzag_threshold {
                return None;
            }
            let description = format!("ZigZag threshold {} → {threshold}", labels.zigzag_threshold);
            labels.zigzag_threshold = threshold;
            Some(description)
        } else {
            let lookahead = grid::another(rng, &grid::LOOKAHEAD, &labels.lookahead)?;
            let description = format!("label lookahead {} → {lookahead}", labels.lookahead);
            labels.lookahead = lookahead;
            Some(description)
        }
    }

    /// One more indicator of the archetype's pool (or, when all are in, of any).
    fn add_indicator(&self, strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
        let present: Vec<Kind> = strategy.indicators.values().map(Kind::of).collect();
        let absent = |kinds: &[Kind]| -> Vec<Kind> {
            kinds
                .iter()
                .copied()
                .filter(|kind| {
                    !present.contains(kind)
                        && self.brief.permits(*kind)
                        && compose::placeable(*kind, self.columns)
                })
                .collect()
        };
        let mut candidates = absent(self.archetype.pool());
        if candidates.is_empty() {
            candidates = absent(&Kind::ALL);
        }
        let kind = *candidates.choose(rng)?;
        let spec = grid::pick(rng, &kind.variants());
        let id = catalogue::indicator_id(&spec);
        compose::add_indicator(strategy, spec, self.columns, rng)?;
        Some(format!("added {id}"))
    }

    /// One indicator fewer: never the last input, one the brief asks for, or the archetype's last
    /// core indicator.
    fn drop_indicator(&self, strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
        let kinds: Vec<Kind> = strategy.indicators.values().map(Kind::of).collect();
        let cores = kinds
            .iter()
            .filter(|kind| self.archetype.core().contains(kind))
            .count();
        let droppable: Vec<String> = strategy
            .indicators
            .iter()
            .filter(|(_, spec)| {
                let kind = Kind::of(spec);
                let required = self.brief.indicators.contains(&kind);
                let last_core = cores == 1 && self.archetype.core().contains(&kind);
                !required && !last_core
            })
            .map(|(id, _)| id.clone())
            .collect();
        let id = droppable.choose(rng)?.clone();
        let spec = strategy.indicators[&id].clone();
        let remaining = strategy
            .nn_inputs
            .iter()
            .filter(|input| output_of(&input.input, &id, &spec).is_none())
            .count();
        if remaining == 0 {
            return None;
        }
        strategy.indicators.remove(&id);
        strategy
            .fuzzy_sets
            .retain(|reference, _| output_of(reference, &id, &spec).is_none());
        strategy
            .nn_inputs
            .retain(|input| output_of(&input.input, &id, &spec).is_none());
        Some(format!("dropped {id}"))
    }
}

/// One step toward generalising, among those still possible.
fn regularize(strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
    let mut steps: Vec<u8> = Vec::new();
    let model = &strategy.model;
    if grid::DROPOUT.iter().any(|&dropout| dropout > model.dropout) {
        steps.push(0);
    }
    let units = |layers: &[usize]| layers.iter().sum::<usize>();
    if grid::HIDDEN_LAYERS
        .iter()
        .any(|layers| units(layers) < units(&model.hidden_layers))
    {
        steps.push(1);
    }
    if strategy.nn_inputs.iter().any(|input| input.lags > 0) {
        steps.push(2);
    }
    match *steps.choose(rng)? {
        0 => {
            let model = &mut strategy.model;
            let dropout = grid::DROPOUT
                .into_iter()
                .find(|&dropout| dropout > model.dropout)?;
            let description = format!("dropout {} → {dropout}", model.dropout);
            model.dropout = dropout;
            Some(description)
        }
        1 => {
            let model = &mut strategy.model;
            let smaller: Vec<&[usize]> = grid::HIDDEN_LAYERS
                .into_iter()
                .filter(|layers| units(layers) < units(&model.hidden_layers))
                .collect();
            let layers = *smaller.choose(rng)?;
            let description = format!("hidden layers {:?} → {layers:?}", model.hidden_layers);
            model.hidden_layers = layers.to_vec();
            Some(description)
        }
        _ => {
            let lagged: Vec<&mut crate::strategy::NnInput> = strategy
                .nn_inputs
                .iter_mut()
                .filter(|input| input.lags > 0)
                .collect();
            let input = lagged.into_iter().max_by_key(|input| input.lags)?;
            let description = format!("{} lags {} → {}", input.input, input.lags, input.lags - 1);
            input.lags -= 1;
            Some(description)
        }
    }
}

/// One step toward more trades, among those still possible.
fn more_trades(strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
    let decisions = &strategy.decisions;
    let mut steps: Vec<u8> = vec![2];
    if grid::CONFIDENCE
        .iter()
        .any(|&c| c < decisions.confidence_threshold)
    {
        steps.push(0);
    }
    if grid::SEPARATION
        .iter()
        .any(|&bars| bars < decisions.min_separation_bars)
    {
        steps.push(1);
    }
    let decisions = &mut strategy.decisions;
    match *steps.choose(rng)? {
        0 => {
            let lower = grid::CONFIDENCE
                .into_iter()
                .rfind(|&c| c < decisions.confidence_threshold)?;
            let description = format!(
                "confidence threshold {} → {lower}",
                decisions.confidence_threshold
            );
            decisions.confidence_threshold = lower;
            Some(description)
        }
        1 => {
            let fewer = grid::SEPARATION
                .into_iter()
                .rfind(|&bars| bars < decisions.min_separation_bars)?;
            let description = format!(
                "bars between trades {} → {fewer}",
                decisions.min_separation_bars
            );
            decisions.min_separation_bars = fewer;
            Some(description)
        }
        _ => {
            let labels = &mut strategy.training.labels;
            let lower = grid::two_digits(labels.zigzag_threshold * 0.67).max(0.0001);
            if lower >= labels.zigzag_threshold {
                return None;
            }
            let description = format!("ZigZag threshold {} → {lower}", labels.zigzag_threshold);
            labels.zigzag_threshold = lower;
            Some(description)
        }
    }
}

fn change_model(strategy: &mut Strategy, rng: &mut impl Rng) -> Option<String> {
    let model = &mut strategy.model;
    match rng.random_range(0..4) {
        0 => {
            let layers = grid::another(rng, &grid::HIDDEN_LAYERS, &model.hidden_layers.as_slice())?;
            let description = format!("hidden layers {:?} → {layers:?}", model.hidden_layers);
            model.hidden_layers = layers.to_vec();
            Some(description)
        }
        1 => {
            let dropout = grid::another(rng, &grid::DROPOUT, &model.dropout)?;
            let description = format!("dropout {} → {dropout}", model.dropout);
            model.dropout = dropout;
            Some(description)
        }
        2 => {
            let activation = grid::another(rng, &grid::ACTIVATION, &model.activation)?;
            let description = format!("activation {:?} → {activation:?}", model.activation);
            model.activation = activation;
            Some(description)
        }
        _ => {
            let training = &mut strategy.training;
            let rate = grid::another(rng, &grid::LEARNING_RATE, &training.learning_rate)?;
            let description = format!("learning rate {} → {rate}", training.learning_rate);
            training.learning_rate = rate;
            Some(description)
        }
    }
}

/// The output `reference` names of indicator `id`, when it is one of `id`'s.
fn output_of<'r>(
    reference: &'r str,
    id: &str,
    spec: &crate::indicators::IndicatorSpec,
) -> Option<&'r str> {
    match reference.split_once('.') {
        Some((reference_id, output)) if reference_id == id => Some(output),
        None if reference == id => Some(spec.output_names()[0]),
        _ => None,
    }
}
