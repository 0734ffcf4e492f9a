//! Reading bars from CSV: a header with `timestamp` (or `time`, `date`, `datetime`), `open`, `high`,
//! `low`, `close` and optionally `volume`, in any order. Timestamps may be RFC 3339, `YYYY-MM-DD
//! HH:MM[:SS]` (UTC), `YYYY-MM-DD`, or Unix seconds. Every row is checked — finite numbers, OHLC
//! consistency, strictly increasing timestamps — and the first bad row is reported with its line.
//!
//! The file is streamed ([`CsvBars`] yields one bar at a time) and no line may be longer than
//! [`MAX_CSV_LINE_BYTES`], so reading takes the same small memory whatever the file's size — even
//! for a file that never ends a line, such as `/dev/zero`: the csv parser would otherwise grow one
//! record without bound.

use std::{
    fs::File,
    io::{self, Read},
    path::Path,
};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::{Error, Result, market_data::Bar};

/// The longest CSV line accepted, newline excluded (64 KiB: a bar's line is well under 200 bytes).
pub const MAX_CSV_LINE_BYTES: usize = 64 * 1024;

/// How much of a bad line or header an error message shows.
const SHOWN_CHARS: usize = 100;

/// The bars of a CSV file, read one row at a time; the first bad row (or a file without rows) ends
/// the stream with an error.
pub struct CsvBars {
    shown: String,
    reader: csv::Reader<LineLimit<File>>,
    record: csv::StringRecord,
    ts_col: usize,
    price_cols: [usize; 4],
    volume_col: Option<usize>,
    previous: Option<DateTime<Utc>>,
    rows: usize,
    done: bool,
}

impl CsvBars {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let file = File::open(path)
            .map_err(|err| Error::InvalidInput(format!("cannot read {shown}: {err}")))?;
        // The csv reader buffers what it reads itself.
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(LineLimit::new(file));
        let headers = reader
            .headers()
            .map_err(|err| csv_error(&shown, 1, err, "cannot read the header"))?
            .clone();
        let column = |names: &[&str]| {
            headers
                .iter()
                .position(|h| names.iter().any(|name| h.eq_ignore_ascii_case(name)))
        };
        let missing = |what: &str| {
            let header = headers.iter().collect::<Vec<_>>().join(",");
            Error::InvalidInput(format!(
                "{shown}: no '{what}' column (header: {})",
                shorten(&header)
            ))
        };
        let ts_col = column(&["timestamp", "time", "date", "datetime"])
            .ok_or_else(|| missing("timestamp"))?;
        let price_cols = [
            column(&["open"]).ok_or_else(|| missing("open"))?,
            column(&["high"]).ok_or_else(|| missing("high"))?,
            column(&["low"]).ok_or_else(|| missing("low"))?,
            column(&["close"]).ok_or_else(|| missing("close"))?,
        ];
        let volume_col = column(&["volume"]);
        Ok(Self {
            shown,
            reader,
            record: csv::StringRecord::new(),
            ts_col,
            price_cols,
            volume_col,
            previous: None,
            rows: 0,
            done: false,
        })
    }

    /// The bar of the record just read (at `line`), checked.
    fn bar(&self, line: usize) -> Result<Bar> {
        let bad = |why: String| Error::InvalidInput(format!("{}:{line}: {why}", self.shown));
        let field = |col: usize| self.record.get(col).unwrap_or("");
        let ts = parse_timestamp(field(self.ts_col)).map_err(bad)?;
        let number = |col: usize, name: &str| -> Result<f64> {
            field(col)
                .parse::<f64>()
                .map_err(|_| bad(format!("{name} '{}' is not a number", shorten(field(col)))))
        };
        let bar = Bar {
            ts,
            open: number(self.price_cols[0], "open")?,
            high: number(self.price_cols[1], "high")?,
            low: number(self.price_cols[2], "low")?,
            close: number(self.price_cols[3], "close")?,
            volume: match self.volume_col {
                Some(col) => number(col, "volume")?,
                None => 0.0,
            },
        };
        if let Some(why) = bar.inconsistency() {
            return Err(bad(why));
        }
        if let Some(previous) = self.previous
            && bar.ts <= previous
        {
            return Err(bad(format!(
                "timestamp {} is not after the previous row's {} (timestamps must increase)",
                bar.ts.to_rfc3339(),
                previous.to_rfc3339()
            )));
        }
        Ok(bar)
    }
}

