//! The built-in `dummy` operation: `steps` sleeps of `step_ms`, progress after each, an optional
//! failure at step `fail_at`. It exercises claiming, heartbeats, cancellation and failure without ML.

use std::time::Duration;

use ktrdr::{operations::Progress, params::DummyParams};
use serde_json::{Value, json};

use super::{JobContext, JobOutcome};

pub async fn run(params: &Value, mut ctx: JobContext) -> JobOutcome {
    let params = match DummyParams::parse(params) {
        Ok(params) => params,
        Err(err) => {
            return JobOutcome::Failed {
                message: err.to_string(),
                retryable: false,
            };
        }
    };
    for step in 1..=params.steps {
        if params.fail_at == Some(step) || params.fail_at == Some(0) {
            return JobOutcome::Failed {
                message: format!(
                    "dummy operation failed at step {step} of {} (fail_at)",
                    params.steps
                ),
                retryable: true,
            };
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(params.step_ms)) => {}
            request = ctx.stop_requested() => return JobOutcome::Stopped(request),
        }
        ctx.report(Progress {
            percent: step as f32 * 100.0 / params.steps as f32,
            message: Some(format!("step {step}/{}", params.steps)),
            details: Some(json!({ "step": step, "steps": params.steps })),
        });
    }
    JobOutcome::Completed(json!({ "steps": params.steps, "step_ms": params.step_ms }))
}
