//! The indicators a design may use: for each of ktrdr's indicators, the parameter values the
//! built-in designer picks from, the outputs it feeds the network, and the scale of those outputs —
//! bounded (RSI, stochastic, ADX: fixed 0–100 fuzzy sets) or instrument-scaled (MACD, ROC, ATR,
//! bands, averages: fuzzy sets from quantiles of the training window). [`indicator_catalogue`] is
//! the same table as data, for the design context an external designer reads.

use serde::{Deserialize, Serialize};

use crate::indicators::IndicatorSpec;

/// One indicator, described for a designer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorInfo {
    /// The `type` of the indicator in a strategy file.
    pub name: String,
    pub description: String,
    /// Its outputs: `id` alone for a single output (`value`), `id.<output>` otherwise.
    pub outputs: Vec<String>,
    /// Its parameters with their defaults.
    pub params: Vec<ParamInfo>,
    /// `bounded` (the outputs stay within `range`), `price` (in the instrument's price units) or
    /// `percent` (a change in percent, scaled by the instrument's volatility).
    pub scale: String,
    /// The natural range of a bounded indicator.
    pub range: Option<[f64; 2]>,
    /// The archetypes of the built-in designer that use it.
    pub archetypes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    pub name: String,
    pub default: f64,
}

/// The indicators the built-in designer composes strategies from, one per indicator type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Rsi,
    Stochastic,
    Adx,
    Macd,
    Roc,
    Atr,
    BollingerBands,
    Sma,
    Ema,
}

/// How an output's fuzzy sets are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Fixed thresholds within 0–100.
    Bounded,
    /// Quantiles of the output over the training window.
    Quantile,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Rsi,
        Kind::Stochastic,
        Kind::Adx,
        Kind::Macd,
        Kind::Roc,
        Kind::Atr,
        Kind::BollingerBands,
        Kind::Sma,
        Kind::Ema,
    ];

    /// The indicator's `type` in a strategy file.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Rsi => "rsi",
            Kind::Stochastic => "stochastic",
            Kind::Adx => "adx",
            Kind::Macd => "macd",
            Kind::Roc => "roc",
            Kind::Atr => "atr",
            Kind::BollingerBands => "bollinger_bands",
            Kind::Sma => "sma",
            Kind::Ema => "ema",
        }
    }

    /// Words a brief may name the indicator by.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Kind::Rsi => &["rsi"],
            Kind::Stochastic => &["stochastic", "stoch"],
            Kind::Adx => &["adx", "dmi"],
            Kind::Macd => &["macd"],
            Kind::Roc => &["roc", "rate of change"],
            Kind::Atr => &["atr", "average true range"],
            Kind::BollingerBands => &["bollinger", "bollinger_bands", "bollinger bands", "bb"],
            Kind::Sma => &["sma"],
            Kind::Ema => &["ema"],
        }
    }

    pub fn of(spec: &IndicatorSpec) -> Kind {
        match spec {
            IndicatorSpec::Rsi { .. } => Kind::Rsi,
            IndicatorSpec::Stochastic { .. } => Kind::Stochastic,
            IndicatorSpec::Adx { .. } => Kind::Adx,
            IndicatorSpec::Macd { .. } => Kind::Macd,
            IndicatorSpec::Roc { .. } => Kind::Roc,
            IndicatorSpec::Atr { .. } => Kind::Atr,
            IndicatorSpec::BollingerBands { .. } => Kind::BollingerBands,
            IndicatorSpec::Sma { .. } => Kind::Sma,
            IndicatorSpec::Ema { .. } => Kind::Ema,
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Rsi => "Relative Strength Index (Wilder), 0-100: overbought and oversold",
            Kind::Stochastic => {
                "Stochastic oscillator %K and %D, 0-100: the close within its range"
            }
            Kind::Adx => "Average Directional Index with +DI and -DI, 0-100: trend strength",
            Kind::Macd => "MACD line, signal and histogram, in price units: momentum",
            Kind::Roc => "Rate of change over the period, in percent",
            Kind::Atr => "Average True Range, in price units: volatility",
            Kind::BollingerBands => "Bollinger Bands (SMA +- std_dev deviations), in price units",
            Kind::Sma => "Simple moving average of the close, in price units",
            Kind::Ema => "Exponential moving average of the close, in price units",
        }
    }

    /// The spec with every parameter at its default, as `{ type: <name> }` reads.
    fn default_spec(self) -> IndicatorSpec {
        let text = format!("{{\"type\": \"{}\"}}", self.type_name());
        serde_json::from_str(&text).expect("every indicator parameter has a default")
    }

    /// The parameter sets the built-in designer picks from, the default among them.
    pub fn variants(self) -> Vec<IndicatorSpec> {
        match self {
            Kind::Rsi => [7, 9, 14, 21, 28]
                .map(|period| IndicatorSpec::Rsi { period })
                .to_vec(),
            Kind::Stochastic => [(5, 3, 1), (9, 3, 3), (14, 3, 3), (14, 3, 1), (21, 5, 3)]
                .map(|(k_period, d_period, smooth)| IndicatorSpec::Stochastic {
                    k_period,
                    d_period,
                    smooth,
                })
                .to_vec(),
            Kind::Adx => [7, 10, 14, 20, 28]
                .map(|period| IndicatorSpec::Adx { period })
                .to_vec(),
            Kind::Macd => [(12, 26, 9), (8, 17, 9), (5, 35, 5), (19, 39, 9), (6, 13, 4)]
                .map(|(fast, slow, signal)| IndicatorSpec::Macd { fast, slow, signal })
                .to_vec(),
            Kind::Roc => [3, 5, 10, 14, 20]
                .map(|period| IndicatorSpec::Roc { period })
                .to_vec(),
            Kind::Atr => [7, 10, 14, 21]
                .map(|period| IndicatorSpec::Atr { period })
                .to_vec(),
            Kind::BollingerBands => [(20, 2.0), (14, 2.0), (20, 2.5), (30, 2.0), (10, 1.5)]
                .map(|(period, std_dev)| IndicatorSpec::BollingerBands { period, std_dev })
                .to_vec(),
            Kind::Sma => [10, 20, 50, 100]
                .map(|period| IndicatorSpec::Sma { period })
                .to_vec(),
            Kind::Ema => [9, 20, 50, 100]
                .map(|period| IndicatorSpec::Ema { period })
                .to_vec(),
        }
    }

    /// The outputs the designer feeds the network, the first always, the others optionally.
    pub fn input_outputs(self) -> &'static [&'static str] {
        match self {
            Kind::Stochastic => &["k", "d"],
            Kind::Adx => &["adx", "plus_di", "minus_di"],
            Kind::Macd => &["histogram", "macd"],
            Kind::BollingerBands => &["middle", "upper", "lower"],
            Kind::Rsi | Kind::Roc | Kind::Atr | Kind::Sma | Kind::Ema => &["value"],
        }
    }

    pub fn scale(self) -> Scale {
        match self {
            Kind::Rsi | Kind::Stochastic | Kind::Adx => Scale::Bounded,
            Kind::Macd | Kind::Roc | Kind::Atr | Kind::BollingerBands | Kind::Sma | Kind::Ema => {
                Scale::Quantile
            }
        }
    }

    fn scale_name(self) -> &'static str {
        match self {
            Kind::Rsi | Kind::Stochastic | Kind::Adx => "bounded",
            Kind::Roc => "percent",
            Kind::Macd | Kind::Atr | Kind::BollingerBands | Kind::Sma | Kind::Ema => "price",
        }
    }
}

