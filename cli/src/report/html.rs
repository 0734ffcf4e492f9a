//! `ktrdr results <id> --html FILE`: one self-contained page — inline CSS and SVG, no script, no
//! external asset — that opens offline. A backtest shows its equity (with trade entries and exits)
//! and drawdown over time; a training its losses and validation accuracy per epoch; both with their
//! summary, warnings and reproducibility block.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use ktrdr_trading::{
    backtest::Side,
    features::LABEL_NAMES,
    kinds::{BacktestResult, Reproducibility, TrainingResult, WindowSource},
};

use super::chart::{Chart, Line, Marker, MarkerKind};

/// `text` with `&`, `<`, `>` and `"` escaped, for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}.warning{color:#9a6700;font-weight:bold}.in-sample{color:#cf222e;font-weight:bold}\
.title{font-size:14px;font-weight:bold}.axis{font-size:11px;fill:#555}.legend{font-size:12px}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1>{body}</body></html>\n",
        escape(title),
        escape(title)
    )
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><tr>");
    for header in headers {
        let _ = write!(html, "<th>{}</th>", escape(header));
    }
    html.push_str("</tr>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{}</td>", escape(cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

fn warnings(list: &[String]) -> String {
    list.iter()
        .map(|w| format!("<p class=\"warning\">warning: {}</p>", escape(w)))
        .collect()
}

fn reproducibility(r: Option<&Reproducibility>) -> String {
    let Some(r) = r else {
        return "<p>Reproducibility: not recorded (a result from before ktrdr recorded it).</p>"
            .into();
    };
    let rows = [
        ("ktrdr version", r.ktrdr_version.clone()),
        ("git commit", r.git_commit.clone()),
        ("libtorch", r.libtorch_version.clone()),
        ("threads", r.threads.to_string()),
        ("device", r.device.clone()),
        ("bars", r.bars.to_string()),
        ("bars SHA-256", r.bars_sha256.clone()),
        ("seed", r.seed.to_string()),
    ];
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(k, v)| vec![k.into(), v]).collect();
    format!("<h2>Reproducibility</h2>{}", table(&["", ""], &rows))
}

fn day(x: f64) -> String {
    DateTime::<Utc>::from_timestamp(x as i64, 0)
        .map_or_else(String::new, |ts| ts.format("%Y-%m-%d").to_string())
}

fn seconds(ts: DateTime<Utc>) -> f64 {
    ts.timestamp() as f64 + f64::from(ts.timestamp_subsec_micros()) / 1e6
}

/// The equity of a sampled curve at `x`, interpolated between its samples (clamped at the ends).
fn equity_at(curve: &[(f64, f64)], x: f64) -> f64 {
    let after = curve.partition_point(|&(cx, _)| cx < x);
    match (after.checked_sub(1).map(|i| curve[i]), curve.get(after)) {
        (Some((x0, y0)), Some(&(x1, y1))) if x1 > x0 => y0 + (y1 - y0) * (x - x0) / (x1 - x0),
        (_, Some(&(_, y))) | (Some((_, y)), None) => y,
        (None, None) => 0.0,
    }
}

pub fn backtest_page(id: &str, result: &BacktestResult) -> String {
    let m = &result.metrics;
    let percent = |v: f64| format!("{:.2}%", v * 100.0);
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>{} — model {} — {} {} — {} bars{}</p>",
        escape(&result.strategy),
        escape(&result.model),
        escape(&result.symbol),
        result.timeframe,
        m.bars,
        result
            .window
            .map(|w| format!(", {}", escape(&w.to_string())))
            .unwrap_or_default()
    );
    body.push_str(&match (result.window_source, result.in_sample) {
        (None, _) => "<p>Sample: not recorded (a result from before ktrdr checked it).</p>".into(),
        (_, true) => format!(
            "<p class=\"in-sample\">IN SAMPLE: {} bars in the model's training period, {} in its \
             validation period.</p>",
            result.overlap.train, result.overlap.validation
        ),
        (Some(WindowSource::TestPeriod), false) => {
            "<p>Out of sample: the model's test period.</p>".into()
        }
        (Some(_), false) => "<p>Out of sample: no bar of the model's training or validation \
                             period.</p>"
            .into(),
    });
    body.push_str(&warnings(&result.warnings));

    let curve: Vec<(f64, f64)> = m
        .equity_curve
        .iter()
        .map(|p| (seconds(p.ts), p.equity))
        .collect();
    let mut markers = Vec::new();
    for trade in &m.trade_list {
        let entry = seconds(trade.entry_time);
        let exit = seconds(trade.exit_time);
        let kind = match trade.side {
            Side::Long => MarkerKind::LongEntry,
            Side::Short => MarkerKind::ShortEntry,
        };
        markers.push(Marker {
            kind,
            x: entry,
            y: equity_at(&curve, entry),
        });
        markers.push(Marker {
            kind: MarkerKind::Exit,
            x: exit,
            y: equity_at(&curve, exit),
        });
    }
    let mut peak = m.initial_capital;
    let drawdown: Vec<(f64, f64)> = curve
        .iter()
        .map(|&(x, equity)| {
            peak = peak.max(equity);
            (x, -(peak - equity) / peak)
        })
        .collect();
    body.push_str(
        &Chart {
            title: "Equity (▲ long entry, ▼ short entry, ○ exit)".into(),
            lines: vec![Line {
                name: "equity",
                color: "#0969da",
                points: curve,
            }],
            markers,
            x_label: day,
            y_label: |y| format!("{y:.0}"),
        }
        .svg(),
    );
    body.push_str(
        &Chart {
            title: "Drawdown (of the sampled equity curve)".into(),
            lines: vec![Line {
                name: "drawdown",
                color: "#cf222e",
                points: drawdown,
            }],
            markers: Vec::new(),
            x_label: day,
            y_label: |y| format!("{:.1}%", y * 100.0),
        }
        .svg(),
    );
    let rows: Vec<Vec<String>> = [
        ("total return", percent(m.total_return)),
        ("buy and hold", percent(m.buy_and_hold_return)),
        ("annualized return", percent(m.annualized_return)),
        ("volatility", percent(m.volatility)),
        ("sharpe", format!("{:.2}", m.sharpe)),
        ("sortino", format!("{:.2}", m.sortino)),
        ("max drawdown", percent(m.max_drawdown)),
        (
            "max drawdown duration",
            format!(
                "{} bars ({:.1} days)",
                m.max_drawdown_duration_bars, m.max_drawdown_duration_days
            ),
        ),
        ("trades", m.trades.to_string()),
        ("win rate", percent(m.win_rate)),
        ("expectancy", format!("{:.2}", m.expectancy)),
        ("SQN", format!("{:.2}", m.sqn)),
        ("exposure", percent(m.exposure)),
        ("periods per year", format!("{:.1}", m.periods_per_year)),
        ("warm-up bars", result.warmup_bars.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| vec![k.to_string(), v])
    .collect();
    body.push_str(&table(&["metric", "value"], &rows));
    body.push_str(&reproducibility(result.reproducibility.as_ref()));
    page(&format!("Backtest {id}"), &body)
}

pub fn training_page(id: &str, result: &TrainingResult) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>{} — {} {} — {} epochs (best {}) — test accuracy {:.3}{}</p>",
        escape(&result.strategy),
        escape(&result.symbol),
        result.timeframe,
        result.epochs_run,
        result.best_epoch,
        result.test_accuracy,
        match (result.baseline_accuracy, &result.baseline_class) {
            (Some(b), Some(class)) => format!(", baseline {b:.3} (always {})", escape(class)),
            _ => String::new(),
        }
    );
    body.push_str(&warnings(&result.warnings));
    let epochs = |f: fn(&ktrdr_trading::kinds::EpochRecord) -> f64| {
        result
            .history
            .iter()
            .map(|e| (e.epoch as f64, f(e)))
            .collect::<Vec<_>>()
    };
    body.push_str(
        &Chart {
            title: "Loss per epoch".into(),
            lines: vec![
                Line {
                    name: "train_loss",
                    color: "#0969da",
                    points: epochs(|e| e.train_loss),
                },
                Line {
                    name: "val_loss",
                    color: "#cf222e",
                    points: epochs(|e| e.val_loss),
                },
            ],
            markers: Vec::new(),
            x_label: |x| format!("{x:.0}"),
            y_label: |y| format!("{y:.3}"),
        }
        .svg(),
    );
    body.push_str(
        &Chart {
            title: "Validation accuracy per epoch".into(),
            lines: vec![Line {
                name: "val_accuracy",
                color: "#1a7f37",
                points: epochs(|e| e.val_accuracy),
            }],
            markers: Vec::new(),
            x_label: |x| format!("{x:.0}"),
            y_label: |y| format!("{y:.3}"),
        }
        .svg(),
    );
    let option = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
    let rows: Vec<Vec<String>> = LABEL_NAMES
        .iter()
        .zip(&result.confusion_matrix)
        .map(|(class, row)| {
            let mut cells = vec![class.to_string()];
            cells.extend(row.iter().map(u64::to_string));
            let metrics = result.class_metrics.get(*class);
            cells.push(option(metrics.and_then(|m| m.precision)));
            cells.push(option(metrics.and_then(|m| m.recall)));
            cells.push(option(metrics.and_then(|m| m.f1)));
            cells
        })
        .collect();
    body.push_str(&table(
        &[
            "true \\ predicted",
            LABEL_NAMES[0],
            LABEL_NAMES[1],
            LABEL_NAMES[2],
            "precision",
            "recall",
            "F1",
        ],
        &rows,
    ));
    if let Some(split) = result.split {
        let rows = [
            ("train", split.train, result.bars.train),
            ("validation", split.validation, result.bars.validation),
            ("test", split.test, result.bars.test),
        ]
        .map(|(part, range, rows)| vec![part.to_string(), range.to_string(), rows.to_string()]);
        body.push_str(&table(&["part", "period", "rows"], &rows));
    }
    body.push_str(&reproducibility(result.reproducibility.as_ref()));
    page(&format!("Training {id}"), &body)
}
