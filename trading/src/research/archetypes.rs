//! The four kinds of strategy the built-in designer composes, each a pool of indicators that
//! expresses one idea about markets: momentum (moves continue), mean reversion (extremes return),
//! trend (direction and its strength) and breakout (volatility expanding out of a range). A design
//! takes at least one of its archetype's core indicators and fills up from the pool.

use super::catalogue::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Archetype {
    Momentum,
    MeanReversion,
    Trend,
    Breakout,
}

impl Archetype {
    pub const ALL: [Archetype; 4] = [
        Archetype::Momentum,
        Archetype::MeanReversion,
        Archetype::Trend,
        Archetype::Breakout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Archetype::Momentum => "momentum",
            Archetype::MeanReversion => "mean_reversion",
            Archetype::Trend => "trend",
            Archetype::Breakout => "breakout",
        }
    }

    pub fn parse(text: &str) -> Option<Archetype> {
        Archetype::ALL
            .into_iter()
            .find(|archetype| archetype.as_str() == text)
    }

    /// Words a brief may name the archetype by (matched as whole words, case-insensitive).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Archetype::Momentum => &["momentum"],
            Archetype::MeanReversion => &[
                "mean reversion",
                "mean-reversion",
                "mean_reversion",
                "reversion",
                "reversal",
            ],
            Archetype::Trend => &["trend", "trend following", "trend-following", "trending"],
            Archetype::Breakout => &["breakout", "breakouts", "break-out"],
        }
    }

    /// Indicators a design of this archetype draws from.
    pub fn pool(self) -> &'static [Kind] {
        match self {
            Archetype::Momentum => &[Kind::Rsi, Kind::Roc, Kind::Macd, Kind::Stochastic],
            Archetype::MeanReversion => {
                &[Kind::Rsi, Kind::Stochastic, Kind::BollingerBands, Kind::Roc]
            }
            Archetype::Trend => &[Kind::Adx, Kind::Macd, Kind::Ema, Kind::Sma, Kind::Roc],
            Archetype::Breakout => &[Kind::Atr, Kind::BollingerBands, Kind::Adx, Kind::Roc],
        }
    }

    /// The indicators that carry the idea: every design of the archetype has one of them.
    pub fn core(self) -> &'static [Kind] {
        match self {
            Archetype::Momentum => &[Kind::Rsi, Kind::Roc, Kind::Macd],
            Archetype::MeanReversion => &[Kind::Rsi, Kind::Stochastic],
            Archetype::Trend => &[Kind::Adx, Kind::Macd],
            Archetype::Breakout => &[Kind::Atr, Kind::BollingerBands],
        }
    }

    /// The archetype a strategy was designed as: from a built-in name (`r_<archetype>_…`), else the
    /// one whose pool covers most of its indicators.
    pub fn of_strategy(name: &str, kinds: &[Kind]) -> Archetype {
        let from_name = name
            .strip_prefix("r_")
            .and_then(|rest| rest.rsplit_once('_'))
            .and_then(|(archetype, _)| Archetype::parse(archetype));
        from_name.unwrap_or_else(|| {
            let covered = |archetype: &Archetype| {
                kinds
                    .iter()
                    .filter(|kind| archetype.pool().contains(kind))
                    .count()
            };
            // max_by_key keeps the last maximum; reversing keeps the first in ALL's order.
            Archetype::ALL
                .into_iter()
                .rev()
                .max_by_key(covered)
                .unwrap_or(Archetype::Momentum)
        })
    }
}
