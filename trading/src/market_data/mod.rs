//! Market data: OHLCV bars in `ktrdr.bars`, loaded from CSV files (`ktrdr data import`, streamed in
//! chunks) or generated (`ktrdr data synth`), each series with its sources (`ktrdr.bar_sources`),
//! and read back by training and backtesting.

pub mod calendar;
mod csv_file;
mod csv_layout;
mod fingerprint;
mod history;
mod source;
mod spacing;
mod store;
mod synth;
mod timeframe;
mod timestamps;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use calendar::Calendar;
pub use csv_file::{CsvBars, CsvOptions, MAX_CSV_LINE_BYTES, read_csv};
pub use fingerprint::bars_sha256;
pub use history::{WithHistory, load_with_history};
pub use source::{RecordedSource, Source};
pub use store::{
    Existing, SeriesInfo, SourcedBars, StoreReport, delete, has_bars, list, load, no_bars_message,
    store, store_stream, with_source,
};

use crate::strategy::Strategy;
pub use synth::{SynthSpec, synthesize};
pub use timeframe::Timeframe;

/// What a symbol may be made of (it names files and appears in commands).
pub const SYMBOL_RULE: &str = "letters, digits, '.', '_' or '-'";

/// Whether `symbol` is non-empty and follows [`SYMBOL_RULE`].
pub fn is_valid_symbol(symbol: &str) -> bool {
    !symbol.is_empty()
        && symbol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Which bars a run reads: one series, and the range `[start, end)` (either bound may be open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarRange<'a> {
    pub symbol: &'a str,
    pub timeframe: Timeframe,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl<'a> BarRange<'a> {
    /// The bars of `strategy`'s own series, or of the `symbol` or `timeframe` given instead.
    pub fn of(
        strategy: &'a Strategy,
        (symbol, timeframe): (Option<&'a str>, Option<Timeframe>),
        (start, end): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    ) -> Self {
        Self {
            symbol: symbol.unwrap_or(&strategy.training_data.symbol),
            timeframe: timeframe.unwrap_or(strategy.training_data.timeframe),
            start,
            end,
        }
    }
}

/// One bar: prices at open, high, low and close of the period starting at `ts`, and its volume.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, sqlx::FromRow)]
pub struct Bar {
    pub ts: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl Bar {
    /// Why this bar is inconsistent, if it is: non-finite values, a high below another price, a low
    /// above one, or a negative volume.
    pub fn inconsistency(&self) -> Option<String> {
        let fields = [
            ("open", self.open),
            ("high", self.high),
            ("low", self.low),
            ("close", self.close),
            ("volume", self.volume),
        ];
        if let Some((name, value)) = fields.iter().find(|(_, value)| !value.is_finite()) {
            return Some(format!("{name} is {value}"));
        }
        if self.high < self.open.max(self.close).max(self.low) {
            return Some(format!(
                "high {} is below open/close/low (open {}, close {}, low {})",
                self.high, self.open, self.close, self.low
            ));
        }
        if self.low > self.open.min(self.close) {
            return Some(format!(
                "low {} is above open/close (open {}, close {})",
                self.low, self.open, self.close
            ));
        }
        if self.volume < 0.0 {
            return Some(format!("negative volume {}", self.volume));
        }
        None
    }
}
