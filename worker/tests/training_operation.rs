//! The `training` operation run by a real worker: end to end on synthetic data, and bad inputs that
//! fail the operation with a precise message while the worker keeps running.

mod support;

use ktrdr::{
    artifacts::{ArtifactRef, ArtifactStore},
    operations::Status,
};
use ktrdr_testkit::TestDatabase;
use ktrdr_trading::{
    features::LABEL_NAMES,
    kinds::{DateRange, TrainingParams, TrainingResult},
    market_data::{Bar, bars_sha256},
    strategy::Strategy,
};
use serde_json::{Value, json};
use support::{completed, example_strategy, finished, spawn_worker, store_synthetic_bars, submit};

#[tokio::test]
async fn training_runs_end_to_end_and_stores_its_model() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let bars = store_synthetic_bars(pool, (2022, 1), (2022, 4), 3).await;
    let _worker = spawn_worker(test_db.url(), &["--types", "training"], &[]);
    let strategy = example_strategy("rsi_macd_trend.yaml", 3);
    let id = submit(pool, "training", TrainingParams::new(strategy.clone())).await;
    let result = completed(pool, &id).await.result.expect("a result");
    assert_readable_summary(&serde_json::from_value(result.clone())?, &bars, &strategy);
    assert_eq!(result["history"].as_array().unwrap().len(), 3);
    let accuracy = result["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    let confusion: u64 = result["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()))
        .sum();
    assert_eq!(confusion, result["bars"]["test"].as_u64().unwrap());

    let store = ArtifactStore::Database(pool.clone());
    let weights: ArtifactRef = serde_json::from_value(result["model"]["weights"].clone())?;
    assert_eq!(store.get(&weights).await?.len() as u64, weights.size_bytes);
    let metadata: ArtifactRef = serde_json::from_value(result["model"]["metadata"].clone())?;
    let metadata: Value = serde_json::from_slice(&store.get(&metadata).await?)?;
    assert_eq!(metadata["strategy"]["name"], "rsi_macd_trend");
    assert_eq!(
        metadata["feature_names"].as_array().unwrap().len() as u64,
        result["features"].as_u64().unwrap()
    );
    let layers = metadata["architecture"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{}", metadata["architecture"]);
    assert_eq!(layers[2]["out_features"], 3);
    stores_its_test_predictions(&store, &result).await?;
    same_weights_in_safetensors(&store, &result).await
}

/// `test_predictions.json`: every test row (fewer than 1000), its raw features and probabilities
/// that sum to 1, and the predicted classes adding up to the confusion matrix's columns.
async fn stores_its_test_predictions(store: &ArtifactStore, result: &Value) -> anyhow::Result<()> {
    let artifact: ArtifactRef =
        serde_json::from_value(result["model"]["test_predictions"].clone())?;
    let predictions: ktrdr_trading::kinds::TestPredictions =
        serde_json::from_slice(&store.get(&artifact).await?)?;
    let test_rows = result["bars"]["test"].as_u64().unwrap() as usize;
    assert_eq!(predictions.test_rows, test_rows);
    assert_eq!(predictions.predicted.len(), test_rows);
    assert_eq!(predictions.timestamps.len(), test_rows);
    let features = result["features"].as_u64().unwrap() as usize;
    assert!(predictions.inputs.iter().all(|row| row.len() == features));
    for p in &predictions.probabilities {
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{p:?}");
    }
    for class in 0..3 {
        let column: u64 = result["confusion_matrix"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row[class].as_u64().unwrap())
            .sum();
        let count = predictions
            .predicted
            .iter()
            .filter(|&&p| p == class)
            .count();
        assert_eq!(count as u64, column, "class {class}");
    }
    Ok(())
}

/// The model's safetensors artifact holds the `.ot` weights under PyTorch's names: the example's
/// two hidden layers and the output layer as `layers.0`, `layers.1`, `layers.2`.
async fn same_weights_in_safetensors(store: &ArtifactStore, result: &Value) -> anyhow::Result<()> {
    let weights: ArtifactRef = serde_json::from_value(result["model"]["weights"].clone())?;
    let ot = store.get(&weights).await?;
    let variables = tch::Tensor::load_multi_from_stream(std::io::Cursor::new(ot))?;
    let exported: ArtifactRef = serde_json::from_value(result["model"]["safetensors"].clone())?;
    let bytes = store.get(&exported).await?;
    let exported = safetensors::SafeTensors::deserialize(&bytes)?;
    let mut names: Vec<&String> = exported.names();
    names.sort();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight",
            "layers.2.bias",
            "layers.2.weight"
        ]
    );
    assert_eq!(exported.tensor("layers.2.weight")?.shape()[0], 3);
    assert_eq!(variables.len(), 6);
    for (name, tensor) in &variables {
        let renamed = ktrdr_worker_torch::training::export::pytorch_name(name, 2).unwrap();
        let view = exported.tensor(&renamed)?;
        let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
        assert_eq!(view.shape(), shape.as_slice(), "{name}");
        let expected: Vec<f32> = Vec::try_from(tensor.flatten(0, -1))?;
        let stored: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(stored, expected, "{name}");
    }
    Ok(())
}

