//! Parsing and validating strategy files, collecting every problem instead of stopping at the first.
//!
//! The YAML is parsed once into a generic value; then each section (and each indicator and fuzzy-set
//! group on its own) is deserialized separately, so one typo does not hide the next; then the parts
//! are checked against each other (fuzzy sets over missing indicators, inputs without fuzzy sets).

use std::{collections::BTreeMap, fmt, path::Path};

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;

use super::{
    BacktestDefaults, DecisionSpec, ModelSpec, NnInput, Strategy, TrainingData, TrainingSpec,
    fuzzy::MembershipFunction, locate::line_of,
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

/// Reads and validates a strategy file.
pub fn parse_file(path: &Path) -> Result<Strategy, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        vec![Problem {
            path: path.display().to_string(),
            line: None,
            message: format!("cannot read: {err}"),
        }]
    })?;
    parse(&text)
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
        Some(strategy) if checker.problems.is_empty() => Ok(strategy),
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
        if model.hidden_layers.is_empty() || model.hidden_layers.iter().any(|&n| n == 0 || n > 4096)
        {
            self.fail(
                "model.hidden_layers",
                format!(
                    "expected 1 or more layer sizes from 1 to 4096, got {:?}",
                    model.hidden_layers
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
