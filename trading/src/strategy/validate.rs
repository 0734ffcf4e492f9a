//! Parsing and validating strategy files, collecting every problem instead of stopping at the first.
//!
//! The YAML is parsed once into a generic value; then each section (and each indicator and fuzzy-set
//! group on its own) is deserialized separately, so one typo does not hide the next; then the parts
//! are checked against each other (fuzzy sets over missing indicators, inputs without fuzzy sets).

use std::{collections::BTreeMap, fmt, io::Read, path::Path};

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::{
    BacktestDefaults, DecisionSpec, ModelSpec, NnInput, Strategy, TrainingData, TrainingSpec,
    fuzzy::MembershipFunction,
    limits::{
        self, MAX_BARS, MAX_BATCH_SIZE, MAX_DESCRIPTION_CHARS, MAX_ENTRIES, MAX_EPOCHS,
        MAX_HIDDEN_LAYERS, MAX_NAME_CHARS, MAX_STRATEGY_BYTES, MAX_STRATEGY_DEPTH,
    },
    locate::line_of,
    resources,
};
use crate::{indicators::IndicatorSpec, market_data};

/// One problem: where (key path, line when known) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

const SECTIONS: [&str; 11] = [
    "name",
    "version",
    "description",
    "training_data",
    "indicators",
    "fuzzy_sets",
    "nn_inputs",
    "model",
    "training",
    "decisions",
    "backtest",
];

/// Reads and validates a strategy file; a file over [`MAX_STRATEGY_BYTES`] is refused without
/// being read whole.
pub fn parse_file(path: &Path) -> Result<Strategy, Vec<Problem>> {
    // Callers name the file; the problem's path is the place inside it, as for every problem.
    let problem = |message: String| {
        vec![Problem {
            path: "(file)".into(),
            line: None,
            message,
        }]
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(MAX_STRATEGY_BYTES as u64 + 1)
                .read_to_string(&mut text)
        })
        .map_err(|err| problem(format!("cannot read: {err}")))?;
    if text.len() > MAX_STRATEGY_BYTES {
        return Err(problem(too_large()));
    }
    parse(&text)
}

fn too_large() -> String {
    format!(
        "larger than {MAX_STRATEGY_BYTES} bytes (1 MiB), the limit for a strategy (the examples \
         are 2 KiB)"
    )
}

/// A valid strategy from `path`, or one error listing every problem (for commands that need the
/// strategy; `ktrdr validate` shows the problems one by one instead).
pub fn load(path: &Path) -> crate::Result<Strategy> {
    parse_file(path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        crate::Error::InvalidInput(format!(
            "{} is not a valid strategy:\n{}",
            path.display(),
            lines.join("\n")
        ))
    })
}

