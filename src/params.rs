//! Validation of operation params for the types ktrdr knows, run before a submit (so bad input is
//! refused at once, with the offending key) and again by the worker that runs the operation.

use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// Params of the built-in `dummy` type: `steps` steps of `step_ms` milliseconds; with `fail_at`, the
/// operation fails when it reaches that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DummyParams {
    #[serde(default = "DummyParams::default_steps")]
    pub steps: u32,
    #[serde(default = "DummyParams::default_step_ms")]
    pub step_ms: u64,
    #[serde(default)]
    pub fail_at: Option<u32>,
}

impl DummyParams {
    fn default_steps() -> u32 {
        10
    }

    fn default_step_ms() -> u64 {
        1000
    }

    pub fn parse(params: &Value) -> Result<Self> {
        let parsed: Self = serde_json::from_value(params.clone()).map_err(|err| {
            Error::InvalidInput(format!(
                "invalid params for dummy: {err} (expected {{\"steps\":N,\"step_ms\":M,\"fail_at\":K}})"
            ))
        })?;
        if parsed.steps == 0 {
            return Err(Error::InvalidInput(
                "invalid params for dummy: steps must be at least 1".into(),
            ));
        }
        if parsed.step_ms > 86_400_000 {
            return Err(Error::InvalidInput(
                "invalid params for dummy: step_ms must be at most 86400000 (one day)".into(),
            ));
        }
        Ok(parsed)
    }
}

/// Checks `params` for `operation_type`. Types without a validator here are checked by the database
/// (which also refuses unknown types).
pub fn validate(operation_type: &str, params: &Value) -> Result<()> {
    if !params.is_object() {
        return Err(Error::InvalidInput(format!(
            "params must be a JSON object, got {params}"
        )));
    }
    if operation_type == "dummy" {
        DummyParams::parse(params)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dummy_params_have_defaults_and_refuse_unknown_keys() {
        assert_eq!(
            DummyParams::parse(&json!({})).unwrap(),
            DummyParams {
                steps: 10,
                step_ms: 1000,
                fail_at: None
            }
        );
        let err = DummyParams::parse(&json!({"stepz": 3}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `stepz`"), "{err}");
        assert!(DummyParams::parse(&json!({"steps": -1})).is_err());
        assert!(DummyParams::parse(&json!({"steps": 0})).is_err());
        assert!(validate("dummy", &json!([1])).is_err());
    }
}
