//! Reading bars from CSV files as real sources write them: a header (see [`Layout`] for the names
//! understood) or none, `,` `;` or tab between fields (detected from the first line, or given),
//! timestamps in the forms of [`TimestampFormat`], an empty volume read as 0. Every row is checked —
//! finite numbers, OHLC consistency, strictly increasing timestamps — and the first bad row is
//! reported with its line; at the end, the bars' spacing is checked against the timeframe they are
//! imported under ([`SpacingTally`]).
//!
//! The file is streamed ([`CsvBars`] yields one bar at a time, hashing the bytes as they pass for
//! the source's SHA-256) and no line may be longer than [`MAX_CSV_LINE_BYTES`], so reading takes the
//! same small memory whatever the file's size — even for a file that never ends a line, such as
//! `/dev/zero`: the csv parser would otherwise grow one record without bound.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Cursor, Read},
    path::Path,
};

use chrono::{DateTime, Utc};

use crate::{
    Error, Result,
    market_data::{
        Bar, Source, Timeframe,
        csv_layout::{Layout, TimestampFields},
        source::Hashing,
        spacing::SpacingTally,
        timestamps::{EpochUnit, TimestampFormat},
    },
};

/// The longest CSV line accepted, newline excluded (64 KiB: a bar's line is well under 200 bytes).
pub const MAX_CSV_LINE_BYTES: usize = 64 * 1024;

/// How much of a bad line or header an error message shows.
const SHOWN_CHARS: usize = 100;

/// How to read a file, where it is not detected.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// The field separator; detected from the first line when `None`.
    pub delimiter: Option<u8>,
    /// The fields' names in order, for a file without a header.
    pub columns: Option<Vec<String>>,
    /// The timeframe the bars must be spaced by; not checked when `None`.
    pub timeframe: Option<Timeframe>,
}

/// The bytes below the csv parser: the first line (already read, to detect the delimiter) and the
/// rest of the file, hashed as read, under the line-length limit.
type Input = LineLimit<io::Chain<Cursor<Vec<u8>>, BufReader<Hashing<File>>>>;

/// The bars of a CSV file, read one row at a time; the first bad row (or a file without rows) ends
/// the stream with an error.
pub struct CsvBars {
    shown: String,
    file_name: String,
    reader: csv::Reader<Input>,
    record: csv::StringRecord,
    layout: Layout,
    /// The first row's bar, when the file has no header (read to detect the layout).
    pending: Option<csv::StringRecord>,
    /// The format of the last row's timestamp, tried first on the next.
    format: Option<TimestampFormat>,
    /// Every timestamp format met, in words.
    formats: Vec<String>,
    /// The unit of the first integer timestamp, which all later ones must share.
    epoch_unit: Option<EpochUnit>,
    delimiter: u8,
    timeframe: Option<Timeframe>,
    spacing: SpacingTally,
    previous: Option<DateTime<Utc>>,
    /// Lines consumed so far (the header included).
    lines: usize,
    rows: usize,
    done: bool,
}

