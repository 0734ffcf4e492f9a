//! A strategy's fingerprint: the SHA-256 of a canonical form of everything that decides its
//! result — the series, the indicators and their parameters, the fuzzy sets, the network inputs,
//! the model, the training, the decisions and the backtest costs — and of nothing that does not:
//! the name, the description, the version, how its indicators and fuzzy sets are named, the order
//! in which they are written. Two strategies that train and trade alike have the same fingerprint,
//! which is how a research knows it has tried a strategy before.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::strategy::Strategy;

/// Lowercase hex SHA-256 of the canonical form of `strategy`.
pub fn fingerprint(strategy: &Strategy) -> String {
    let canonical = canonical_form(strategy);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The canonical JSON: indicators are named by their spec (`{"period":14,"type":"rsi"}`, which
/// serde_json writes with sorted keys), each input by that name and its output, fuzzy sets as the
/// sorted list of their points.
fn canonical_form(strategy: &Strategy) -> Value {
    // An id is replaced by its spec; two ids with the same spec stay apart by their rank among
    // the ids of that spec.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let names: BTreeMap<&str, String> = strategy
        .indicators
        .iter()
        .map(|(id, spec)| {
            let spec = normalized(serde_json::to_value(spec).expect("specs serialise")).to_string();
            let rank = seen.entry(spec.clone()).or_default();
            *rank += 1;
            let name = if *rank == 1 {
                spec
            } else {
                format!("{spec}#{rank}")
            };
            (id.as_str(), name)
        })
        .collect();
    let canonical_reference = |reference: &str| {
        let (id, output) = reference.split_once('.').unwrap_or((reference, ""));
        let name = names.get(id).cloned().unwrap_or_else(|| id.to_string());
        format!("{name}.{output}")
    };
    let mut indicators: Vec<&String> = names.values().collect();
    indicators.sort();
    let fuzzy_sets: BTreeMap<String, Vec<Vec<f64>>> = strategy
        .fuzzy_sets
        .iter()
        .map(|(reference, sets)| {
            let mut points: Vec<Vec<f64>> = sets.values().map(|&f| Vec::from(f)).collect();
            // Validated points are finite, so the order is total.
            points.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            (canonical_reference(reference), points)
        })
        .collect();
    let inputs: Vec<Value> = strategy
        .nn_inputs
        .iter()
        .map(|input| json!([canonical_reference(&input.input), input.lags]))
        .collect();
    normalized(json!({
        "training_data": strategy.training_data,
        "indicators": indicators,
        "fuzzy_sets": fuzzy_sets,
        "nn_inputs": inputs,
        "model": strategy.model,
        "training": strategy.training,
        "decisions": strategy.decisions,
        "backtest": strategy.backtest,
    }))
}

/// `value` with every -0 written as 0: the same set, and serde writes them apart. (Numbers keep
/// their type otherwise: a typed strategy serialises every field the same way whatever its file
/// wrote, `2` or `2.0`.)
fn normalized(value: Value) -> Value {
    match value {
        Value::Number(number) if number.as_f64() == Some(0.0) && number.is_f64() => json!(0.0),
        Value::Array(items) => Value::Array(items.into_iter().map(normalized).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, normalized(value)))
                .collect(),
        ),
        other => other,
    }
}
