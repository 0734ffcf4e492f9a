//! Job kinds: what the queue knows of an operation type — its name, the type of its params and of
//! its result, and how its params are checked. The queue itself runs no job and imports none: a
//! program hands [`operations::submit`](crate::operations::submit) the list of kinds it knows
//! ([`JobKinds`]), and the crate that defines the jobs (`ktrdr-trading`) keeps that list in one
//! place. The database's `ktrdr.operation_types` table names the same types (a test checks it).
//!
//! ```
//! use ktrdr::job_kinds::{Dummy, JobKind, JobKinds, KindInfo};
//!
//! // A program's list of kinds is a constant: here the queue's own `dummy` only.
//! const KINDS: JobKinds = JobKinds::new(&[KindInfo::of::<Dummy>()]);
//! assert!(KINDS.validate(Dummy::NAME, &serde_json::json!({"steps": 3})).is_ok());
//! assert!(KINDS.validate(Dummy::NAME, &serde_json::json!({"steps": 0})).is_err());
//! assert!(KINDS.validate(Dummy::NAME, &serde_json::json!([1, 2])).is_err());
//! ```

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{Error, Result};

/// One operation type: its name (a row of `ktrdr.operation_types`), its params and its result.
pub trait JobKind {
    const NAME: &'static str;
    type Params: Serialize + DeserializeOwned;
    type Result: Serialize + DeserializeOwned;

    /// Decodes and checks `params`; the error names the first problem and where it is.
    fn parse_params(params: &Value) -> Result<Self::Params>;

    /// Reads back a result this kind's job wrote.
    fn parse_result(result: &Value) -> Result<Self::Result> {
        Self::Result::deserialize(result).map_err(|err| {
            Error::InvalidInput(format!(
                "unreadable result of a {} operation: {err}",
                Self::NAME
            ))
        })
    }
}

/// A [`JobKind`] reduced to what a submit needs: its name and its params check.
#[derive(Clone, Copy)]
pub struct KindInfo {
    pub name: &'static str,
    check: fn(&Value) -> Result<()>,
}

impl KindInfo {
    pub const fn of<K: JobKind>() -> Self {
        Self {
            name: K::NAME,
            check: |params| K::parse_params(params).map(drop),
        }
    }
}

/// The kinds a program knows, checked before a submit so bad params are refused at once, with the
/// offending key. A type not in the list is left to the database, which refuses unknown types.
#[derive(Clone, Copy)]
pub struct JobKinds(&'static [KindInfo]);

impl JobKinds {
    pub const fn new(kinds: &'static [KindInfo]) -> Self {
        Self(kinds)
    }

    /// The queue's own kind only: what its tests and benchmarks submit.
    pub const BUILT_IN: JobKinds = JobKinds::new(&[KindInfo::of::<Dummy>()]);

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|kind| kind.name)
    }

    /// Checks `params` for `operation_type`: a JSON object, valid for its kind when it is known.
    pub fn validate(&self, operation_type: &str, params: &Value) -> Result<()> {
        if !params.is_object() {
            return Err(Error::InvalidInput(format!(
                "params must be a JSON object, got {params}"
            )));
        }
        match self.0.iter().find(|kind| kind.name == operation_type) {
            Some(kind) => (kind.check)(params),
            None => Ok(()),
        }
    }
}

/// The built-in `dummy` kind: sleeps and progress, to exercise the queue without ML.
pub struct Dummy;

/// Params of `dummy`: `steps` steps of `step_ms` milliseconds; with `fail_at`, the operation fails
/// when it reaches that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DummyParams {
    #[serde(default = "DummyParams::default_steps")]
    pub steps: u32,
    #[serde(default = "DummyParams::default_step_ms")]
    pub step_ms: u64,
    #[serde(default)]
    pub fail_at: Option<u32>,
}

/// Result of `dummy`: what it was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DummyResult {
    pub steps: u32,
    pub step_ms: u64,
}

impl DummyParams {
    fn default_steps() -> u32 {
        10
    }

    fn default_step_ms() -> u64 {
        1000
    }
}

impl JobKind for Dummy {
    const NAME: &'static str = "dummy";
    type Params = DummyParams;
    type Result = DummyResult;

    fn parse_params(params: &Value) -> Result<DummyParams> {
        let parsed = DummyParams::deserialize(params).map_err(|err| {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dummy_params_have_defaults_and_refuse_unknown_keys() {
        assert_eq!(
            Dummy::parse_params(&json!({})).unwrap(),
            DummyParams {
                steps: 10,
                step_ms: 1000,
                fail_at: None
            }
        );
        let err = Dummy::parse_params(&json!({"stepz": 3}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `stepz`"), "{err}");
        assert!(Dummy::parse_params(&json!({"steps": -1})).is_err());
        assert!(Dummy::parse_params(&json!({"steps": 0})).is_err());
        assert!(JobKinds::BUILT_IN.validate("dummy", &json!([1])).is_err());
    }
}
