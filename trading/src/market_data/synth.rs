//! Deterministic synthetic market data (`ktrdr data synth`), realistic enough to train and backtest on:
//!
//! - **Regimes**: a Markov chain over bull, bear and sideways markets (each lasting ~400 bars on
//!   average), each with its own drift, so there are trends to learn and regime changes to survive.
//! - **Volatility clustering**: GARCH(1,1) variance (α 0.08, β 0.90) around a long-run level that
//!   differs by regime; calm and turbulent stretches alternate.
//! - **Fat tails**: shocks are a mixture of two normals (5 % of them three times wider).
//! - **FX sessions**: six-letter currency pairs do not trade from Friday 22:00 to Sunday 22:00 UTC; the
//!   week opens with a gap.
//! - **Bars**: open = previous close (plus the weekend gap), close from the bar's return, high and low
//!   beyond both by a half-normal excursion, volume rising with the size of the move.
//!
//! The same spec and seed always give the same bars (ChaCha8 random numbers, no clock, no threads).

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{
    Error, Result,
    market_data::{Bar, Timeframe},
};

#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub seed: u64,
}

impl SynthSpec {
    /// Six-letter alphabetic symbols (EURUSD, GBPJPY) are currency pairs with weekend closes.
    pub fn is_fx(&self) -> bool {
        self.symbol.len() == 6 && self.symbol.chars().all(|c| c.is_ascii_alphabetic())
    }

    fn initial_price(&self) -> f64 {
        match self.symbol.to_ascii_uppercase().as_str() {
            "EURUSD" => 1.10,
            "GBPUSD" => 1.27,
            "USDJPY" => 140.0,
            _ if self.is_fx() => 1.0,
            _ => 100.0,
        }
    }

    /// Long-run annualised volatility: lower for currencies than for other assets.
    fn annual_volatility(&self) -> f64 {
        if self.is_fx() { 0.08 } else { 0.25 }
    }
}

#[derive(Clone, Copy)]
enum Regime {
    Bull,
    Bear,
    Sideways,
}

impl Regime {
    /// (annual drift, volatility multiplier)
    fn character(self) -> (f64, f64) {
        match self {
            Regime::Bull => (0.25, 0.9),
            Regime::Bear => (-0.25, 1.3),
            Regime::Sideways => (0.0, 0.8),
        }
    }
}

/// Bars of `spec`, oldest first.
pub fn synthesize(spec: &SynthSpec) -> Result<Vec<Bar>> {
    if spec.end <= spec.start {
        return Err(Error::InvalidInput(format!(
            "empty date range: end {} is not after start {}",
            spec.end.date_naive(),
            spec.start.date_naive()
        )));
    }
    let step = spec.timeframe.duration();
    let bars_per_year = spec.timeframe.bars_per_year();
    let long_run_var = spec.annual_volatility().powi(2) / bars_per_year;
    let (alpha, beta) = (0.08, 0.90);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);

    let mut bars = Vec::new();
    let mut price = spec.initial_price();
    let mut variance = long_run_var;
    let mut last_shock = 0.0_f64;
    let mut regime = Regime::Sideways;
    let mut closed_since_last_bar = false;
    let mut ts = spec.start;
    while ts < spec.end {
        if spec.is_fx() && fx_market_closed(ts) {
            closed_since_last_bar = true;
            ts += step;
            continue;
        }
        if rng.random::<f64>() < 1.0 / 400.0 {
            regime = match rng.random_range(0..3) {
                0 => Regime::Bull,
                1 => Regime::Bear,
                _ => Regime::Sideways,
            };
        }
        let (annual_drift, vol_multiplier) = regime.character();
        let target_var = long_run_var * vol_multiplier * vol_multiplier;
        variance =
            (1.0 - alpha - beta) * target_var + alpha * last_shock * last_shock + beta * variance;
        let sigma = variance.sqrt();
        // The mixture is rescaled to unit variance (0.95·1 + 0.05·9 = 1.4): otherwise α·E[z²] + β
        // would exceed 1 and the GARCH variance would explode.
        let z = standard_normal(&mut rng) * if rng.random::<f64>() < 0.05 { 3.0 } else { 1.0 }
            / 1.4_f64.sqrt();
        let shock = sigma * z;
        last_shock = shock;
        let drift = annual_drift / bars_per_year - variance / 2.0;

        let gap = if closed_since_last_bar {
            sigma * 2.0 * standard_normal(&mut rng)
        } else {
            0.0
        };
        closed_since_last_bar = false;
        let open = price * gap.exp();
        let close = open * (drift + shock).exp();
        let high = open.max(close) * (sigma * 0.5 * standard_normal(&mut rng).abs()).exp();
        let low = open.min(close) * (-sigma * 0.5 * standard_normal(&mut rng).abs()).exp();
        let volume =
            (1000.0 * (1.0 + (shock / sigma).abs()) * (0.3 * standard_normal(&mut rng)).exp())
                .round();
        bars.push(Bar {
            ts,
            open,
            high,
            low,
            close,
            volume,
        });
        price = close;
        ts += step;
    }
    if bars.is_empty() {
        return Err(Error::InvalidInput(
            "the date range holds no trading time (FX markets are closed at weekends)".into(),
        ));
    }
    Ok(bars)
}

