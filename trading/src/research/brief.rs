//! A research's `--brief`: free text whose keywords constrain the built-in designer. Archetype
//! words ("mean reversion", "momentum", "trend", "breakout") choose among the archetypes,
//! indicator names ("rsi", "macd", …) must appear in every design, and a timeframe ("4h") must be
//! the research's. Other words are ignored, so a brief may be written for a person or a language
//! model too; an indicator ktrdr does not have, or two timeframes, is refused with the reason.

use super::{archetypes::Archetype, catalogue::Kind};
use crate::{Error, Result, market_data::Timeframe};

/// Indicators people ask for that ktrdr does not compute: naming one is an error, not a silent
/// design without it.
const MISSING_INDICATORS: [&str; 14] = [
    "vwap",
    "ichimoku",
    "obv",
    "cci",
    "mfi",
    "williams",
    "keltner",
    "donchian",
    "supertrend",
    "psar",
    "parabolic sar",
    "aroon",
    "wma",
    "hma",
];

/// What a brief asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Brief {
    /// The archetypes allowed; empty: any.
    pub archetypes: Vec<Archetype>,
    /// Indicators every design must have.
    pub indicators: Vec<Kind>,
    pub timeframe: Option<Timeframe>,
}

impl Brief {
    /// Reads the keywords of `text` (none: no constraint).
    pub fn parse(text: Option<&str>) -> Result<Brief> {
        let Some(text) = text else {
            return Ok(Brief::default());
        };
        let words = format!(" {} ", normalize(text));
        let mentions = |alias: &str| words.contains(&format!(" {} ", normalize(alias)));
        let mut brief = Brief {
            archetypes: Archetype::ALL
                .into_iter()
                .filter(|archetype| archetype.aliases().iter().any(|alias| mentions(alias)))
                .collect(),
            indicators: Kind::ALL
                .into_iter()
                .filter(|kind| kind.aliases().iter().any(|alias| mentions(alias)))
                .collect(),
            timeframe: None,
        };
        if let Some(missing) = MISSING_INDICATORS.iter().find(|name| mentions(name)) {
            let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.type_name()).collect();
            return Err(Error::InvalidInput(format!(
                "the brief asks for '{missing}', an indicator ktrdr does not have (indicators: {})",
                known.join(", ")
            )));
        }
        let timeframes: Vec<Timeframe> = Timeframe::ALL
            .into_iter()
            .filter(|tf| mentions(tf.as_str()))
            .collect();
        match timeframes[..] {
            [] => {}
            [timeframe] => brief.timeframe = Some(timeframe),
            _ => {
                let named: Vec<&str> = timeframes.iter().map(|tf| tf.as_str()).collect();
                return Err(Error::InvalidInput(format!(
                    "the brief names several timeframes ({}); a research trades one: name one, \
                     or pass --timeframe",
                    named.join(", ")
                )));
            }
        }
        Ok(brief)
    }

    /// Whether a design of `archetype` may be made.
    pub fn allows(&self, archetype: Archetype) -> bool {
        self.archetypes.is_empty() || self.archetypes.contains(&archetype)
    }

    /// Whether `kinds` has every indicator the brief asks for.
    pub fn satisfied_by(&self, kinds: &[Kind]) -> bool {
        self.indicators.iter().all(|kind| kinds.contains(kind))
    }
}

/// The timeframe a brief names, if any: the research takes it when no `--timeframe` is given.
pub fn brief_timeframe(brief: Option<&str>) -> Result<Option<Timeframe>> {
    Ok(Brief::parse(brief)?.timeframe)
}

/// Lower case, words separated by single spaces, `-` and `_` as spaces: "Mean-Reversion, RSI!"
/// reads as "mean reversion rsi".
fn normalize(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '.'))
        .map(|word| word.trim_matches('.'))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
