//! The `agent_assessment` operation: a research's verdict on its training and backtest.
//!
//! Reads the strategy (from the research) and the typed results of its training and backtest
//! children from the database, and asks the built-in rules (`ktrdr_trading::research::assess`) or,
//! when `KTRDR_ASSESSOR_CMD` is set, that command (context as JSON on stdin, a JSON verdict on
//! stdout, killed after `KTRDR_ASSESSOR_TIMEOUT_SECONDS`). An assessor that fails, hangs or
//! prints nonsense fails this assessment, for good, with its reason; the research then starts
//! another attempt. The research's next step (in SQL) stores the verdict and the experiment.

use ktrdr::operations::{self, Status};
use ktrdr_trading::{
    kinds::AssessmentParams,
    research::{self, Assessment, AssessmentContext},
};
use sqlx::PgPool;

use super::{
    JobContext, JobEnd, JobResult,
    research_commands::{self, ExternalCommand},
};

/// The `agent_assessment` job.
pub async fn run(params: AssessmentParams, mut ctx: JobContext) -> JobResult<Assessment> {
    let context = assessment_context(&ctx.pool, &params).await?;
    let assessed = match research_commands::assessor().map_err(JobEnd::fatal)? {
        Some(command) => run_external(command, context, &mut ctx).await?,
        None => research::assess(&context).map_err(|err| err.to_string()),
    };
    assessed.map_err(JobEnd::fatal)
}

/// The assessor command, on a blocking thread; a cancel or shutdown stops waiting for it.
async fn run_external(
    command: ExternalCommand,
    context: AssessmentContext,
    ctx: &mut JobContext,
) -> JobResult<Result<Assessment, String>> {
    let run = tokio::task::spawn_blocking(move || {
        research::run_external_assessor(&command.command, &context, command.timeout)
    });
    tokio::select! {
        done = run => done.map_err(|panic| JobEnd::crashed("the assessor command", panic)),
        request = ctx.stop_requested() => Err(JobEnd::Stopped(request)),
    }
}

/// The strategy and the two results; a child that is not completed fails the assessment for good.
async fn assessment_context(
    pool: &PgPool,
    params: &AssessmentParams,
) -> JobResult<AssessmentContext> {
    let research = ktrdr::research::get(pool, &params.research_id)
        .await
        .map_err(|err| JobEnd::from_error("cannot read the research", err))?;
    let (Some(strategy_name), Some(strategy_yaml)) =
        (research.strategy_name, research.strategy_yaml)
    else {
        return Err(JobEnd::fatal(format!(
            "research {} has no strategy to assess",
            params.research_id
        )));
    };
    Ok(AssessmentContext {
        strategy_name,
        strategy_yaml,
        training: completed_result(pool, &params.training_id).await?,
        backtest: completed_result(pool, &params.backtest_id).await?,
    })
}

async fn completed_result(pool: &PgPool, operation_id: &str) -> JobResult<serde_json::Value> {
    let op = operations::get(pool, operation_id)
        .await
        .map_err(|err| JobEnd::from_error("cannot read a result to assess", err))?;
    match (op.status, op.result) {
        (Status::Completed, Some(result)) => Ok(result),
        (status, _) => Err(JobEnd::fatal(format!(
            "{operation_id} is {status}, not a completed {} to assess",
            op.operation_type
        ))),
    }
}