impl Iterator for CsvBars {
    type Item = Result<Bar>;

    fn next(&mut self) -> Option<Result<Bar>> {
        if self.done {
            return None;
        }
        let line = self.rows + 2; // 1-based, after the header
        let outcome = match self.reader.read_record(&mut self.record) {
            Ok(true) => self.bar(line),
            Ok(false) if self.rows == 0 => {
                Err(Error::InvalidInput(format!("{}: no rows", self.shown)))
            }
            Ok(false) => {
                self.done = true;
                return None;
            }
            Err(err) => Err(csv_error(&self.shown, line, err, "")),
        };
        match &outcome {
            Ok(bar) => {
                self.previous = Some(bar.ts);
                self.rows += 1;
            }
            Err(_) => self.done = true,
        }
        Some(outcome)
    }
}

/// Every bar of a CSV file, read into memory (for files known to be small; an import streams).
pub fn read_csv(path: &Path) -> Result<Vec<Bar>> {
    CsvBars::open(path)?.collect()
}

/// An error of the csv parser at `line`, or the line-length limit's own message.
fn csv_error(shown: &str, line: usize, err: csv::Error, what: &str) -> Error {
    if let csv::ErrorKind::Io(io) = err.kind()
        && let Some(long) = io.get_ref().and_then(|e| e.downcast_ref::<LineTooLong>())
    {
        return Error::InvalidInput(format!("{shown}:{}: {long}", long.line));
    }
    let what = if what.is_empty() {
        String::new()
    } else {
        format!("{what}: ")
    };
    Error::InvalidInput(format!("{shown}:{line}: {what}{err}"))
}

/// At most [`SHOWN_CHARS`] characters of `text`, with control characters escaped (a line of NULs
/// would otherwise print nothing visible), and `…` when cut.
fn shorten(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(SHOWN_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(SHOWN_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

/// A reader that fails once a line grows past [`MAX_CSV_LINE_BYTES`], keeping the start of that
/// line for the message. Below the csv parser, because the parser buffers a whole record.
struct LineLimit<R> {
    inner: R,
    line: usize,
    length: usize,
    start: Vec<u8>,
}

impl<R> LineLimit<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            line: 1,
            length: 0,
            start: Vec::with_capacity(SHOWN_CHARS + 1),
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The read that crosses the limit fails as a whole, so the parser never holds a longer line.
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if byte == b'\n' {
                self.line += 1;
                self.length = 0;
                self.start.clear();
                continue;
            }
            self.length += 1;
            // One more than is shown, so that the message can say the line goes on.
            if self.start.len() <= SHOWN_CHARS {
                self.start.push(byte);
            }
            if self.length > MAX_CSV_LINE_BYTES {
                let long = LineTooLong {
                    line: self.line,
                    start: shorten(&String::from_utf8_lossy(&self.start)),
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, long));
            }
        }
        Ok(n)
    }
}

/// A line over [`MAX_CSV_LINE_BYTES`].
#[derive(Debug)]
struct LineTooLong {
    line: usize,
    start: String,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line is longer than {MAX_CSV_LINE_BYTES} bytes (the limit for one CSV line; is this \
             a CSV file?); it starts \"{}\"",
            self.start
        )
    }
}

impl std::error::Error for LineTooLong {}

fn parse_timestamp(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Ok(ts.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(ts.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| format!("timestamp {seconds} is out of range"));
    }
    Err(format!(
        "timestamp '{}' is not RFC 3339, 'YYYY-MM-DD HH:MM:SS', 'YYYY-MM-DD' or Unix seconds",
        shorten(text)
    ))
}
