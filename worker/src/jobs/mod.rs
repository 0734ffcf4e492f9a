//! The computations a worker runs, one [`Job`] per kind of `ktrdr_trading::kinds::ALL`. A job gets
//! its typed params and a [`JobContext`] (report progress, learn that it must stop) and ends with its
//! kind's typed result or a [`JobEnd`]; it never touches the operation's row itself — the attempt
//! around it (see `attempt.rs`) does all fenced writes.

mod agent_assessment;
mod agent_design;
pub mod backtesting;
pub mod checkpointing;
mod context;
mod dummy;
pub mod panics;
mod reproducibility;
pub mod research_commands;
pub mod training;

use ktrdr::job_kinds::{Dummy, JobKind};
use ktrdr_trading::kinds::{AgentAssessment, AgentDesign, Backtesting, Training};
use serde_json::Value;

pub use context::{JobContext, StopRequest, load_bars};

/// How a job ends when it does not complete.
#[derive(Debug)]
pub enum JobEnd {
    Failed {
        message: String,
        retryable: bool,
    },
    Stopped(StopRequest),
    /// Stopped after saving a checkpoint to resume from.
    StoppedAtCheckpoint(StopRequest),
}

/// What a job returns: its kind's result, or how it ended instead.
pub type JobResult<T> = Result<T, JobEnd>;

impl JobEnd {
    /// A failure that trying again cannot mend (bad params, corrupt input).
    pub fn fatal(message: impl Into<String>) -> Self {
        JobEnd::Failed {
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure from the library: retryable when the error may heal by itself (the database
    /// away), fatal otherwise.
    pub fn from_error(context: &str, err: ktrdr::Error) -> Self {
        JobEnd::Failed {
            message: format!("{context}: {err}"),
            retryable: err.is_transient(),
        }
    }

    /// A job whose task panicked (a bug, a device error): another attempt may get through, unless
    /// memory ran out. The message keeps the panic's first line only (no C++ backtrace).
    pub fn crashed(what: &str, panic: impl std::fmt::Display) -> Self {
        let panic = panic.to_string();
        JobEnd::Failed {
            message: format!("{what} crashed: {}", panics::first_line(&panic)),
            retryable: !panics::is_allocation_failure(&panic),
        }
    }
}

/// The computation of one job kind.
pub trait Job: JobKind {
    fn run(
        params: Self::Params,
        ctx: JobContext,
    ) -> impl Future<Output = JobResult<Self::Result>> + Send;
}

/// Operation types this build can run: the arms of [`run`], the kinds of `ktrdr_trading::kinds::ALL`
/// but `agent_research`, which the database advances and no worker runs.
pub const TYPES: &[&str] = &[
    Dummy::NAME,
    Training::NAME,
    Backtesting::NAME,
    AgentDesign::NAME,
    AgentAssessment::NAME,
];

/// Runs the job for `operation_type` (one of [`TYPES`]: the worker claims no other). Params that could
/// not be read from the row fail the operation for good: trying again reads the same row.
pub async fn run(
    operation_type: &str,
    params: Result<Value, String>,
    ctx: JobContext,
) -> JobResult<Value> {
    let params = &params.map_err(JobEnd::fatal)?;
    match operation_type {
        Dummy::NAME => run_kind::<Dummy>(params, ctx).await,
        Training::NAME => run_kind::<Training>(params, ctx).await,
        Backtesting::NAME => run_kind::<Backtesting>(params, ctx).await,
        AgentDesign::NAME => run_kind::<AgentDesign>(params, ctx).await,
        AgentAssessment::NAME => run_kind::<AgentAssessment>(params, ctx).await,
        other => Err(JobEnd::Failed {
            message: format!("this worker cannot run operations of type '{other}'"),
            retryable: true,
        }),
    }
}

/// Decodes the params (a failure is fatal: trying again cannot mend them), runs the job, and
/// encodes its result.
async fn run_kind<K: Job>(params: &Value, ctx: JobContext) -> JobResult<Value> {
    let params = K::parse_params(params).map_err(|err| JobEnd::fatal(err.to_string()))?;
    let result = K::run(params, ctx).await?;
    Ok(serde_json::to_value(result).expect("a job's result serializes"))
}

#[cfg(test)]
mod tests {
    use ktrdr::job_kinds::JobKind;
    use ktrdr_trading::kinds::AgentResearch;

    use super::TYPES;

    #[test]
    fn the_worker_runs_exactly_the_known_kinds() {
        let known: Vec<&str> = ktrdr_trading::kinds::ALL
            .names()
            .filter(|name| *name != AgentResearch::NAME)
            .collect();
        assert_eq!(TYPES, known.as_slice());
    }
}
