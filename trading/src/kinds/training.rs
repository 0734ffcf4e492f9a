//! The `training` kind: a strategy's model trained on its market data (the computation is the
//! worker's, with tch). Its params say what to train on; its result is what `ktrdr results` shows
//! and where a backtest finds the model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ktrdr::{
    artifacts::ArtifactRef,
    job_kinds::JobKind,
    operations::{self, Operation, Status},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use super::{
    ClassMetrics, ModelArchitecture, Reproducibility, SplitDates, check_run, deserialize_params,
};
use crate::{
    Error, Result,
    features::Scaler,
    market_data::{BarRange, Timeframe},
    strategy::Strategy,
};

pub struct Training;

/// Params of a `training` operation: the whole strategy (so the run does not depend on a file that
/// may change), and optionally another symbol, timeframe or date range than the strategy's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingParams {
    pub strategy: Strategy,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub timeframe: Option<Timeframe>,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
}

impl TrainingParams {
    /// A training of `strategy` on its own symbol and timeframe, over all stored bars.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            symbol: None,
            timeframe: None,
            start: None,
            end: None,
        }
    }

    /// The bars this run reads.
    pub fn bars(&self) -> BarRange<'_> {
        let given = (self.symbol.as_deref(), self.timeframe);
        BarRange::of(&self.strategy, given, (self.start, self.end))
    }
}

/// One epoch of a training: its losses and validation accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
}

impl EpochRecord {
    pub fn is_finite(&self) -> bool {
        self.train_loss.is_finite() && self.val_loss.is_finite()
    }
}

/// Rows of each part of the chronological split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRows {
    pub train: i64,
    pub validation: i64,
    pub test: i64,
}

/// Where the trained model is: its weights and its metadata document, in the artifact store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelArtifacts {
    pub weights: ArtifactRef,
    pub metadata: ArtifactRef,
    /// The weights as safetensors with PyTorch's names (`layers.0.weight`, …), for `ktrdr models
    /// export`; absent from trainings made before it was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safetensors: Option<ArtifactRef>,
    /// A sample of the test part with ktrdr's probabilities (`model_files::TestPredictions`), for
    /// `ktrdr models export`; absent from trainings made before it was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_predictions: Option<ArtifactRef>,
    /// The store, described for people (`database` or a directory).
    pub store: String,
}

/// What a training stores next to the model's weights (`model.json`), and a backtest reads back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub strategy: Strategy,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub feature_names: Vec<String>,
    pub scaler: Scaler,
    /// The model's output classes, in order.
    pub classes: Vec<String>,
    /// The network, layer by layer (`model_files::ModelArchitecture`); absent from trainings made
    /// before it was stored, whose architecture follows from `strategy.model` all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<ModelArchitecture>,
}

/// Result of a `training` operation (contract: these JSON field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingResult {
    pub strategy: String,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub bars: SplitRows,
    pub features: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub history: Vec<EpochRecord>,
    pub test_accuracy: f64,
    pub parameters_sha256: String,
    pub resumed_from_epoch: Option<usize>,
    pub checkpoints_saved: usize,
    pub checkpoint_save_failures: usize,
    /// Rows: true class, columns: predicted class (BUY, HOLD, SELL).
    pub confusion_matrix: [[u64; 3]; 3],
    /// Training rows of each class, by class name.
    pub class_balance: BTreeMap<String, usize>,
    pub device: String,
    pub model: ModelArtifacts,
    // Added later: absent from results stored before, hence the defaults.
    /// The dates of the train / validation / test split (`kinds::sample`).
    #[serde(default)]
    pub split: Option<SplitDates>,
    /// Accuracy of always predicting the test set's most frequent class (`kinds::evaluation`).
    #[serde(default)]
    pub baseline_accuracy: Option<f64>,
    #[serde(default)]
    pub baseline_class: Option<String>,
    /// Precision, recall and F1 on the test set, by class name.
    #[serde(default)]
    pub class_metrics: BTreeMap<String, ClassMetrics>,
    /// Fraction of the rows on which each fuzzy set (lag 0) is active, by feature name.
    #[serde(default)]
    pub fuzzy_set_activity: BTreeMap<String, f64>,
    /// What a reader should know before trusting the figures (tiny test set, below baseline …).
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub reproducibility: Option<Reproducibility>,
}

impl JobKind for Training {
    const NAME: &'static str = "training";
    type Params = TrainingParams;
    type Result = TrainingResult;

    fn parse_params(params: &Value) -> Result<TrainingParams> {
        let parsed: TrainingParams = deserialize_params::<Self>(params)?;
        check_run(
            Self::NAME,
            &parsed.strategy,
            parsed.symbol.as_deref(),
            parsed.bars(),
        )?;
        Ok(parsed)
    }
}

/// The training `operation_id` and its result if it completed — its model is what a backtest
/// trades; otherwise an error saying what the operation is.
pub async fn completed_training(
    pool: &PgPool,
    operation_id: &str,
) -> Result<(Operation, TrainingResult)> {
    let op = operations::get(pool, operation_id).await?;
    let result = match (&op.result, op.operation_type.as_str(), op.status) {
        (Some(result), Training::NAME, Status::Completed) => Training::parse_result(result)?,
        _ => {
            return Err(Error::InvalidInput(format!(
                "{operation_id} is a {} {} operation, not a completed training",
                op.status, op.operation_type
            )));
        }
    };
    Ok((op, result))
}
