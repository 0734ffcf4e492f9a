//! The computations a worker runs, one per kind of `ktrdr_trading::kinds::ALL`, gathered in the
//! [`Jobs`] of a worker binary: `ktrdr-worker` runs the kinds that need no libtorch, and
//! `ktrdr-worker-torch` (crate `ktrdr-worker-torch`) adds training and backtesting. A job gets its
//! typed params and a [`JobContext`] (report progress, learn that it must stop) and ends with its
//! kind's typed result or a [`JobEnd`]; it never touches the operation's row itself — the attempt
//! around it (see `attempt.rs`) does all fenced writes.

mod agent_assessment;
mod agent_design;
pub mod checkpointing;
mod context;
mod dummy;
pub mod panics;
pub mod research_commands;

use std::pin::Pin;

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

/// Operation types a ktrdr worker runs: the kinds of `ktrdr_trading::kinds::ALL` but
/// `agent_research`, which the database advances and no worker runs.
pub const TYPES: &[&str] = &[
    Dummy::NAME,
    Training::NAME,
    Backtesting::NAME,
    AgentDesign::NAME,
    AgentAssessment::NAME,
];

/// A job's computation, type-erased: params as stored, result as stored.
type RunJob = Box<
    dyn Fn(Value, JobContext) -> Pin<Box<dyn Future<Output = JobResult<Value>> + Send>>
        + Send
        + Sync,
>;

/// The job kinds one worker binary can run, each with its computation.
pub struct Jobs {
    kinds: Vec<(&'static str, RunJob)>,
}

impl Jobs {
    /// The kinds that need no libtorch: `dummy`, `agent_design`, `agent_assessment`. The others of
    /// [`TYPES`] run in `ktrdr-worker-torch`, so that a worker of these starts without loading
    /// libtorch (a fifth of a second per process).
    pub fn without_torch() -> Self {
        Self { kinds: Vec::new() }
            .with::<Dummy, _, _>(dummy::run)
            .with::<AgentDesign, _, _>(agent_design::run)
            .with::<AgentAssessment, _, _>(agent_assessment::run)
    }

    /// Adds kind `K`, computed by `run`. Its params are decoded first (a failure is fatal: trying
    /// again reads the same row) and its result encoded after.
    pub fn with<K, F, Fut>(mut self, run: F) -> Self
    where
        K: JobKind,
        K::Params: Send + 'static,
        F: Fn(K::Params, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult<K::Result>> + Send + 'static,
    {
        let run: RunJob = Box::new(move |params, ctx| {
            let params = K::parse_params(&params).map_err(|err| JobEnd::fatal(err.to_string()));
            let job = params.map(|params| run(params, ctx));
            Box::pin(async move {
                let result = job?.await?;
                Ok(serde_json::to_value(result).expect("a job's result serializes"))
            })
        });
        self.kinds.push((K::NAME, run));
        self
    }

    /// Whether `operation_type` is one of these kinds.
    pub fn runs(&self, operation_type: &str) -> bool {
        self.kinds.iter().any(|(name, _)| *name == operation_type)
    }

    /// Runs the job for `operation_type` (the worker claims only its kinds). Params that could not
    /// be read from the row fail the operation for good: trying again reads the same row.
    pub async fn run(
        &self,
        operation_type: &str,
        params: Result<Value, String>,
        ctx: JobContext,
    ) -> JobResult<Value> {
        let params = params.map_err(JobEnd::fatal)?;
        match self.kinds.iter().find(|(name, _)| *name == operation_type) {
            Some((_, run)) => run(params, ctx).await,
            None => Err(JobEnd::Failed {
                message: format!("this worker cannot run operations of type '{operation_type}'"),
                retryable: true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use ktrdr::job_kinds::JobKind;
    use ktrdr_trading::kinds::{AgentResearch, Backtesting, Training};

    use super::{Jobs, TYPES};

    #[test]
    fn the_worker_runs_exactly_the_known_kinds() {
        let known: Vec<&str> = ktrdr_trading::kinds::ALL
            .names()
            .filter(|name| *name != AgentResearch::NAME)
            .collect();
        assert_eq!(TYPES, known.as_slice());
    }

    #[test]
    fn the_worker_without_torch_runs_every_other_kind() {
        let jobs = Jobs::without_torch();
        for kind in TYPES {
            let torch = [Training::NAME, Backtesting::NAME].contains(kind);
            assert_eq!(jobs.runs(kind), !torch, "{kind}");
        }
    }
}
