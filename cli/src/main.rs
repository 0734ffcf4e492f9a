//! `ktrdr`: the command-line interface to a ktrdr database (see `ktrdr --help`).
//!
//! Thin over the `ktrdr` library: each command is one module under `commands/`, tables for people,
//! `--json` for scripts, and every error is one line on stderr with a non-zero exit — a JSON
//! object when the command was given `--json` (see `errors`).

mod commands;
mod errors;
mod follow;
mod output;
mod report;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{
    agent, backtest, checkpoints, completions, data, db, health, migrate, models, ops, results,
    ticker, train, validate, workers,
};

/// ktrdr: PostgreSQL-coordinated jobs for training and backtesting trading models.
///
/// With no DATABASE_URL, a project-local PostgreSQL cluster under .ktrdr/ is used (started on demand).
#[derive(Debug, Parser)]
#[command(name = "ktrdr", version, propagate_version = true)]
struct Cli {
    /// Do not apply migrations before running the command.
    #[arg(long, global = true)]
    no_migrate: bool,
    /// The PostgreSQL server to use, instead of DATABASE_URL (or the embedded cluster).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage the embedded (project-local) PostgreSQL cluster.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Apply schema migrations and (re)install the SQL functions and views.
    Migrate(migrate::MigrateArgs),
    /// Submit, list, inspect and cancel operations.
    #[command(subcommand)]
    Ops(ops::OpsCommand),
    /// Show one operation (same as `ops show`).
    Status(ops::ShowArgs),
    /// Cancel an operation (same as `ops cancel`).
    Cancel(ops::CancelArgs),
    /// Resume an operation from its checkpoint (same as `ops resume`).
    Resume(ops::ResumeArgs),
    /// List registered workers.
    Workers(output::JsonArgs),
    /// Market data: import a CSV, generate synthetic bars, list what is loaded.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a strategy's model (submits a `training` operation).
    Train(train::TrainArgs),
    /// Backtest a trained model (submits a `backtesting` operation).
    Backtest(backtest::BacktestArgs),
    /// Results of a training or backtest: metrics, history, trades.
    Results(results::ResultsArgs),
    /// Trained models: export one as safetensors + JSON, to run without ktrdr.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Checkpoints: list, show, delete, stats, cleanup.
    #[command(subcommand)]
    Checkpoints(checkpoints::CheckpointsCommand),
    /// Check a strategy file: every problem with its key path and line.
    Validate(validate::ValidateArgs),
    /// Orphan detector, workers and queue depth.
    Health(output::JsonArgs),
    /// Run the maintenance ticker (orphan detection, reconciliation) without a worker.
    Ticker(ticker::TickerArgs),
    /// Print a shell completion script: `source <(ktrdr completions bash)`.
    Completions(completions::CompletionsArgs),
    /// Serve the HTTP API (/api/v1; docs at /api/v1/docs).
    Serve(serve::ServeArgs),
    /// The research agent: trigger, follow and cancel researches, and read their history.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    ktrdr::config::load_dotenv();
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(err) => return errors::usage_error(err),
    };
    let json_errors = errors::json_requested(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return errors::usage_error(err),
    };
    if let Some(url) = &cli.database_url {
        // SAFETY: no other thread exists yet (the runtime is built below), so nothing reads the
        // environment while it changes. The library reads the server from DATABASE_URL.
        unsafe { std::env::set_var("DATABASE_URL", url) };
    }
    // The ticker is a service: its info lines (leadership, orphans detected) are what it is for.
    let default_filter = match cli.command {
        Command::Ticker(_) => "info,sqlx=warn,refinery_core=warn",
        _ => "warn",
    };
    if let Err(err) = ktrdr::logging::init(default_filter) {
        return errors::exit_code(Err(err.into()), json_errors);
    }
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    errors::exit_code(outcome, json_errors)
}

/// `ktrdr ops list | head` should end quietly when `head` exits, like other Unix tools, instead of
/// panicking on the broken pipe (Rust ignores SIGPIPE by default).
fn restore_default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition, and nothing in this program installs its own SIGPIPE handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let migrate_first = !cli.no_migrate;
    match cli.command {
        Command::Db(command) => db::run(command, migrate_first).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Ops(command) => ops::run(command, migrate_first).await,
        Command::Status(args) => ops::run(ops::OpsCommand::Show(args), migrate_first).await,
        Command::Cancel(args) => ops::run(ops::OpsCommand::Cancel(args), migrate_first).await,
        Command::Resume(args) => ops::run(ops::OpsCommand::Resume(args), migrate_first).await,
        Command::Workers(args) => workers::run(args, migrate_first).await,
        Command::Data(command) => data::run(command, migrate_first).await,
        Command::Validate(args) => validate::run(args),
        Command::Train(args) => train::run(args, migrate_first).await,
        Command::Backtest(args) => backtest::run(args, migrate_first).await,
        Command::Results(args) => results::run(args, migrate_first).await,
        Command::Models(command) => models::run(command, migrate_first).await,
        Command::Checkpoints(command) => checkpoints::run(command, migrate_first).await,
        Command::Health(args) => health::run(args, migrate_first).await,
        Command::Ticker(args) => ticker::run(args, migrate_first).await,
        Command::Completions(args) => {
            completions::run(args, Cli::command());
            Ok(())
        }
        Command::Serve(args) => serve::run(args, migrate_first).await,
        Command::Agent(command) => agent::run(command, migrate_first).await,
    }
}
