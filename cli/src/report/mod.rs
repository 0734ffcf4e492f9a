//! Pictures of results, drawn by ktrdr itself so they work offline: a sparkline for the terminal
//! ([`sparkline`]), and a self-contained HTML page of inline SVG charts ([`html`], built from
//! [`chart`]) — no script, no stylesheet or font from elsewhere, nothing fetched.

pub mod chart;
pub mod html;
pub mod sparkline;