/// Parses and validates strategy YAML; on failure, every problem found.
pub fn parse(text: &str) -> Result<Strategy, Vec<Problem>> {
    let mut checker = Checker {
        text,
        problems: Vec::new(),
    };
    // Before the YAML parser, whose cost grows with the square of the nesting.
    if text.len() > MAX_STRATEGY_BYTES {
        return Err(vec![checker.problem("(file)", too_large())]);
    }
    if let Some(line) = limits::nesting_beyond(text, MAX_STRATEGY_DEPTH) {
        return Err(vec![Problem {
            path: "(file)".into(),
            line: Some(line),
            message: format!(
                "nested deeper than {MAX_STRATEGY_DEPTH} levels, the limit for a strategy \
                 (the examples nest 6 deep)"
            ),
        }]);
    }
    let root: Value = match serde_yaml_ng::from_str(text) {
        Ok(root) => root,
        Err(err) => {
            let line = err.location().map(|location| location.line());
            return Err(vec![Problem {
                path: "(file)".into(),
                line,
                message: format!("not valid YAML: {err}"),
            }]);
        }
    };
    let Value::Mapping(root) = root else {
        return Err(vec![checker.problem(
            "(file)",
            "expected a mapping of strategy sections".into(),
        )]);
    };
    for key in root.keys() {
        let name = key.as_str().unwrap_or("?");
        if !SECTIONS.contains(&name) {
            let message = format!("unknown key (expected one of: {})", SECTIONS.join(", "));
            checker.problems.push(checker.problem(name, message));
        }
    }
    let section = |name: &str| root.get(name).cloned();

    let name: Option<String> = checker.required(section("name"), "name");
    let version: Option<String> = checker.required(section("version"), "version");
    let description: Option<Option<String>> = match section("description") {
        None => Some(None),
        Some(value) => checker.typed(value, "description").map(Some),
    };
    let training_data: Option<TrainingData> =
        checker.required(section("training_data"), "training_data");
    let parsed_indicators = checker.indicators(section("indicators"));
    let indicators: Option<BTreeMap<String, IndicatorSpec>> =
        parsed_indicators.as_ref().and_then(|all| {
            all.iter()
                .map(|(id, spec)| Some((id.clone(), spec.clone()?)))
                .collect()
        });
    let fuzzy_sets = checker.fuzzy_sets(section("fuzzy_sets"));
    let nn_inputs: Option<Vec<NnInput>> = checker.required(section("nn_inputs"), "nn_inputs");
    let model: Option<ModelSpec> = checker.required(section("model"), "model");
    let training: Option<TrainingSpec> = checker.required(section("training"), "training");
    let decisions: Option<DecisionSpec> = checker.required(section("decisions"), "decisions");
    let backtest: Option<BacktestDefaults> = checker.required(section("backtest"), "backtest");

    checker.check_text(
        name.as_deref(),
        version.as_deref(),
        description.as_ref().and_then(Option::as_deref),
    );
    if let Some(data) = &training_data {
        checker.at_most(
            "training_data.history_required",
            data.history_required,
            MAX_BARS,
        );
    }
    if let Some(indicators) = &parsed_indicators {
        checker.check_entries("indicators", indicators.keys());
    }
    if let Some(fuzzy_sets) = &fuzzy_sets {
        for (reference, sets) in fuzzy_sets {
            checker.check_entries(&format!("fuzzy_sets.{reference}"), sets.keys());
        }
    }
    if let Some(nn_inputs) = &nn_inputs {
        checker.at_most_entries("nn_inputs", nn_inputs.len());
    }
    if let (Some(indicators), Some(fuzzy_sets)) = (&parsed_indicators, &fuzzy_sets) {
        checker.fuzzy_sets_reference_indicators(indicators, fuzzy_sets);
    }
    if let (Some(fuzzy_sets), Some(nn_inputs)) = (&fuzzy_sets, &nn_inputs) {
        checker.inputs_reference_fuzzy_sets(fuzzy_sets, nn_inputs);
    }
    if let Some(model) = &model {
        checker.check_model(model);
    }
    if let Some(training) = &training {
        checker.check_training(training);
    }
    if let Some(decisions) = &decisions {
        checker.check_decisions(decisions);
    }
    if let Some(backtest) = &backtest {
        checker.check_backtest(backtest);
    }
    if let Some(data) = &training_data
        && !market_data::is_valid_symbol(&data.symbol)
    {
        checker.fail(
            "training_data.symbol",
            format!("expected {}", market_data::SYMBOL_RULE),
        );
    }

    // Every section that could not be read left a problem behind, so this is Some exactly when
    // nothing was missing.
    let complete = || {
        Some(Strategy {
            name: name?,
            version: version?,
            description: description?,
            training_data: training_data?,
            indicators: indicators?,
            fuzzy_sets: fuzzy_sets?,
            nn_inputs: nn_inputs?,
            model: model?,
            training: training?,
            decisions: decisions?,
            backtest: backtest?,
        })
    };
    match complete() {
        Some(strategy) if checker.problems.is_empty() => {
            // Last: the estimate needs every section, and is only meaningful for a sound strategy.
            match resources::max_model_bytes() {
                Ok(limit) => {
                    if let Some(why) = resources::check(&strategy, limit) {
                        checker.fail("model", why);
                    }
                }
                Err(why) => checker.fail("model", why),
            }
            if checker.problems.is_empty() {
                Ok(strategy)
            } else {
                Err(checker.problems)
            }
        }
        _ => Err(checker.problems),
    }
}

