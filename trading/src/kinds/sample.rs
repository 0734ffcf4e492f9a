//! In sample or out of sample: a training records the dates of its chronological split, and a
//! backtest of its model says how many of the bars it traded fall in the periods the model was
//! fitted (`train`) or early-stopped (`validation`) on. A backtest given no range trades the
//! model's test period, the only part the model has never been fitted or selected on.
//!
//! Overlap is measured by time: a traded bar counts when its timestamp lies in a period, whatever
//! the symbol — a model that has seen a period of EURUSD has seen that period's regime, even when
//! it now trades GBPUSD. One leak stays, inherent in labels that look ahead: the ZigZag labels of
//! the last `labels.lookahead` validation rows see the first bars of the test period, which
//! reaches the model only through the choice of its best epoch.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The first and last bar (both included) of a part of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl DateRange {
    pub fn contains(&self, ts: DateTime<Utc>) -> bool {
        self.start <= ts && ts <= self.end
    }

    /// Whether this range and `other` share any instant.
    pub fn overlaps(&self, other: &DateRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    /// The range's bounds as a half-open `[start, end)` bar range, as bars are loaded.
    pub fn as_bounds(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        (Some(self.start), Some(self.end + Duration::microseconds(1)))
    }
}

impl std::fmt::Display for DateRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let minute = |ts: DateTime<Utc>| ts.format("%Y-%m-%d %H:%M");
        write!(f, "{} – {}", minute(self.start), minute(self.end))
    }
}

/// The periods of a training's chronological split. `train` starts with the first bar the
/// training loaded (its indicators' warm-up included); each part ends with its last row's bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitDates {
    pub train: DateRange,
    pub validation: DateRange,
    pub test: DateRange,
}

/// Traded bars inside the training's train and validation periods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    pub train: usize,
    pub validation: usize,
}

impl Overlap {
    pub fn total(&self) -> usize {
        self.train + self.validation
    }
}

/// Where a backtest's window came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// No range was given: the model's test period.
    TestPeriod,
    /// The params gave `start` and/or `end`.
    Given,
    /// No range was given and the training recorded no split (a result from before ktrdr
    /// recorded one): every stored bar.
    WholeSeries,
}

impl SplitDates {
    /// How many of the timestamps `traded` fall in the train and validation periods.
    pub fn overlap(&self, traded: impl IntoIterator<Item = DateTime<Utc>>) -> Overlap {
        let mut overlap = Overlap::default();
        for ts in traded {
            if self.train.contains(ts) {
                overlap.train += 1;
            } else if self.validation.contains(ts) {
                overlap.validation += 1;
            }
        }
        overlap
    }

    /// What to tell someone whose window `[start, end)` (either bound open) overlaps the periods
    /// the model was fitted or selected on; `None` when it does not.
    pub fn overlap_warning(
        &self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Option<String> {
        let window = DateRange {
            start: start.unwrap_or(DateTime::<Utc>::MIN_UTC),
            end: end.map_or(DateTime::<Utc>::MAX_UTC, |end| {
                end - Duration::microseconds(1)
            }),
        };
        let parts: Vec<String> = [("training", &self.train), ("validation", &self.validation)]
            .into_iter()
            .filter(|(_, part)| part.overlaps(&window))
            .map(|(name, part)| format!("{name} ({part})"))
            .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "in sample: the range overlaps the model's {} period{}; its results are not \
                 out of sample (the test period is {}; omit the range to trade it)",
                parts.join(" and "),
                if parts.len() > 1 { "s" } else { "" },
                self.test
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, d, 0, 0, 0).unwrap()
    }

    fn split() -> SplitDates {
        let range = |start, end| DateRange {
            start: day(start),
            end: day(end),
        };
        SplitDates {
            train: range(1, 10),
            validation: range(11, 15),
            test: range(16, 20),
        }
    }

    #[test]
    fn overlap_counts_traded_bars_by_period() {
        let overlap = split().overlap((9..=17).map(day));
        assert_eq!(
            overlap,
            Overlap {
                train: 2,
                validation: 5
            }
        );
        assert_eq!(split().overlap((16..=20).map(day)).total(), 0);
    }

    #[test]
    fn a_window_is_in_sample_when_it_touches_training_or_validation() {
        let split = split();
        assert_eq!(split.overlap_warning(Some(day(16)), None), None);
        let (start, end) = split.test.as_bounds();
        assert_eq!(split.overlap_warning(start, end), None);
        // `end` is exclusive: ending at the test period's first day touches only validation.
        let warning = split.overlap_warning(Some(day(12)), Some(day(16))).unwrap();
        assert!(
            warning.contains("validation (2024-01-11 00:00 – 2024-01-15 00:00) period;"),
            "{warning}"
        );
        assert!(!warning.contains("training"), "{warning}");
        let warning = split.overlap_warning(None, None).unwrap();
        assert!(
            warning.contains("training (2024-01-01 00:00 – 2024-01-10 00:00) and validation"),
            "{warning}"
        );
        assert!(
            warning.contains("the test period is 2024-01-16 00:00 – 2024-01-20 00:00"),
            "{warning}"
        );
    }
}
