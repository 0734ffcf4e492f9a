//! `ktrdr-worker-torch`: `ktrdr-worker` with training and backtesting (libtorch). Started by
//! `ktrdr-worker` when it is asked for those types, or directly, with the same flags.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use ktrdr_worker::{launch, settings::Args};

fn main() -> ExitCode {
    ktrdr::config::load_dotenv();
    let flags = Args::command().name("ktrdr-worker-torch").get_matches();
    let args = Args::from_arg_matches(&flags).unwrap_or_else(|err| err.exit());
    launch::main(args, ktrdr_worker_torch::jobs(), |settings| {
        if let Some(threads) = settings.torch_threads {
            tch::set_num_threads(threads);
        }
    })
}
