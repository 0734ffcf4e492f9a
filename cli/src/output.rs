//! Rendering for people (tables, durations, uppercase statuses) and for scripts (`--json`).

use chrono::{DateTime, Utc};
use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

/// The arguments of a command that only prints: `--json` for scripts, tables otherwise.
#[derive(Debug, clap::Args)]
pub struct JsonArgs {
    #[arg(long)]
    pub json: bool,
}

pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A table with `headers`, fitted to the terminal — except its id columns (headers ending in
/// `ID`), which are never wrapped: an id is copied and pasted whole.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().copied());
    for (index, header) in headers.iter().enumerate() {
        if header.ends_with("ID")
            && let Some(column) = table.column_mut(index)
        {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    table
}

/// `2026-11-25 11:42:07` in UTC, or `-`.
pub fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A size for people: bytes, KiB or MiB.
pub fn bytes(n: i64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1_048_576 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / 1_048_576.0)
    }
}

/// `1h02m`, `3m07s`, `12.4s`, `85ms`.
pub fn duration(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> String {
    let Some(from) = from else {
        return "-".into();
    };
    let millis = (to.unwrap_or_else(Utc::now) - from)
        .num_milliseconds()
        .max(0);
    let secs = millis / 1000;
    match secs {
        0 => format!("{millis}ms"),
        1..60 => format!("{:.1}s", millis as f64 / 1000.0),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::{duration, table};

    #[test]
    fn durations_read_naturally() {
        let start = Utc::now();
        let after = |ms| Some(start + Duration::milliseconds(ms));
        assert_eq!(duration(Some(start), after(85)), "85ms");
        assert_eq!(duration(Some(start), after(12_400)), "12.4s");
        assert_eq!(duration(Some(start), after(187_000)), "3m07s");
        assert_eq!(duration(Some(start), after(3_720_000)), "1h02m");
        assert_eq!(duration(None, after(5)), "-");
    }

    #[test]
    fn id_columns_are_never_wrapped() {
        let id = "op_training_20261202_142000_0123abcd";
        let mut rows = table(&["OPERATION ID", "MESSAGE"]);
        rows.add_row(vec![
            id,
            "a long message that has to wrap to fit the narrow width",
        ]);
        rows.set_width(60);
        let rendered = rows.to_string();
        assert!(rendered.contains(id), "{rendered}");
        // The message column did wrap: the table really was narrowed.
        assert!(rendered.lines().count() > 5, "{rendered}");

        let mut plain = table(&["OPERATION", "MESSAGE"]);
        plain.add_row(vec![
            id,
            "a long message that has to wrap to fit the narrow width",
        ]);
        plain.set_width(30);
        assert!(
            !plain.to_string().contains(id),
            "without the constraint an id would wrap"
        );
    }
}
