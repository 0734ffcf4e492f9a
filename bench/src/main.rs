//! `ktrdr-bench`: ktrdr's benchmarks, kept out of the product binaries (`make bench` runs them).
//!
//! - `queue`: bulk submit, claim+complete throughput and pickup latency of the SQL queue in a
//!   throw-away database, with pgbench's single-row SKIP LOCKED claim as the reference.
//! - `worker`: the real `ktrdr-worker` binary on the peer queues' workloads (W1 throughput, W2
//!   pickup latency), claim latency against the number of pending operations, and a sustained run
//!   with pruning.
//! - `training`: training time per epoch, backtest speed, checkpoint cost, and (with `--database`)
//!   checkpoint saves and a real worker's resume latency; `scripts/bench.sh` puts it beside a plain
//!   PyTorch loop on the same data.
//! - `research`: the research loop's coordination overhead (child ended → next child pending) and
//!   many tiny researches through real workers with no duplicate children.
//! - `chaos`: real workers under random kill -9, SIGSTOP/CONT, SIGTERM and PostgreSQL restarts for
//!   a while, then the queue's contract checked from the database (`make chaos`).

mod chaos;
mod queue;
mod research;
mod stats;
mod training;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ktrdr's benchmarks.
#[derive(Debug, Parser)]
#[command(name = "ktrdr-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Queue throughput and pickup latency.
    Queue(queue::QueueArgs),
    /// The ktrdr-worker binary's throughput and pickup latency, claim latency at 10³…10⁶ pending,
    /// and (with `--sustained N`) a long run with pruning.
    Worker(worker::WorkerArgs),
    /// Training time per epoch and backtest speed on synthetic bars (checkpoint costs with
    /// `--database`).
    Training(training::TrainingArgs),
    /// Workers under random faults (kill -9, SIGSTOP/CONT, SIGTERM, PostgreSQL restarts), then
    /// every operation's fate checked.
    Chaos(chaos::ChaosArgs),
    /// Research loop: coordination overhead and tiny researches on real workers.
    Research(research::ResearchArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    // `--database` and the queue benchmark read DATABASE_URL, which may come from .env.
    ktrdr::config::load_dotenv();
    let outcome = match Cli::parse().command {
        Command::Queue(args) => queue::run(args).await,
        Command::Training(args) => training::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Chaos(args) => chaos::run(args).await,
        Command::Research(args) => research::run(args).await,
    };
    ktrdr::logging::exit_code(outcome)
}
