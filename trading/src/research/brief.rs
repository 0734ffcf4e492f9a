//! A research's `--brief`: free text whose keywords constrain the built-in designer. Archetype
//! words ("mean reversion", "momentum", "trend", "breakout") choose among the archetypes,
//! indicator names ("rsi", "macd", …) must appear in every design, and a timeframe ("4h") must be
//! the research's. Other words are ignored, so a brief may be written for a person or a language
//! model too. A negation rules out the keywords after it ("momentum without macd or roc", "no
//! breakout"). An indicator ktrdr does not have, an indicator both asked for and ruled out, or two
//! timeframes, is refused with the reason.

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

/// Words that rule out the keywords after them ("without macd", "no breakout").
const NEGATIONS: [&str; 8] = [
    "no",
    "not",
    "without",
    "except",
    "avoid",
    "exclude",
    "excluding",
    "nor",
];
/// Words a negation reaches across ("without rsi or macd", "no more than the adx").
const FILLERS: [&str; 6] = ["or", "and", "a", "an", "the", "any"];

/// What a brief asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Brief {
    /// The archetypes allowed; empty: any (but the ruled-out ones).
    pub archetypes: Vec<Archetype>,
    /// Archetypes ruled out ("not trend").
    pub excluded_archetypes: Vec<Archetype>,
    /// Indicators every design must have.
    pub indicators: Vec<Kind>,
    /// Indicators no design may have ("without macd").
    pub excluded_indicators: Vec<Kind>,
    pub timeframe: Option<Timeframe>,
}

/// How a keyword occurs in a brief.
#[derive(Default)]
struct Mention {
    asked: bool,
    ruled_out: bool,
}

impl Brief {
    /// Reads the keywords of `text` (none: no constraint).
    pub fn parse(text: Option<&str>) -> Result<Brief> {
        let Some(text) = text else {
            return Ok(Brief::default());
        };
        let words = tokens(text);
        let keyword_words: Vec<String> = Kind::ALL
            .iter()
            .flat_map(|kind| kind.aliases().iter())
            .chain(
                Archetype::ALL
                    .iter()
                    .flat_map(|archetype| archetype.aliases().iter()),
            )
            .chain(MISSING_INDICATORS.iter())
            .flat_map(|alias| tokens(alias))
            .collect();
        let mention = |aliases: &[&str]| {
            let mut found = Mention::default();
            for alias in aliases {
                let alias = tokens(alias);
                for start in 0..words.len() {
                    if !words[start..].starts_with(&alias) {
                        continue;
                    }
                    // Back over fillers and other keywords to the word that governs this one.
                    let governing = words[..start].iter().rev().find(|word| {
                        !FILLERS.contains(&word.as_str()) && !keyword_words.contains(word)
                    });
                    if governing.is_some_and(|word| NEGATIONS.contains(&word.as_str())) {
                        found.ruled_out = true;
                    } else {
                        found.asked = true;
                    }
                }
            }
            found
        };
        let mut brief = Brief::default();
        for archetype in Archetype::ALL {
            let found = mention(archetype.aliases());
            if found.asked {
                brief.archetypes.push(archetype);
            }
            if found.ruled_out {
                brief.excluded_archetypes.push(archetype);
            }
        }
        for kind in Kind::ALL {
            let found = mention(kind.aliases());
            if found.asked && found.ruled_out {
                return Err(Error::InvalidInput(format!(
                    "the brief both asks for {0} and rules it out: say one or the other",
                    kind.type_name()
                )));
            }
            if found.asked {
                brief.indicators.push(kind);
            }
            if found.ruled_out {
                brief.excluded_indicators.push(kind);
            }
        }
        if let Some(missing) = MISSING_INDICATORS
            .iter()
            .find(|name| mention(&[name]).asked)
        {
            let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.type_name()).collect();
            return Err(Error::InvalidInput(format!(
                "the brief asks for '{missing}', an indicator ktrdr does not have (indicators: {})",
                known.join(", ")
            )));
        }
        let timeframes: Vec<Timeframe> = Timeframe::ALL
            .into_iter()
            .filter(|tf| mention(&[tf.as_str()]).asked)
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
        !self.excluded_archetypes.contains(&archetype)
            && (self.archetypes.is_empty() || self.archetypes.contains(&archetype))
    }

    /// Whether a design may use `kind`.
    pub fn permits(&self, kind: Kind) -> bool {
        !self.excluded_indicators.contains(&kind)
    }

    /// Whether `kinds` has every indicator the brief asks for and none it rules out.
    pub fn satisfied_by(&self, kinds: &[Kind]) -> bool {
        self.indicators.iter().all(|kind| kinds.contains(kind))
            && kinds.iter().all(|kind| self.permits(*kind))
    }
}

/// The timeframe a brief names, if any: the research takes it when no `--timeframe` is given.
pub fn brief_timeframe(brief: Option<&str>) -> Result<Option<Timeframe>> {
    Ok(Brief::parse(brief)?.timeframe)
}

/// The words of `text`, lower case, `-` and `_` as spaces ("Mean-Reversion, RSI!" reads as
/// "mean", "reversion", "|", "rsi", "|"); punctuation between words is a `|`, across which a
/// negation does not reach ("no trend, momentum").
fn tokens(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_alphanumeric() || (c == '.' && !word.is_empty()) {
            word.push(c);
            continue;
        }
        let ends_sentence = word.ends_with('.');
        let finished = word.trim_end_matches('.').to_string();
        if !finished.is_empty() {
            words.push(finished);
        }
        word.clear();
        if ends_sentence || ",;:!?()".contains(c) {
            words.push("|".to_string());
        }
    }
    let ends_sentence = word.ends_with('.');
    let finished = word.trim_end_matches('.').to_string();
    if !finished.is_empty() {
        words.push(finished);
    }
    if ends_sentence {
        words.push("|".to_string());
    }
    words
}
