//! `ktrdr validate <strategy.yaml>`: every problem with its key path and line, or a summary.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::output;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Strategy file.
    file: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let shown = args.file.display();
    match ktrdr_trading::strategy::parse_file(&args.file) {
        Ok(strategy) => {
            if args.json {
                return output::print_json(&json!({ "valid": true, "strategy": strategy }));
            }
            let inputs = strategy.feature_count();
            println!(
                "{shown}: valid — {} v{}: {} indicators, {} fuzzy-set groups, {inputs} network inputs, {} {}",
                strategy.name,
                strategy.version,
                strategy.indicators.len(),
                strategy.fuzzy_sets.len(),
                strategy.training_data.symbol,
                strategy.training_data.timeframe
            );
            Ok(())
        }
        Err(problems) => {
            if args.json {
                output::print_json(&json!({ "valid": false, "problems": problems }))?;
            } else {
                for problem in &problems {
                    eprintln!("{shown}: {problem}");
                }
            }
            anyhow::bail!("{shown}: {} problem(s)", problems.len())
        }
    }
}