/// FX trades from Sunday 22:00 to Friday 22:00 UTC.
fn fx_market_closed(ts: DateTime<Utc>) -> bool {
    match ts.weekday() {
        Weekday::Sat => true,
        Weekday::Fri => ts.hour() >= 22,
        Weekday::Sun => ts.hour() < 22,
        _ => false,
    }
}

/// Box–Muller: one standard normal sample.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn spec(seed: u64) -> SynthSpec {
        SynthSpec {
            symbol: "EURUSD".into(),
            timeframe: Timeframe::H1,
            start: Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2021, 1, 1, 0, 0, 0).unwrap(),
            seed,
        }
    }

    #[test]
    fn same_seed_same_bars_other_seed_other_bars() {
        let a = synthesize(&spec(7)).unwrap();
        assert_eq!(a, synthesize(&spec(7)).unwrap());
        assert_ne!(a, synthesize(&spec(8)).unwrap());
    }

    #[test]
    fn prices_stay_in_a_realistic_range_for_years() {
        let mut long = spec(42);
        long.end = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let bars = synthesize(&long).unwrap();
        let (low, high) = bars.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), b| {
            (lo.min(b.low), hi.max(b.high))
        });
        // EURUSD starts at 1.10; four years of 8 % annual volatility stay well within 0.5 … 2.5.
        assert!(low > 0.5 && high < 2.5, "range {low} … {high}");
    }

    #[test]
    fn fx_bars_skip_weekends_and_are_consistent() {
        let bars = synthesize(&spec(1)).unwrap();
        // A year of 1h bars, minus 48 closed hours a week.
        assert!((6_000..6_400).contains(&bars.len()), "{}", bars.len());
        assert!(bars.iter().all(|bar| !fx_market_closed(bar.ts)));
        assert!(bars.iter().all(|bar| bar.inconsistency().is_none()));
        assert!(bars.windows(2).all(|pair| pair[0].ts < pair[1].ts));
    }

    #[test]
    fn volatility_clusters() {
        // Absolute returns are autocorrelated under GARCH; independent shocks would give ~0.
        let bars = synthesize(&spec(3)).unwrap();
        let abs: Vec<f64> = bars
            .windows(2)
            .map(|w| (w[1].close / w[0].close).ln().abs())
            .collect();
        let mean = abs.iter().sum::<f64>() / abs.len() as f64;
        let cov: f64 = abs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
        let var: f64 = abs.iter().map(|a| (a - mean).powi(2)).sum();
        assert!(
            cov / var > 0.05,
            "lag-1 autocorrelation of |returns| = {}",
            cov / var
        );
    }

    #[test]
    fn an_empty_range_is_refused() {
        let mut empty = spec(1);
        empty.end = empty.start;
        assert!(
            synthesize(&empty)
                .unwrap_err()
                .to_string()
                .starts_with("empty date range")
        );
    }
}
