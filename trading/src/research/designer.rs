//! The built-in designer: deterministic and offline. A research's first design composes a fresh
//! strategy of an archetype the brief allows; once experiments exist, a design mutates the best
//! of them that fits the research (same series, the brief's archetype and indicators). Every
//! random choice comes from a generator seeded by the research's seed, the cycle and the attempt,
//! so the same context and bars give the same design; an attempt whose strategy was tried before
//! (its fingerprint is an experiment's, or another research's) is followed by the next, with more changes, then
//! the next-best parent, then fresh strategies.

use std::collections::HashSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::{
    archetypes::Archetype,
    brief::Brief,
    catalogue::{Kind, Scale},
    compose::{self, placeable},
    context::{Design, DesignContext, ExperimentSummary},
    fingerprint::fingerprint,
    fuzzy_ranges::{Columns, MIN_QUANTILE_VALUES},
    grid, layout,
    mutation::Mutator,
    suggestion::Suggestion,
};
use crate::{
    Error, Result,
    market_data::{self, Bar, Timeframe},
    strategy::{self, Strategy},
};

/// Attempts spent on mutations of one parent before the next-best parent: one change at first,
/// one more after every [`ATTEMPTS_PER_STEP`] attempts that found only strategies tried before.
const ATTEMPTS_PER_PARENT: u32 = 64;
const ATTEMPTS_PER_STEP: u32 = 8;
/// Parents tried before fresh strategies.
const MAX_PARENTS: usize = 3;
/// Fresh attempts after the parents.
const FRESH_ATTEMPTS: u32 = 200;

/// A new strategy for the research of `ctx`, on its symbol and timeframe. `bars` are that series'
/// bars, oldest first; their first [`grid::TRAIN_SHARE`] — the training part of a design's
/// chronological split — place the fuzzy sets and ZigZag thresholds that fit the instrument.
/// Never returns a fingerprint tried before (`ctx.experiments`, `ctx.tried_fingerprints`).
pub fn design(ctx: &DesignContext, bars: &[Bar]) -> Result<Design> {
    let brief = Brief::parse(ctx.brief.as_deref())?;
    let timeframe: Timeframe = ctx.timeframe.parse()?;
    if let Some(asked) = brief.timeframe
        && asked != timeframe
    {
        return Err(Error::InvalidInput(format!(
            "the brief asks for {asked} but the research trades {} {timeframe}: pass --timeframe \
             {asked}, or leave the timeframe out of the brief",
            ctx.symbol
        )));
    }
    if !market_data::is_valid_symbol(&ctx.symbol) {
        return Err(Error::InvalidInput(format!(
            "symbol '{}': expected {}",
            ctx.symbol,
            market_data::SYMBOL_RULE
        )));
    }
    // Only the training part of the bars places fuzzy sets and thresholds: what the model is
    // validated and tested on must not shape its inputs.
    let window = &bars[..(bars.len() as f64 * grid::TRAIN_SHARE) as usize];
    let columns = Columns::of(window);
    if let Some(kind) = brief
        .indicators
        .iter()
        .find(|kind| !placeable(**kind, &columns))
    {
        return Err(Error::InvalidInput(format!(
            "the brief asks for {}, whose fuzzy sets are placed at quantiles of the training \
             bars, but the {} bars of {} {timeframe} given have {} for training ({:.0} %; it \
             needs at least {} past the indicator's warm-up)",
            kind.type_name(),
            bars.len(),
            ctx.symbol,
            window.len(),
            grid::TRAIN_SHARE * 100.0,
            MIN_QUANTILE_VALUES
        )));
    }
    let archetypes: Vec<Archetype> = Archetype::ALL
        .into_iter()
        .filter(|archetype| {
            brief.allows(*archetype)
                && archetype
                    .core()
                    .iter()
                    .any(|kind| brief.permits(*kind) && placeable(*kind, &columns))
        })
        .collect();
    if archetypes.is_empty() {
        return Err(Error::InvalidInput(no_archetype(
            &brief,
            bars.len(),
            window.len(),
        )));
    }
    let taken: HashSet<&str> = ctx
        .experiments
        .iter()
        .map(|experiment| experiment.fingerprint.as_str())
        .chain(ctx.tried_fingerprints.iter().map(String::as_str))
        .collect();
    let parents = parents(ctx, &brief, timeframe);
    let designer = Designer {
        ctx,
        brief: &brief,
        timeframe,
        columns: &columns,
        archetypes: &archetypes,
        taken: &taken,
    };
    let parent_attempts = ATTEMPTS_PER_PARENT * parents.len() as u32;
    for attempt in 0..parent_attempts + FRESH_ATTEMPTS {
        let mut rng = rng_for(ctx, attempt);
        let candidate = match parents.get((attempt / ATTEMPTS_PER_PARENT) as usize) {
            Some(parent) => {
                let changes = 1 + ((attempt % ATTEMPTS_PER_PARENT) / ATTEMPTS_PER_STEP) as usize;
                designer.mutation(parent, changes, &mut rng)
            }
            None => designer.fresh(&mut rng),
        };
        if let Some((strategy, archetype, rationale)) = candidate
            && let Some(design) = designer.finish(strategy, archetype, rationale)?
        {
            return Ok(design);
        }
    }
    Err(Error::InvalidInput(format!(
        "no new strategy found in {} attempts: every one was tried before among the {} \
         experiments{}; widen or drop the brief",
        parent_attempts + FRESH_ATTEMPTS,
        ctx.experiments.len(),
        ctx.brief
            .as_deref()
            .map(|brief| format!(" (brief: '{brief}')"))
            .unwrap_or_default()
    )))
}

