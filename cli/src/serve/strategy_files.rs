//! The strategy files a start request may name: only files under the strategies directory
//! (`KTRDR_STRATEGIES_DIR`, default `strategies/` of the server's working directory), so a client
//! cannot make the server read any other file. `strategy_path` may be given as the file's name
//! (`rsi_macd_trend.yaml`) or as a path under that directory (`strategies/rsi_macd_trend.yaml`).

use std::path::{Path, PathBuf};

use ktrdr_trading::strategy::Strategy;

use super::envelope::{ApiError, FieldError};

/// The directory start requests' strategies are read from.
pub fn strategies_dir() -> PathBuf {
    std::env::var_os("KTRDR_STRATEGIES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("strategies"))
}

/// Loads and validates the strategy `given` names; a refusal is a 422 at `body.strategy_path`.
pub fn load(given: &str) -> Result<Strategy, ApiError> {
    let invalid = |message: String| ApiError::invalid("body.strategy_path", message);
    let dir = strategies_dir();
    let root = dir.canonicalize().map_err(|_| {
        invalid(format!(
            "the server has no strategies directory ({}; set KTRDR_STRATEGIES_DIR)",
            dir.display()
        ))
    })?;
    let candidates = [Path::new(given).to_path_buf(), dir.join(given)];
    let found = candidates
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .find(|path| path.starts_with(&root) && path.is_file())
        .ok_or_else(|| {
            invalid(format!(
                "no strategy file '{given}' under the strategies directory {}",
                dir.display()
            ))
        })?;
    // Each problem on its own, named by the path the client gave (not the server's own).
    ktrdr_trading::strategy::parse_file(&found).map_err(|problems| {
        ApiError::validation(
            problems
                .iter()
                .map(|problem| FieldError {
                    path: "body.strategy_path".into(),
                    message: format!("{given}: {problem}"),
                })
                .collect(),
        )
    })
}
