//! The built-in `dummy` operation: `steps` sleeps of `step_ms`, progress after each, an optional
//! failure at step `fail_at`. It exercises claiming, heartbeats, cancellation and failure without ML.

use std::time::Duration;

use ktrdr::{
    job_kinds::{DummyParams, DummyResult},
    operations::Progress,
};
use serde_json::json;

use super::{JobContext, JobEnd, JobResult, StopRequest};

/// The `dummy` job.
pub async fn run(params: DummyParams, mut ctx: JobContext) -> JobResult<DummyResult> {
    for step in 1..=params.steps {
        if params.fail_at == Some(step) || params.fail_at == Some(0) {
            return Err(JobEnd::Failed {
                message: format!(
                    "dummy operation failed at step {step} of {} (fail_at)",
                    params.steps
                ),
                retryable: true,
            });
        }
        if params.step_ms == 0 {
            // No sleep at all: even a zero sleep waits for the timer's next millisecond tick.
            match ctx.stop_request() {
                StopRequest::None => {}
                request => return Err(JobEnd::Stopped(request)),
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(params.step_ms)) => {}
                request = ctx.stop_requested() => return Err(JobEnd::Stopped(request)),
            }
        }
        ctx.report(Progress {
            percent: step as f32 * 100.0 / params.steps as f32,
            message: Some(format!("step {step}/{}", params.steps)),
            details: Some(json!({ "step": step, "steps": params.steps })),
        });
    }
    Ok(DummyResult {
        steps: params.steps,
        step_ms: params.step_ms,
    })
}
