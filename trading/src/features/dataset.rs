//! The feature matrix of a strategy over a series of bars.
//!
//! For each `nn_inputs` entry, in order: the indicator output it names, then, for the current bar and
//! each of its `lags` previous bars, the membership in every fuzzy set over that output (sets in name
//! order). Bars whose features are not all defined (indicator warm-up, lags before the first bar) are
//! left out; `bar_index` maps every row back to its bar.

use std::collections::{HashMap, HashSet};

use crate::{Error, Result, indicators::Bars, market_data::Bar, strategy::Strategy};

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// `input:set` or `input:set:lagN`, one per column.
    pub names: Vec<String>,
    /// Row-major, `bar_index.len()` rows of `names.len()` columns.
    pub data: Vec<f32>,
    pub bar_index: Vec<usize>,
}

impl FeatureMatrix {
    pub fn cols(&self) -> usize {
        self.names.len()
    }

    pub fn rows(&self) -> usize {
        self.bar_index.len()
    }
}

pub fn build_features(strategy: &Strategy, bars: &[Bar]) -> Result<FeatureMatrix> {
    let columns = |f: fn(&Bar) -> f64| bars.iter().map(f).collect::<Vec<f64>>();
    let (open, high, low, close, volume) = (
        columns(|b| b.open),
        columns(|b| b.high),
        columns(|b| b.low),
        columns(|b| b.close),
        columns(|b| b.volume),
    );
    let input = Bars {
        open: &open,
        high: &high,
        low: &low,
        close: &close,
        volume: &volume,
    };

    // Every output of every indicator an input names, by reference (`id.output`, and `id` for
    // single outputs); indicators no input uses are not computed.
    let used: HashSet<&str> = strategy
        .nn_inputs
        .iter()
        .map(|nn_input| {
            nn_input
                .input
                .split_once('.')
                .map_or(nn_input.input.as_str(), |(id, _)| id)
        })
        .collect();
    let mut outputs: HashMap<String, Vec<f64>> = HashMap::new();
    for (id, spec) in &strategy.indicators {
        if !used.contains(id.as_str()) {
            continue;
        }
        let computed = spec.compute(&input);
        let single = computed.len() == 1;
        for (output, series) in computed {
            if single {
                outputs.insert(id.clone(), series.clone());
            }
            outputs.insert(format!("{id}.{output}"), series);
        }
    }

    // One column per (input, lag, set): the membership series, shifted by the lag.
    let mut names = Vec::new();
    let mut column_series: Vec<(&[f64], usize, &crate::strategy::fuzzy::MembershipFunction)> =
        Vec::new();
    for nn_input in &strategy.nn_inputs {
        let series = outputs.get(&nn_input.input).ok_or_else(|| {
            Error::InvalidInput(format!(
                "nn_inputs: '{}' names no indicator output",
                nn_input.input
            ))
        })?;
        let sets = strategy.fuzzy_sets.get(&nn_input.input).ok_or_else(|| {
            Error::InvalidInput(format!("nn_inputs: '{}' has no fuzzy sets", nn_input.input))
        })?;
        for lag in 0..=nn_input.lags {
            for (set_name, function) in sets {
                names.push(match lag {
                    0 => format!("{}:{set_name}", nn_input.input),
                    _ => format!("{}:{set_name}:lag{lag}", nn_input.input),
                });
                column_series.push((series.as_slice(), lag, function));
            }
        }
    }

    let mut data = Vec::with_capacity(bars.len() * names.len());
    let mut bar_index = Vec::new();
    let mut row = Vec::with_capacity(names.len());
    for i in 0..bars.len() {
        row.clear();
        for &(series, lag, function) in &column_series {
            let value = if i >= lag {
                function.membership(series[i - lag])
            } else {
                f64::NAN
            };
            row.push(value);
        }
        if row.iter().all(|v| v.is_finite()) {
            data.extend(row.iter().map(|&v| v as f32));
            bar_index.push(i);
        }
    }
    Ok(FeatureMatrix {
        names,
        data,
        bar_index,
    })
}
