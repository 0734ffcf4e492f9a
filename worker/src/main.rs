//! `ktrdr-worker`: claims operations of its types from PostgreSQL, runs them, heartbeats, reports.
//! Thin over the `ktrdr_worker` library (see its `runner` and `jobs`). It links no libtorch: asked
//! for training or backtesting, it execs `ktrdr-worker-torch` beside it with the same arguments.

use std::process::ExitCode;

use clap::Parser;

use ktrdr_worker::{jobs::Jobs, launch, settings::Args};

fn main() -> ExitCode {
    ktrdr::config::load_dotenv();
    let args = Args::parse();
    let jobs = Jobs::without_torch();
    if launch::needs_torch(&args, &jobs) {
        let err = launch::exec_torch_worker();
        return ktrdr::logging::exit_code(Err(err));
    }
    launch::main(args, jobs, |_| {})
}