struct Checker<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&self, path: &str, message: String) -> Problem {
        Problem {
            path: path.to_string(),
            line: line_of(self.text, path),
            message,
        }
    }

    fn fail(&mut self, path: &str, message: String) {
        let problem = self.problem(path, message);
        self.problems.push(problem);
    }

    /// Refuses `value` above `max`, naming the limit.
    fn at_most(&mut self, path: &str, value: usize, max: usize) {
        if value > max {
            self.fail(path, format!("expected at most {max}, got {value}"));
        }
    }

    fn at_most_entries(&mut self, path: &str, count: usize) {
        if count > MAX_ENTRIES {
            self.fail(
                path,
                format!("expected at most {MAX_ENTRIES} entries, got {count}"),
            );
        }
    }

    /// At most [`MAX_ENTRIES`] entries, each named in at most [`MAX_NAME_CHARS`] characters.
    fn check_entries<'k>(&mut self, path: &str, names: impl ExactSizeIterator<Item = &'k String>) {
        self.at_most_entries(path, names.len());
        for name in names {
            let length = name.chars().count();
            if length > MAX_NAME_CHARS {
                self.fail(
                    path,
                    format!(
                        "a name of {length} characters, over the limit of {MAX_NAME_CHARS}: \
                         '{}…'",
                        name.chars().take(40).collect::<String>()
                    ),
                );
            }
        }
    }

    /// Free text is bounded: it travels in every operation's params.
    fn check_text(&mut self, name: Option<&str>, version: Option<&str>, description: Option<&str>) {
        let fields = [
            ("name", name, MAX_NAME_CHARS),
            ("version", version, MAX_NAME_CHARS),
            ("description", description, MAX_DESCRIPTION_CHARS),
        ];
        for (path, text, max) in fields {
            let length = text.map_or(0, |text| text.chars().count());
            if length > max {
                self.fail(
                    path,
                    format!("expected at most {max} characters, got {length}"),
                );
            }
        }
    }

    fn required<T: DeserializeOwned>(&mut self, value: Option<Value>, path: &str) -> Option<T> {
        match value {
            Some(value) => self.typed(value, path),
            None => {
                self.fail(path, "missing (required)".into());
                None
            }
        }
    }

    /// Deserializes `value`, recording a problem with the full key path on failure.
    fn typed<T: DeserializeOwned>(&mut self, value: Value, path: &str) -> Option<T> {
        match serde_path_to_error::deserialize(value) {
            Ok(parsed) => Some(parsed),
            Err(err) => {
                let inner = err.path().to_string();
                let full = if inner == "." {
                    path.to_string()
                } else {
                    format!("{path}.{inner}")
                };
                let message = err.into_inner().to_string();
                self.fail(&full, message);
                None
            }
        }
    }

    /// Every indicator id, with its spec when that parsed and validated (`None` otherwise), so that
    /// references can still be checked against the ids when one spec is broken.
    fn indicators(
        &mut self,
        value: Option<Value>,
    ) -> Option<BTreeMap<String, Option<IndicatorSpec>>> {
        let entries: BTreeMap<String, Value> = self.required(value, "indicators")?;
        if entries.is_empty() {
            self.fail("indicators", "expected at least one indicator".into());
        }
        let mut indicators = BTreeMap::new();
        for (id, spec) in entries {
            let path = format!("indicators.{id}");
            let spec = if id.contains('.') {
                self.fail(
                    &path,
                    "an indicator id must not contain '.' (it separates id and output)".into(),
                );
                None
            } else {
                self.typed::<IndicatorSpec>(spec, &path)
                    .filter(|spec| match spec.validate() {
                        Ok(()) => true,
                        Err(message) => {
                            self.fail(&path, message);
                            false
                        }
                    })
            };
            indicators.insert(id, spec);
        }
        Some(indicators)
    }

    fn fuzzy_sets(
        &mut self,
        value: Option<Value>,
    ) -> Option<BTreeMap<String, BTreeMap<String, MembershipFunction>>> {
        let groups: BTreeMap<String, Value> = self.required(value, "fuzzy_sets")?;
        let mut ok = true;
        let mut fuzzy_sets = BTreeMap::new();
        for (reference, sets) in groups {
            let path = format!("fuzzy_sets.{reference}");
            match self.typed::<BTreeMap<String, MembershipFunction>>(sets, &path) {
                Some(sets) if sets.is_empty() => {
                    self.fail(&path, "expected at least one fuzzy set".into());
                    ok = false;
                }
                Some(sets) => {
                    fuzzy_sets.insert(reference, sets);
                }
                None => ok = false,
            }
        }
        ok.then_some(fuzzy_sets)
    }

    fn fuzzy_sets_reference_indicators(
        &mut self,
        indicators: &BTreeMap<String, Option<IndicatorSpec>>,
        fuzzy_sets: &BTreeMap<String, BTreeMap<String, MembershipFunction>>,
    ) {
        for reference in fuzzy_sets.keys() {
            let path = format!("fuzzy_sets.{reference}");
            let (id, output) = match reference.split_once('.') {
                Some((id, output)) => (id, Some(output)),
                None => (reference.as_str(), None),
            };
            let Some(spec) = indicators.get(id) else {
                let known = indicators.keys().cloned().collect::<Vec<_>>().join(", ");
                self.fail(&path, format!("fuzzy sets over indicator '{id}', which is not defined (indicators: {known})"));
                continue;
            };
            // A broken spec was reported already; its outputs are unknown.
            let Some(spec) = spec else {
                continue;
            };
            let outputs = spec.output_names();
            match output {
                None if outputs.len() > 1 => self.fail(
                    &path,
                    format!(
                        "'{id}' has several outputs: name one as {id}.<output> ({})",
                        outputs.join(", ")
                    ),
                ),
                Some(output) if !outputs.contains(&output) => self.fail(
                    &path,
                    format!(
                        "'{id}' has no output '{output}' (outputs: {})",
                        outputs.join(", ")
                    ),
                ),
                _ => {}
            }
        }
    }

    fn inputs_reference_fuzzy_sets(
        &mut self,
        fuzzy_sets: &BTreeMap<String, BTreeMap<String, MembershipFunction>>,
        nn_inputs: &[NnInput],
    ) {
        if nn_inputs.is_empty() {
            self.fail("nn_inputs", "expected at least one input".into());
        }
        for (index, input) in nn_inputs.iter().enumerate() {
            let path = format!("nn_inputs[{index}].input");
            if !fuzzy_sets.contains_key(&input.input) {
                let known = fuzzy_sets.keys().cloned().collect::<Vec<_>>().join(", ");
                self.fail(
                    &path,
                    format!("'{}' has no fuzzy sets (fuzzy_sets: {known})", input.input),
                );
            }
            if input.lags > 50 {
                self.fail(
                    &format!("nn_inputs[{index}].lags"),
                    format!("expected 0 to 50, got {}", input.lags),
                );
            }
        }
    }

    fn check_model(&mut self, model: &ModelSpec) {
        let layers = &model.hidden_layers;
        if layers.is_empty()
            || layers.len() > MAX_HIDDEN_LAYERS
            || layers.iter().any(|&n| n == 0 || n > 4096)
        {
            // Shown by count and first sizes: the list itself may be long.
            let shown: Vec<String> = layers.iter().take(8).map(ToString::to_string).collect();
            let more = if layers.len() > 8 { ", …" } else { "" };
            self.fail(
                "model.hidden_layers",
                format!(
                    "expected 1 to {MAX_HIDDEN_LAYERS} layer sizes from 1 to 4096, got {} \
                     layers: [{}{more}]",
                    layers.len(),
                    shown.join(", ")
                ),
            );
        }
        if !(0.0..1.0).contains(&model.dropout) {
            self.fail(
                "model.dropout",
                format!("expected a number in [0, 1), got {}", model.dropout),
            );
        }
    }

    fn check_training(&mut self, training: &TrainingSpec) {
        let mut at_least_one = |path: &str, value: usize| {
            if value == 0 {
                self.fail(path, "expected at least 1, got 0".into());
            }
        };
        at_least_one("training.epochs", training.epochs);
        at_least_one("training.batch_size", training.batch_size);
        at_least_one(
            "training.early_stopping.patience",
            training.early_stopping.patience,
        );
        at_least_one("training.labels.lookahead", training.labels.lookahead);
        at_least_one("training.checkpoint_interval", training.checkpoint_interval);
        let bounds = [
            ("training.epochs", training.epochs, MAX_EPOCHS),
            ("training.batch_size", training.batch_size, MAX_BATCH_SIZE),
            (
                "training.early_stopping.patience",
                training.early_stopping.patience,
                MAX_EPOCHS,
            ),
            (
                "training.checkpoint_interval",
                training.checkpoint_interval,
                MAX_EPOCHS,
            ),
            (
                "training.labels.lookahead",
                training.labels.lookahead,
                MAX_BARS,
            ),
        ];
        for (path, value, max) in bounds {
            self.at_most(path, value, max);
        }
        if !(training.learning_rate > 0.0 && training.learning_rate < 1.0) {
            self.fail(
                "training.learning_rate",
                format!(
                    "expected a number in (0, 1), got {}",
                    training.learning_rate
                ),
            );
        }
        let min_delta = training.early_stopping.min_delta;
        if min_delta.is_nan() || min_delta < 0.0 {
            self.fail(
                "training.early_stopping.min_delta",
                format!(
                    "expected 0 or more, got {}",
                    training.early_stopping.min_delta
                ),
            );
        }
        if !(training.labels.zigzag_threshold > 0.0 && training.labels.zigzag_threshold < 1.0) {
            self.fail(
                "training.labels.zigzag_threshold",
                format!(
                    "expected a fraction in (0, 1), got {}",
                    training.labels.zigzag_threshold
                ),
            );
        }
        let split = &training.split;
        let parts = [
            ("train", split.train),
            ("validation", split.validation),
            ("test", split.test),
        ];
        for (name, part) in parts {
            if !(part > 0.0 && part < 1.0) {
                self.fail(
                    &format!("training.split.{name}"),
                    format!("expected a fraction in (0, 1), got {part}"),
                );
            }
        }
        let sum = split.train + split.validation + split.test;
        if (sum - 1.0).abs() > 1e-9 {
            self.fail(
                "training.split",
                format!("train + validation + test must be 1, got {sum}"),
            );
        }
    }

    fn check_decisions(&mut self, decisions: &DecisionSpec) {
        self.at_most(
            "decisions.min_separation_bars",
            decisions.min_separation_bars,
            MAX_BARS,
        );
        if !(0.0..=1.0).contains(&decisions.confidence_threshold) {
            self.fail(
                "decisions.confidence_threshold",
                format!(
                    "expected a probability in [0, 1], got {}",
                    decisions.confidence_threshold
                ),
            );
        }
    }

    fn check_backtest(&mut self, backtest: &BacktestDefaults) {
        if !(backtest.initial_capital > 0.0 && backtest.initial_capital.is_finite()) {
            self.fail(
                "backtest.initial_capital",
                format!(
                    "expected a positive amount, got {}",
                    backtest.initial_capital
                ),
            );
        }
        for (name, value) in [
            ("commission", backtest.commission),
            ("slippage", backtest.slippage),
        ] {
            if !(0.0..0.1).contains(&value) {
                self.fail(
                    &format!("backtest.{name}"),
                    format!("expected a fraction in [0, 0.1), got {value}"),
                );
            }
        }
    }
}