/// A legible indicator id that names its parameters (`rsi_14`, `macd_12_26_9`, `bb_20_2.5`).
pub fn indicator_id(spec: &IndicatorSpec) -> String {
    match *spec {
        IndicatorSpec::Rsi { period } => format!("rsi_{period}"),
        IndicatorSpec::Sma { period } => format!("sma_{period}"),
        IndicatorSpec::Ema { period } => format!("ema_{period}"),
        IndicatorSpec::Adx { period } => format!("adx_{period}"),
        IndicatorSpec::Atr { period } => format!("atr_{period}"),
        IndicatorSpec::Roc { period } => format!("roc_{period}"),
        IndicatorSpec::Macd { fast, slow, signal } => format!("macd_{fast}_{slow}_{signal}"),
        IndicatorSpec::BollingerBands { period, std_dev } => {
            format!("bb_{period}_{}", std_dev.to_string().replace('.', "p"))
        }
        IndicatorSpec::Stochastic {
            k_period,
            d_period,
            smooth,
        } => format!("stoch_{k_period}_{d_period}_{smooth}"),
    }
}

/// A strategy's reference to `output` of the indicator `id`: the id alone for a single output.
pub fn reference(id: &str, spec: &IndicatorSpec, output: &str) -> String {
    if spec.output_names().len() == 1 {
        id.to_string()
    } else {
        format!("{id}.{output}")
    }
}

/// Every indicator, its parameters and scale, for the design context.
pub fn indicator_catalogue() -> Vec<IndicatorInfo> {
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let spec = kind.default_spec();
            let names = spec.output_names();
            let params = match serde_json::to_value(&spec) {
                Ok(serde_json::Value::Object(fields)) => fields
                    .into_iter()
                    .filter_map(|(name, value)| {
                        Some(ParamInfo {
                            default: value.as_f64()?,
                            name,
                        })
                    })
                    .collect(),
                _ => Vec::new(),
            };
            IndicatorInfo {
                name: kind.type_name().to_string(),
                description: kind.description().to_string(),
                outputs: if names.len() == 1 {
                    vec!["id".to_string()]
                } else {
                    names.iter().map(|name| format!("id.{name}")).collect()
                },
                params,
                scale: kind.scale_name().to_string(),
                range: (kind.scale() == Scale::Bounded).then_some([0.0, 100.0]),
                archetypes: super::archetypes::Archetype::ALL
                    .into_iter()
                    .filter(|archetype| archetype.pool().contains(&kind))
                    .map(|archetype| archetype.as_str().to_string())
                    .collect(),
            }
        })
        .collect()
}
