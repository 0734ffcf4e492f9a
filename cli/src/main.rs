//! `ktrdr`: the command-line interface to a ktrdr database (see `ktrdr --help`).
//!
//! Thin over the `ktrdr` library: each command is one module under `commands/`, tables for people,
//! `--json` for scripts, and every error is one line on stderr with a non-zero exit.

mod commands;
mod follow;
mod output;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{
    backtest, checkpoints, data, db, health, migrate, ops, results, ticker, train, validate,
    workers,
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
    /// Checkpoints: list, show, delete, stats, cleanup.
    #[command(subcommand)]
    Checkpoints(checkpoints::CheckpointsCommand),
    /// Check a strategy file: every problem with its key path and line.
    Validate(validate::ValidateArgs),
    /// Orphan detector, workers and queue depth.
    Health(output::JsonArgs),
    /// Run the maintenance ticker (orphan detection, reconciliation) without a worker.
    Ticker(ticker::TickerArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    restore_default_sigpipe();
    ktrdr::config::load_dotenv();
    let cli = Cli::parse();
    ktrdr::logging::init("warn");
    ktrdr::logging::exit_code(run(cli).await)
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
        Command::Db(command) => db::run(command).await,
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
        Command::Checkpoints(command) => checkpoints::run(command, migrate_first).await,
        Command::Health(args) => health::run(args, migrate_first).await,
        Command::Ticker(args) => ticker::run(args, migrate_first).await,
    }
}
