//! How `ktrdr` reports a failure: one line on stderr and a non-zero exit status — `error: …` for
//! people, or, when the command was given `--json`, one JSON object
//! `{"error": {"code": "NOT_FOUND", "message": "…"}}` so that scripts parse failures the way
//! they parse results. `code` is the library's [`ktrdr::Error::code`] (`USAGE` for a command line
//! clap refused, `ERROR` for anything else).

use std::process::ExitCode;

use clap::{ArgMatches, error::ErrorKind};
use serde_json::json;

/// True when the command line asked for `--json` at any level (`ktrdr ops show ID --json`).
pub fn json_requested(matches: &ArgMatches) -> bool {
    let mut level = Some(matches);
    while let Some(matches) = level {
        if let Ok(Some(true)) = matches.try_get_one::<bool>("json") {
            return true;
        }
        level = matches.subcommand().map(|(_, sub)| sub);
    }
    false
}

/// The exit of a command line clap refused (or of `--help`/`--version`, which are not errors).
pub fn usage_error(err: clap::Error) -> ExitCode {
    let informational = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    // Before parsing succeeded nothing says which flags were given; a literal `--json` argument
    // is what asked for JSON.
    if !informational && std::env::args_os().any(|arg| arg == "--json") {
        let text = err.to_string();
        let first_line = text.lines().next().unwrap_or_default();
        let rendered = first_line.trim_start_matches("error: ");
        print_json_error("USAGE", rendered);
        return ExitCode::from(2);
    }
    let _ = err.print();
    ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
}

/// The exit of a command that ran.
pub fn exit_code(outcome: anyhow::Result<()>, as_json: bool) -> ExitCode {
    let Err(err) = outcome else {
        return ExitCode::SUCCESS;
    };
    if as_json {
        let code = err
            .downcast_ref::<ktrdr::Error>()
            .map_or("ERROR", ktrdr::Error::code);
        print_json_error(code, &format!("{err:#}"));
    } else {
        eprintln!("error: {err:#}");
    }
    ExitCode::FAILURE
}

fn print_json_error(code: &str, message: &str) {
    eprintln!(
        "{}",
        json!({ "error": { "code": code, "message": message } })
    );
}
