//! Which field of a CSV row holds what. Column names are matched case-insensitively after dropping
//! MetaTrader's `<…>`, quotes, and turning spaces and dashes into `_`, so `Open`, `<OPEN>` and
//! `open` are one name, and `Gmt time` is `gmt_time`. The timestamp is one column (`timestamp`,
//! `datetime`, `gmt_time`, `local_time`, `open_time`, `time` or `date`), or `date` and `time`
//! together, or — for pandas' `to_csv` — the unnamed first column. Columns not named here
//! (Binance's `close_time`, `trades`, …) are ignored.
//!
//! A file without a header (its first field is already a timestamp) is read as
//! `timestamp,open,high,low,close[,volume,…]`, or `date,time,open,…` when the first two fields are
//! a date and a time (MetaTrader 4's history export); `--columns` names them otherwise.

use crate::market_data::timestamps::TimestampFormat;

/// Names that hold the whole timestamp, in order of preference.
const TIMESTAMP_NAMES: [&str; 8] = [
    "timestamp",
    "datetime",
    "date_time",
    "gmt_time",
    "local_time",
    "open_time",
    "time",
    "date",
];
/// Names that hold the volume, in order of preference (MetaTrader writes both `<VOL>`, the real
/// volume, and `<TICKVOL>`).
const VOLUME_NAMES: [&str; 5] = ["volume", "vol", "tickvol", "tick_volume", "real_volume"];

/// Where the timestamp is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFields {
    One(usize),
    DateAndTime(usize, usize),
}

/// The fields of a row that make a bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub timestamp: TimestampFields,
    /// open, high, low, close.
    pub prices: [usize; 4],
    pub volume: Option<usize>,
    /// Whether the first line is a header (and not a bar).
    pub header: bool,
    /// What was assumed, in words, for the import's summary.
    pub notes: Vec<String>,
}

/// A column name as compared: lowercase, without `<>` and quotes, spaces and dashes as `_`.
fn normalized(name: &str) -> String {
    name.trim()
        .trim_matches(|c| matches!(c, '<' | '>' | '"' | '\''))
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

impl Layout {
    /// The layout given by column names: a header's, or `--columns`' (then `header` is false).
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
        header: bool,
    ) -> Result<Self, String> {
        let names: Vec<String> = names.into_iter().map(normalized).collect();
        let shown = names.join(",");
        let find = |name: &str| names.iter().position(|n| n == name);
        let missing = |what: &str| {
            let given = if header { "header" } else { "--columns" };
            format!(
                "no '{what}' column ({given}: {})",
                super::csv_file::shorten(&shown)
            )
        };
        let mut notes = Vec::new();
        let timestamp = if let Some(single) = TIMESTAMP_NAMES[..6].iter().find_map(|n| find(n)) {
            TimestampFields::One(single)
        } else if let (Some(date), Some(time)) = (find("date"), find("time")) {
            notes.push("timestamps from the date and time columns".to_string());
            TimestampFields::DateAndTime(date, time)
        } else if let Some(single) = TIMESTAMP_NAMES[6..].iter().find_map(|n| find(n)) {
            TimestampFields::One(single)
        } else if header && matches!(names.first().map(String::as_str), Some("" | "unnamed:_0")) {
            notes.push("timestamps from the unnamed first column (pandas' index)".to_string());
            TimestampFields::One(0)
        } else {
            return Err(missing("timestamp"));
        };
        let price = |name: &str| find(name).ok_or_else(|| missing(name));
        let prices = [
            price("open")?,
            price("high")?,
            price("low")?,
            price("close")?,
        ];
        let volume = VOLUME_NAMES.iter().find_map(|name| {
            let col = find(name)?;
            if *name != "volume" {
                notes.push(format!("volume from the '{name}' column"));
            }
            Some(col)
        });
        if volume.is_none() {
            notes.push("no volume column: volumes are 0".to_string());
        }
        Ok(Self {
            timestamp,
            prices,
            volume,
            header,
            notes,
        })
    }

    /// The layout of a file whose first row is `first`: its header's, or — when `first` is already
    /// a bar — the positional one.
    pub fn detect(first: &csv::StringRecord) -> Result<Self, String> {
        let named = Self::from_names(first.iter(), true);
        if named.is_ok() {
            return named;
        }
        let field = |i: usize| first.get(i).unwrap_or("");
        if TimestampFormat::detect(field(0)).is_err() {
            // Not a bar either: the header's complaint is the useful one.
            return named;
        }
        let date_and_time = matches!(
            TimestampFormat::detect(field(0)),
            Ok(TimestampFormat::Date(_))
        ) && is_time_of_day(field(1));
        let offset = if date_and_time { 2 } else { 1 };
        if first.len() < offset + 4 {
            return Err(format!(
                "no header, and {} fields are too few for timestamp,open,high,low,close: name \
                 them with --columns",
                first.len()
            ));
        }
        let mut names = if date_and_time {
            vec!["date", "time"]
        } else {
            vec!["timestamp"]
        };
        names.extend(["open", "high", "low", "close"]);
        if first.len() > offset + 4 {
            names.push("volume");
        }
        let mut layout = Self::from_names(names.iter().copied(), false)?;
        layout.notes.insert(
            0,
            format!(
                "no header: fields read as {}{} (--columns names them otherwise)",
                names.join(","),
                if first.len() > names.len() {
                    ",… (the rest ignored)"
                } else {
                    ""
                }
            ),
        );
        Ok(layout)
    }
}

/// Whether `text` is a time of day alone (`HH:MM`, `HH:MM:SS`, `HHMMSS`), as MetaTrader 4 writes
/// beside the date.
fn is_time_of_day(text: &str) -> bool {
    ["%H:%M:%S%.f", "%H:%M", "%H%M%S"]
        .iter()
        .any(|format| chrono::NaiveTime::parse_from_str(text, format).is_ok())
}