/// Why no archetype can be designed: each allowed one's core indicators are ruled out by the brief
/// or need more bars.
fn no_archetype(brief: &Brief, given: usize, training: usize) -> String {
    let allowed: Vec<Archetype> = Archetype::ALL
        .into_iter()
        .filter(|archetype| brief.allows(*archetype))
        .collect();
    if allowed.is_empty() {
        return "the brief rules out every archetype it allows (momentum, mean reversion, trend, \
                breakout): allow one"
            .into();
    }
    let reasons: Vec<String> = allowed
        .iter()
        .map(|archetype| {
            let core: Vec<&str> = archetype
                .core()
                .iter()
                .map(|kind| kind.type_name())
                .collect();
            format!("{} needs one of {}", archetype.as_str(), core.join(", "))
        })
        .collect();
    format!(
        "no strategy the brief allows can be designed: {}; the brief rules those out or they need \
         more than the {training} training bars of the {given} given (quantile fuzzy sets need at \
         least {MIN_QUANTILE_VALUES} past the warm-up)",
        reasons.join("; ")
    )
}

/// An experiment to mutate, parsed.
struct Parent<'e> {
    experiment: &'e ExperimentSummary,
    strategy: Strategy,
    archetype: Archetype,
}

/// The experiments a design may mutate, best first: those whose strategy parses, trains on the
/// research's series and satisfies the brief.
fn parents<'e>(ctx: &'e DesignContext, brief: &Brief, timeframe: Timeframe) -> Vec<Parent<'e>> {
    ctx.experiments
        .iter()
        .filter_map(|experiment| {
            let strategy = strategy::parse(&experiment.strategy_yaml).ok()?;
            let data = &strategy.training_data;
            if data.symbol != ctx.symbol || data.timeframe != timeframe {
                return None;
            }
            let kinds: Vec<Kind> = strategy.indicators.values().map(Kind::of).collect();
            let archetype = Archetype::of_strategy(&experiment.strategy_name, &kinds);
            (brief.allows(archetype) && brief.satisfied_by(&kinds)).then_some(Parent {
                experiment,
                strategy,
                archetype,
            })
        })
        .take(MAX_PARENTS)
        .collect()
}

/// The generator of one attempt: ChaCha8 seeded with SHA-256 of the research's seed, the cycle
/// and the attempt.
fn rng_for(ctx: &DesignContext, attempt: u32) -> ChaCha8Rng {
    let seed = Sha256::digest(format!(
        "ktrdr-designer:{}:{}:{attempt}",
        ctx.seed, ctx.cycle
    ));
    ChaCha8Rng::from_seed(seed.into())
}