/// The split's dates match its row counts, the baseline and per-class figures follow the
/// confusion matrix, and the reproducibility block names the bars read and the seed.
fn assert_readable_summary(result: &TrainingResult, bars: &[Bar], strategy: &Strategy) {
    let split = result.split.expect("split dates");
    let rows_in = |part: &DateRange| bars.iter().filter(|bar| part.contains(bar.ts)).count() as i64;
    assert_eq!(split.train.start, bars[0].ts);
    // The train period holds the indicators' warm-up too; the others exactly their rows.
    assert!(rows_in(&split.train) > result.bars.train);
    assert_eq!(rows_in(&split.validation), result.bars.validation);
    assert_eq!(rows_in(&split.test), result.bars.test);
    assert!(split.train.end < split.validation.start && split.validation.end < split.test.start);

    let support: Vec<u64> = result
        .confusion_matrix
        .iter()
        .map(|row| row.iter().sum())
        .collect();
    let most = *support.iter().max().unwrap();
    assert_eq!(
        result.baseline_accuracy,
        Some(most as f64 / result.bars.test as f64)
    );
    let baseline_class = result.baseline_class.as_deref().unwrap();
    assert_eq!(
        support[LABEL_NAMES
            .iter()
            .position(|c| *c == baseline_class)
            .unwrap()],
        most
    );
    for (c, name) in LABEL_NAMES.iter().enumerate() {
        let metrics = result.class_metrics[*name];
        assert_eq!(metrics.support, support[c]);
        let right = result.confusion_matrix[c][c] as f64;
        assert_eq!(
            metrics.recall,
            (support[c] > 0).then(|| right / support[c] as f64)
        );
    }
    let features_at_lag_0: usize = strategy
        .nn_inputs
        .iter()
        .map(|input| strategy.fuzzy_sets[&input.input].len())
        .sum();
    assert_eq!(result.fuzzy_set_activity.len(), features_at_lag_0);
    assert!(
        result
            .fuzzy_set_activity
            .values()
            .all(|share| (0.0..=1.0).contains(share))
    );

    let reproducibility = result.reproducibility.as_ref().expect("reproducibility");
    assert_eq!(reproducibility.bars_sha256, bars_sha256(bars));
    assert_eq!(reproducibility.bars, bars.len());
    assert_eq!(reproducibility.seed, strategy.training.seed);
    assert_eq!(reproducibility.device, result.device);
    assert!(reproducibility.threads >= 1);
    assert_eq!(reproducibility.ktrdr_version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn bad_training_inputs_fail_the_operation_and_the_worker_keeps_running() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let mut worker = spawn_worker(test_db.url(), &["--types", "training,dummy"], &[]);
    let submit_raw = |params: Value| async move {
        ktrdr_testkit::submit_through_sql(pool, "training", params)
            .await
            .unwrap()
    };
    let good = serde_json::to_value(TrainingParams::new(example_strategy(
        "rsi_macd_trend.yaml",
        1,
    )))?;

    let no_data = submit_raw(good.clone()).await;
    let mut unknown_indicator = good.clone();
    unknown_indicator["strategy"]["indicators"]["rsi_14"]["type"] = json!("astrology");
    let unknown_indicator = submit_raw(unknown_indicator).await;
    let mut empty_range = good.clone();
    empty_range["start"] = json!("2022-03-01T00:00:00Z");
    empty_range["end"] = json!("2022-03-01T00:00:00Z");
    let empty_range = submit_raw(empty_range).await;
    let mut zero_period = good.clone();
    zero_period["strategy"]["indicators"]["rsi_14"]["period"] = json!(0);
    let zero_period = submit_raw(zero_period).await;

    let expectations = [
        (
            no_data,
            "no market data for EURUSD 1h in the requested range: load it with `ktrdr data synth --symbol EURUSD --timeframe 1h`",
        ),
        (
            unknown_indicator,
            "invalid params for training at strategy.indicators.rsi_14.type: unknown variant `astrology`",
        ),
        (empty_range, "empty date range"),
        (
            zero_period,
            "invalid params for training: the strategy is not valid: indicators.rsi_14",
        ),
    ];
    for (id, expected) in expectations {
        let op = finished(pool, &id).await;
        assert_eq!(op.status, Status::Failed);
        let message = op.error_message.unwrap_or_default();
        assert!(message.starts_with(expected), "{id}: {message}");
    }
    support::assert_new_work_completes(pool).await;
    assert!(worker.is_running());
    Ok(())
}