impl CsvBars {
    /// Opens `path` with everything detected and no spacing check.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &CsvOptions::default())
    }

    /// Opens `path` and reads its first line: the header, or the first bar.
    pub fn open_with(path: &Path, options: &CsvOptions) -> Result<Self> {
        let shown = path.display().to_string();
        let file = File::open(path)
            .map_err(|err| Error::InvalidInput(format!("cannot read {shown}: {err}")))?;
        let mut rest = BufReader::new(Hashing::new(file));
        let first = first_line(&mut rest).map_err(|err| match err.get_ref() {
            Some(long) => Error::InvalidInput(format!("{shown}:1: {long}")),
            None => Error::InvalidInput(format!("cannot read {shown}: {err}")),
        })?;
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| detect_delimiter(&first));
        // The csv reader buffers what it reads itself.
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .has_headers(false)
            .delimiter(delimiter)
            .from_reader(LineLimit::new(Cursor::new(first).chain(rest)));
        let mut record = csv::StringRecord::new();
        let has_first = reader
            .read_record(&mut record)
            .map_err(|err| csv_error(&shown, 1, err, "cannot read the first line"))?;
        if !has_first {
            return Err(Error::InvalidInput(format!("{shown}: no rows")));
        }
        let in_file = |why: String| Error::InvalidInput(format!("{shown}: {why}"));
        let layout = match &options.columns {
            Some(names) => Layout::from_names(names.iter().map(String::as_str), false),
            None => Layout::detect(&record),
        }
        .map_err(in_file)?;
        let pending = (!layout.header).then(|| record.clone());
        Ok(Self {
            file_name: path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| shown.clone()),
            shown,
            reader,
            record,
            layout,
            pending,
            format: None,
            formats: Vec::new(),
            epoch_unit: None,
            delimiter,
            timeframe: options.timeframe,
            spacing: SpacingTally::default(),
            previous: None,
            lines: 1,
            rows: 0,
            done: false,
        })
    }

    /// What was detected or assumed about the file, in words (delimiter, header, timestamps).
    pub fn notes(&self) -> Vec<String> {
        let delimiter = match self.delimiter {
            b'\t' => "tab".to_string(),
            other => format!("'{}'", other as char),
        };
        let mut notes = vec![format!("fields separated by {delimiter}")];
        notes.extend(self.layout.notes.iter().cloned());
        if !self.formats.is_empty() {
            notes.push(format!("timestamps read as {}", self.formats.join(", ")));
        }
        notes
    }

    /// The file as a source: its name and SHA-256. The hash covers the whole file once the stream
    /// has ended.
    pub fn source(&self) -> Source {
        Source::File {
            file_name: self.file_name.clone(),
            sha256: self.reader.get_ref().inner.get_ref().1.get_ref().sha256(),
        }
    }

    /// The timestamp of the record just read.
    fn timestamp(
        &mut self,
        record: &csv::StringRecord,
    ) -> std::result::Result<DateTime<Utc>, String> {
        let field = |col: usize| record.get(col).unwrap_or("");
        let joined;
        let text = match self.layout.timestamp {
            TimestampFields::One(col) => field(col),
            TimestampFields::DateAndTime(date, time) => {
                joined = format!("{} {}", field(date), field(time));
                &joined
            }
        };
        if let Some(format) = &self.format {
            let parsed = format.parse(text);
            // Integers stay in the unit the first one implied: a later one that fits another unit
            // only is an error, not a second guess.
            if parsed.is_ok() || matches!(format, TimestampFormat::Epoch(_)) && is_integer(text) {
                return parsed;
            }
        }
        // The first row, or a row written differently from the one before: read it as it is.
        let format = TimestampFormat::detect(text)?;
        if let TimestampFormat::Epoch(unit) = format {
            match self.epoch_unit {
                Some(earlier) if earlier != unit => {
                    return Err(format!(
                        "timestamp {text} would be Unix {unit} but earlier rows are Unix {earlier}"
                    ));
                }
                _ => self.epoch_unit = Some(unit),
            }
        }
        let parsed = format.parse(text);
        if !self.formats.contains(&format.describe()) {
            self.formats.push(format.describe());
        }
        self.format = Some(format);
        parsed
    }

    /// The bar of `record` (at `line`), checked.
    fn bar(&mut self, record: &csv::StringRecord, line: usize) -> Result<Bar> {
        let shown = self.shown.clone();
        let bad = move |why: String| Error::InvalidInput(format!("{shown}:{line}: {why}"));
        let ts = self.timestamp(record).map_err(&bad)?;
        let field = |col: usize| record.get(col).unwrap_or("");
        let number = |col: usize, name: &str| -> Result<f64> {
            field(col)
                .parse::<f64>()
                .map_err(|_| bad(format!("{name} '{}' is not a number", shorten(field(col)))))
        };
        let [open, high, low, close] = self.layout.prices;
        let bar = Bar {
            ts,
            open: number(open, "open")?,
            high: number(high, "high")?,
            low: number(low, "low")?,
            close: number(close, "close")?,
            volume: match self.layout.volume {
                Some(col) if !field(col).is_empty() => number(col, "volume")?,
                _ => 0.0,
            },
        };
        if let Some(why) = bar.inconsistency() {
            return Err(bad(why));
        }
        if let Some(previous) = self.previous {
            if bar.ts <= previous {
                return Err(bad(format!(
                    "timestamp {} is not after the previous row's {} (timestamps must increase)",
                    bar.ts.to_rfc3339(),
                    previous.to_rfc3339()
                )));
            }
            self.spacing.add((bar.ts - previous).num_seconds());
        }
        Ok(bar)
    }

    /// The end of the file: the spacing check, or the complaint about a file without bars.
    fn end(&self) -> Option<Result<Bar>> {
        if self.rows == 0 {
            return Some(Err(Error::InvalidInput(format!("{}: no rows", self.shown))));
        }
        let why = self.spacing.contradiction(self.timeframe?)?;
        Some(Err(Error::InvalidInput(format!("{}: {why}", self.shown))))
    }
}

impl Iterator for CsvBars {
    type Item = Result<Bar>;

    fn next(&mut self) -> Option<Result<Bar>> {
        if self.done {
            return None;
        }
        let outcome = match self.pending.take() {
            Some(first) => self.bar(&first, 1),
            None => {
                let line = self.lines + 1;
                let mut record = std::mem::take(&mut self.record);
                let outcome = match self.reader.read_record(&mut record) {
                    Ok(true) => {
                        self.lines += 1;
                        self.bar(&record, line)
                    }
                    Ok(false) => {
                        self.done = true;
                        return self.end();
                    }
                    Err(err) => Err(csv_error(&self.shown, line, err, "")),
                };
                self.record = record;
                outcome
            }
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

fn is_integer(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The first line of `input` with its newline, refused past [`MAX_CSV_LINE_BYTES`].
fn first_line(input: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    input
        .by_ref()
        .take(MAX_CSV_LINE_BYTES as u64 + 2)
        .read_until(b'\n', &mut line)?;
    let length = line.strip_suffix(b"\n").unwrap_or(&line).len();
    let length = if line.ends_with(b"\r\n") {
        length - 1
    } else {
        length
    };
    if length > MAX_CSV_LINE_BYTES {
        let long = LineTooLong {
            line: 1,
            start: shorten(&String::from_utf8_lossy(&line[..SHOWN_CHARS + 1])),
        };
        return Err(io::Error::new(io::ErrorKind::InvalidData, long));
    }
    // A UTF-8 byte-order mark (spreadsheet exports) is not part of the first column's name.
    if line.starts_with(b"\xEF\xBB\xBF") {
        line.drain(..3);
    }
    Ok(line)
}

/// The separator the first line uses most: tab, `;` or `,` (ties in that order; `,` when none).
fn detect_delimiter(first: &[u8]) -> u8 {
    let count = |d: u8| first.iter().filter(|&&b| b == d).count();
    [b'\t', b';', b',']
        .into_iter()
        .max_by_key(|&d| (count(d), d == b'\t', d == b';'))
        .filter(|&d| count(d) > 0)
        .unwrap_or(b',')
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
pub(crate) fn shorten(text: &str) -> String {
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