struct Designer<'a> {
    ctx: &'a DesignContext,
    brief: &'a Brief,
    timeframe: Timeframe,
    columns: &'a Columns,
    archetypes: &'a [Archetype],
    taken: &'a HashSet<&'a str>,
}

type Candidate = (Strategy, Archetype, String);

impl Designer<'_> {
    fn fresh(&self, rng: &mut ChaCha8Rng) -> Option<Candidate> {
        let archetype = grid::pick(rng, self.archetypes);
        let strategy = compose::compose(
            archetype,
            self.brief,
            (&self.ctx.symbol, self.timeframe),
            self.columns,
            rng,
        )?;
        let quantile_inputs = strategy
            .nn_inputs
            .iter()
            .filter(|input| {
                let id = input.input.split('.').next().unwrap_or_default();
                strategy
                    .indicators
                    .get(id)
                    .is_some_and(|spec| Kind::of(spec).scale() == Scale::Quantile)
            })
            .count();
        let rationale = format!(
            "a fresh {} strategy ({}) on {} {}; {} of its {} inputs have fuzzy sets at quantiles \
             of the {} training bars",
            archetype.as_str().replace('_', " "),
            strategy
                .indicators
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            self.ctx.symbol,
            self.timeframe,
            quantile_inputs,
            strategy.nn_inputs.len(),
            self.columns.len()
        );
        Some((strategy, archetype, rationale))
    }

    fn mutation(&self, parent: &Parent, changes: usize, rng: &mut ChaCha8Rng) -> Option<Candidate> {
        let experiment = parent.experiment;
        let suggestion = experiment.suggestion.as_deref().and_then(Suggestion::parse);
        let mutator = Mutator {
            archetype: parent.archetype,
            brief: self.brief,
            columns: self.columns,
        };
        let (strategy, done) = mutator.mutate(&parent.strategy, suggestion, changes, rng)?;
        let standing = match (&experiment.verdict, experiment.score) {
            (Some(verdict), Some(score)) => format!(", {verdict}, score {score:.3}"),
            (Some(verdict), None) => format!(", {verdict}"),
            (None, Some(score)) => format!(", score {score:.3}"),
            _ => String::new(),
        };
        let honoured = suggestion
            .map(|suggestion| format!("; its assessment suggested {}", suggestion.tag()))
            .unwrap_or_default();
        let rationale = format!(
            "mutates {}, the best fitting of {} experiments ({}{standing}{honoured}): {}",
            experiment.strategy_name,
            self.ctx.experiments.len(),
            parent.archetype.as_str(),
            done.join("; ")
        );
        Some((strategy, parent.archetype, rationale))
    }

    /// The candidate named, written and validated as the strategy file, unless it was tried
    /// before; an error if the validator refuses it (a strategy over `KTRDR_MAX_MODEL_BYTES`).
    fn finish(
        &self,
        mut strategy: Strategy,
        archetype: Archetype,
        rationale: String,
    ) -> Result<Option<Design>> {
        let print = fingerprint(&strategy);
        if self.taken.contains(print.as_str()) {
            return Ok(None);
        }
        strategy.name = format!("r_{}_{}", archetype.as_str(), &print[..10]);
        strategy.description = Some(format!(
            "Built-in {} design, research {} cycle {} (seed {}).",
            archetype.as_str().replace('_', " "),
            self.ctx.research_id,
            self.ctx.cycle,
            self.ctx.seed
        ));
        let body = layout::to_yaml(&strategy)
            .map_err(|err| Error::InvalidInput(format!("cannot write the strategy: {err}")))?;
        // One comment line, whatever an external designer named the parent.
        let comment: String = rationale
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let yaml = format!("# {comment}\n{body}");
        // What is stored is what the validator accepts, fingerprinted as it will be read back.
        let parsed = strategy::parse(&yaml).map_err(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Error::InvalidInput(format!(
                "the built-in design {} is refused by the validator: {}",
                strategy.name,
                problems.join("; ")
            ))
        })?;
        let print = fingerprint(&parsed);
        if self.taken.contains(print.as_str()) {
            return Ok(None);
        }
        Ok(Some(Design {
            strategy_name: parsed.name,
            strategy_yaml: yaml,
            fingerprint: print,
            archetype: archetype.as_str().to_string(),
            rationale,
        }))
    }
}
