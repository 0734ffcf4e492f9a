//! A series' own calendar: how many bars a year it really has. FX closes at weekends (about 6,200
//! hourly bars a year, not 8,766) and equities trade about 252 days, so annualising with the
//! timeframe's round-the-clock count overstates volatility and Sharpe by about 1.2 ×.
//!
//! **Definition.** `periods_per_year = (bars − 1) / years`, where `years` is the time from the
//! first bar's timestamp to the last's, in years of 365.25 days: the number of bar-to-bar
//! intervals a year, measured over the whole stored series (not only the bars a backtest trades,
//! whose window can be short). Weekends, holidays and gaps in the data count as the time they are,
//! so they lower the figure. For a series of round-the-clock bars it equals
//! [`Timeframe::bars_per_year`] exactly. Over less than a year the weekend and holiday edges of the
//! window bias it (two weeks of FX starting on a Monday read about 15 % high), which
//! [`Calendar::is_short`] lets a result warn about. A series of one bar, or of bars at one
//! instant, has no measurable calendar: the timeframe's count is used.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{
    Result,
    market_data::{BarRange, Timeframe},
};

/// Days in a year: the Julian year, as in [`Timeframe::bars_per_year`], so that round-the-clock
/// bars measure exactly that count.
pub const DAYS_PER_YEAR: f64 = 365.25;

/// Years from `first` to `last` (negative if `last` is earlier).
pub fn elapsed_years(first: DateTime<Utc>, last: DateTime<Utc>) -> f64 {
    (last - first).as_seconds_f64() / (DAYS_PER_YEAR * 86_400.0)
}

/// What the periods per year were measured from, so the figure can be recomputed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calendar {
    /// Bars of the series.
    pub bars: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// `(bars − 1) / years`, or the timeframe's round-the-clock count when that is not measurable.
    pub periods_per_year: f64,
}

impl Calendar {
    /// The calendar of `bars` bars of `timeframe` from `first` to `last`.
    pub fn measure(
        bars: u64,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        timeframe: Timeframe,
    ) -> Self {
        let years = elapsed_years(first, last);
        let periods_per_year = if bars >= 2 && years > 0.0 {
            (bars - 1) as f64 / years
        } else {
            timeframe.bars_per_year()
        };
        Calendar {
            bars,
            first,
            last,
            periods_per_year,
        }
    }

    /// The calendar of timestamps `ts` (oldest first) of `timeframe`; `None` without any.
    pub fn of_timestamps(ts: &[DateTime<Utc>], timeframe: Timeframe) -> Option<Self> {
        let (first, last) = (*ts.first()?, *ts.last()?);
        Some(Self::measure(ts.len() as u64, first, last, timeframe))
    }

    /// Whether the series spans less than a year, where the edges bias the measure.
    pub fn is_short(&self) -> bool {
        elapsed_years(self.first, self.last) < 1.0
    }

    /// The calendar of the whole stored series `range.symbol` `range.timeframe` (the range's
    /// bounds are ignored: the series' calendar does not depend on the window traded); `None`
    /// when it has no bars. Counted from the (symbol, timeframe, ts) index.
    pub async fn of_series(pool: &PgPool, range: &BarRange<'_>) -> Result<Option<Self>> {
        let (bars, first, last): (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
            sqlx::query_as(
                "SELECT count(*), min(ts), max(ts) FROM ktrdr.bars
                 WHERE symbol = $1 AND timeframe = $2",
            )
            .bind(range.symbol)
            .bind(range.timeframe.as_str())
            .fetch_one(pool)
            .await?;
        Ok(first
            .zip(last)
            .map(|(first, last)| Self::measure(bars as u64, first, last, range.timeframe)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};

    use super::*;

    fn start() -> DateTime<Utc> {
        // A Monday.
        Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap()
    }

    /// Hourly bars five days a week (Monday 00:00 to Friday 23:00), as FX trades, for `weeks`.
    fn fx_hours(weeks: i64) -> Vec<DateTime<Utc>> {
        (0..weeks * 7 * 24)
            .map(|hour| start() + Duration::hours(hour))
            .filter(|ts| !matches!(ts.weekday(), Weekday::Sat | Weekday::Sun))
            .collect()
    }

    /// Daily bars on weekdays except nine fixed holidays a year: 252 or so trading days a year.
    fn equity_days(years: i32) -> Vec<DateTime<Utc>> {
        let holidays = [
            (1, 1),
            (1, 15),
            (2, 19),
            (5, 27),
            (7, 4),
            (9, 2),
            (11, 28),
            (12, 25),
            (12, 31),
        ];
        let first = NaiveDate::from_ymd_opt(2018, 1, 1).unwrap();
        first
            .iter_days()
            .take_while(|day| day.year() < 2018 + years)
            .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
            .filter(|day| !holidays.contains(&(day.month(), day.day())))
            .map(|day| day.and_hms_opt(0, 0, 0).unwrap().and_utc())
            .collect()
    }

    fn relative_error(actual: f64, expected: f64) -> f64 {
        (actual - expected).abs() / expected
    }

    #[test]
    fn fx_hours_give_about_6260_bars_a_year() {
        let calendar = Calendar::of_timestamps(&fx_hours(3 * 52), Timeframe::H1).unwrap();
        // 120 bars a week, 365.25 / 7 weeks a year.
        let expected = 120.0 * DAYS_PER_YEAR / 7.0;
        assert!(
            relative_error(calendar.periods_per_year, expected) < 0.005,
            "{} against {expected}",
            calendar.periods_per_year
        );
        assert!(relative_error(Timeframe::H1.bars_per_year(), expected) > 0.3);
        assert!(!calendar.is_short());
    }

    #[test]
    fn equity_days_give_about_252_bars_a_year() {
        let days = equity_days(4);
        let per_year = days.len() as f64 / 4.0;
        assert!((250.0..=254.0).contains(&per_year), "{per_year}");
        let calendar = Calendar::of_timestamps(&days, Timeframe::D1).unwrap();
        assert!(
            relative_error(calendar.periods_per_year, per_year) < 0.01,
            "{} against {per_year}",
            calendar.periods_per_year
        );
    }

    #[test]
    fn round_the_clock_bars_give_the_timeframes_count_exactly() {
        let ts: Vec<_> = (0..10_000).map(|h| start() + Duration::hours(h)).collect();
        let calendar = Calendar::of_timestamps(&ts, Timeframe::H1).unwrap();
        assert!(relative_error(calendar.periods_per_year, Timeframe::H1.bars_per_year()) < 1e-12);
    }

    #[test]
    fn a_series_without_elapsed_time_falls_back_to_the_timeframe() {
        let calendar = Calendar::of_timestamps(&[start()], Timeframe::D1).unwrap();
        assert_eq!(calendar.periods_per_year, Timeframe::D1.bars_per_year());
        assert!(calendar.is_short());
        assert_eq!(Calendar::of_timestamps(&[], Timeframe::D1), None);
    }
}
