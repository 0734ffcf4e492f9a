//! A line chart as inline SVG. The `<svg>` carries its scales as data attributes — the plot area in
//! pixels (`data-left`, `data-right`, `data-top`, `data-bottom`) and the values at its edges
//! (`data-x-min` …) — so a test, or a reader, can turn every drawn coordinate back into the number
//! it shows: `value = y_min + (bottom − y) / (bottom − top) · (y_max − y_min)`.

use std::fmt::Write;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 880.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 240.0;

/// One line: its name (the `data-series` attribute), colour and `(x, y)` points.
pub struct Line {
    pub name: &'static str,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A marker at `(x, y)`: a trade's entry (`▲` long, `▼` short) or exit (`●`).
pub struct Marker {
    pub kind: MarkerKind,
    pub x: f64,
    pub y: f64,
}

#[derive(Clone, Copy)]
pub enum MarkerKind {
    LongEntry,
    ShortEntry,
    Exit,
}

pub struct Chart {
    pub title: String,
    pub lines: Vec<Line>,
    pub markers: Vec<Marker>,
    /// How to label an x value (a date, an epoch number).
    pub x_label: fn(f64) -> String,
    /// How to label a y value.
    pub y_label: fn(f64) -> String,
}

/// `[min, max]` of `values`, widened to a non-empty interval.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !min.is_finite() {
        (0.0, 1.0)
    } else if max > min {
        (min, max)
    } else {
        (min - 0.5, max + 0.5)
    }
}

impl Chart {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let points = || self.lines.iter().flat_map(|line| line.points.iter());
        let (x_min, x_max) = bounds(points().map(|p| p.0));
        let (y_min, y_max) = bounds(points().map(|p| p.1));
        let px = |x: f64| LEFT + (x - x_min) / (x_max - x_min) * (RIGHT - LEFT);
        let py = |y: f64| BOTTOM - (y - y_min) / (y_max - y_min) * (BOTTOM - TOP);

        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" data-left="{LEFT}" data-right="{RIGHT}" data-top="{TOP}" data-bottom="{BOTTOM}" data-x-min="{x_min:e}" data-x-max="{x_max:e}" data-y-min="{y_min:e}" data-y-max="{y_max:e}">"#
        );
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="18" class="title">{}</text>"#,
            super::html::escape(&self.title)
        );
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#bbb"/>"##,
            RIGHT - LEFT,
            BOTTOM - TOP
        );
        for i in 0..=4 {
            let fraction = f64::from(i) / 4.0;
            let (y, x) = (
                y_min + fraction * (y_max - y_min),
                x_min + fraction * (x_max - x_min),
            );
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" x2="{RIGHT}" y1="{0:.3}" y2="{0:.3}" stroke="#eee"/><text x="{1}" y="{2:.3}" class="axis" text-anchor="end">{3}</text>"##,
                py(y),
                LEFT - 6.0,
                py(y) + 4.0,
                super::html::escape(&(self.y_label)(y))
            );
            // The last label ends at the plot's edge rather than running past the picture.
            let anchor = if i == 4 { "end" } else { "middle" };
            let _ = write!(
                svg,
                r#"<text x="{:.3}" y="{}" class="axis" text-anchor="{anchor}">{}</text>"#,
                px(x),
                BOTTOM + 18.0,
                super::html::escape(&(self.x_label)(x))
            );
        }
        for line in &self.lines {
            let coordinates: Vec<String> = line
                .points
                .iter()
                .map(|&(x, y)| format!("{:.3},{:.3}", px(x), py(y)))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline data-series="{}" fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
                line.name,
                line.color,
                coordinates.join(" ")
            );
        }
        for (i, line) in self.lines.iter().enumerate() {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" class="legend" fill="{}">— {}</text>"#,
                RIGHT - 160.0 * (self.lines.len() - i) as f64,
                HEIGHT - 10.0,
                line.color,
                line.name
            );
        }
        if !self.markers.is_empty() {
            svg.push_str(r#"<g class="trades">"#);
            for marker in &self.markers {
                let (x, y) = (px(marker.x), py(marker.y));
                let _ = match marker.kind {
                    MarkerKind::LongEntry => write!(
                        svg,
                        r##"<path data-trade="long-entry" d="M{x:.3},{:.3} l5,9 h-10 z" fill="#1a7f37"/>"##,
                        y - 3.0
                    ),
                    MarkerKind::ShortEntry => write!(
                        svg,
                        r##"<path data-trade="short-entry" d="M{x:.3},{:.3} l5,-9 h-10 z" fill="#cf222e"/>"##,
                        y + 3.0
                    ),
                    MarkerKind::Exit => write!(
                        svg,
                        r##"<circle data-trade="exit" cx="{x:.3}" cy="{y:.3}" r="3" fill="none" stroke="#444"/>"##
                    ),
                };
            }
            svg.push_str("</g>");
        }
        svg.push_str("</svg>");
        svg
    }
}
