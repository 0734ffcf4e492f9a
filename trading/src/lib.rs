//! # ktrdr-trading — the trading domain of ktrdr
//!
//! Everything ktrdr knows about markets, on top of the queue core (`ktrdr`), which knows none of it:
//! market data (bars in PostgreSQL, CSV import, synthetic series), technical indicators, strategy
//! files and their validation, features and labels (fuzzy memberships, ZigZag, chronological split,
//! scaler), the backtest engine and its metrics, and the job kinds of the trading operations
//! ([`kinds`]: `training` and `backtesting`, with their typed params and results). Pure Rust: the
//! neural network itself (tch/libtorch) lives in the worker, which is the only crate that links it.
//!
//! ```
//! use ktrdr_trading::{kinds::{self, Training}, strategy};
//! use ktrdr::job_kinds::JobKind;
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../strategies/rsi_macd_trend.yaml");
//! let strategy = strategy::parse_file(std::path::Path::new(path)).expect("a valid example");
//! let params = serde_json::to_value(kinds::TrainingParams::new(strategy)).unwrap();
//! assert!(kinds::ALL.validate(Training::NAME, &params).is_ok());
//! ```

pub mod backtest;
pub mod features;
pub mod indicators;
pub mod kinds;
pub mod market_data;
pub mod research;
pub mod strategy;

/// The library's errors are the core's: bad input, an unreachable database, a missing artifact.
pub use ktrdr::{Error, Result};
