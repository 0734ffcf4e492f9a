//! `ktrdr models export <training id> DIR [--force] [--json]`: a completed training's model as
//! files that run without ktrdr — `model.safetensors` (the weights, PyTorch's names), `model.json`
//! (features in order, scaler, layers, classes, strategy: `kinds::model_files::ExportedModel`) and
//! `test_predictions.json` (test rows with ktrdr's probabilities, to check a reimplementation
//! against). Only bytes move: read from the artifact store (checked against their SHA-256), written
//! to DIR — this crate links no libtorch.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use ktrdr::{
    Error,
    artifacts::{self, ArtifactRef, ArtifactStore},
    job_kinds::JobKind,
    operations::{self, Status},
};
use ktrdr_trading::kinds::{
    ModelArchitecture, ModelMetadata, Training, TrainingResult,
    model_files::{
        EXPORT_FORMAT_VERSION, ExportedFiles, ExportedModel, ExportedScaler, ExportedStrategy,
    },
};
use serde::Serialize;

use crate::output;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Write a training's model to DIR: model.safetensors, model.json, test_predictions.json.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The training's operation id (or a unique prefix of it).
    training_id: String,
    /// Where to write the files (created when missing; must be empty unless --force).
    dir: PathBuf,
    /// Write into a DIR that is not empty, replacing the export's files there.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

const WEIGHTS_FILE: &str = "model.safetensors";
const MODEL_FILE: &str = "model.json";
const PREDICTIONS_FILE: &str = "test_predictions.json";

/// One file written, for `--json` and the listing.
#[derive(Debug, Serialize)]
struct Written {
    name: &'static str,
    path: PathBuf,
    bytes: u64,
    sha256: String,
}

#[derive(Debug, Serialize)]
struct Export {
    training_id: String,
    directory: PathBuf,
    files: Vec<Written>,
    /// What the export lacks, and why.
    notes: Vec<String>,
}

pub async fn run(command: ModelsCommand, migrate_first: bool) -> anyhow::Result<()> {
    match command {
        ModelsCommand::Export(args) => export(args, migrate_first).await,
    }
}

async fn export(args: ExportArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let id = super::operation_id(&pool, &args.training_id).await?;
    let result = exportable_training(&pool, &id).await?;
    let Some(weights_ref) = &result.model.safetensors else {
        return Err(Error::InvalidInput(format!(
            "{id} was trained by an older ktrdr, which stored no {WEIGHTS_FILE}: retrain it \
             (ktrdr train) to export its model"
        ))
        .into());
    };
    check_directory(&args.dir, args.force)?;

    let store = ArtifactStore::from_env(&pool)?;
    let stored_in = &result.model.store;
    let weights = read_artifact(&store, weights_ref, stored_in).await?;
    let metadata = read_artifact(&store, &result.model.metadata, stored_in).await?;
    let metadata: ModelMetadata = serde_json::from_slice(&metadata).map_err(|err| {
        Error::Artifact(format!(
            "the model metadata {} is not readable: {err}",
            result.model.metadata.location
        ))
    })?;
    let predictions = match &result.model.test_predictions {
        Some(artifact) => Some(read_artifact(&store, artifact, stored_in).await?),
        None => None,
    };
    let architecture = metadata.architecture.clone().unwrap_or_else(|| {
        ModelArchitecture::of(
            &metadata.strategy.model,
            metadata.feature_names.len(),
            &metadata.classes,
        )
    });
    check_consistent(&metadata, &architecture, &weights).map_err(|why| {
        Error::Artifact(format!("the stored model of {id} is inconsistent: {why}"))
    })?;

    let document = ExportedModel {
        format_version: EXPORT_FORMAT_VERSION,
        training_id: id.clone(),
        exported_by: format!("ktrdr {}", env!("CARGO_PKG_VERSION")),
        trained_with: result.reproducibility.clone(),
        strategy: ExportedStrategy {
            name: metadata.strategy.name.clone(),
            config: metadata.strategy.clone(),
        },
        symbol: metadata.symbol.clone(),
        timeframe: metadata.timeframe,
        test_accuracy: result.test_accuracy,
        features: metadata.feature_names.clone(),
        scaler: ExportedScaler::of(&metadata.scaler),
        architecture,
        classes: metadata.classes.clone(),
        files: ExportedFiles {
            weights: WEIGHTS_FILE.into(),
            test_predictions: predictions.as_ref().map(|_| PREDICTIONS_FILE.into()),
        },
    };
    let mut model_json = serde_json::to_vec_pretty(&document)?;
    model_json.push(b'\n');

    let mut files = vec![
        write(&args.dir, WEIGHTS_FILE, &weights)?,
        write(&args.dir, MODEL_FILE, &model_json)?,
    ];
    let mut notes = Vec::new();
    match &predictions {
        Some(bytes) => files.push(write(&args.dir, PREDICTIONS_FILE, bytes)?),
        None => {
            // With --force over an older export: no stale predictions beside the new model.
            remove_if_present(&args.dir.join(PREDICTIONS_FILE))?;
            notes.push(format!(
                "no {PREDICTIONS_FILE}: {id} was trained before ktrdr stored test predictions"
            ));
        }
    }
    let export = Export {
        training_id: id,
        directory: args.dir.clone(),
        files,
        notes,
    };
    if args.json {
        return output::print_json(&export);
    }
    print_export(&export, &result);
    Ok(())
}

/// The result of `id` when it is a completed training; else why not, in one line.
async fn exportable_training(pool: &sqlx::PgPool, id: &str) -> anyhow::Result<TrainingResult> {
    let op = operations::get(pool, id).await?;
    if op.operation_type != Training::NAME {
        return Err(Error::InvalidInput(format!(
            "{id} is a {} operation, not a training: only a training has a model to export",
            op.operation_type
        ))
        .into());
    }
    match (op.status, &op.result) {
        (Status::Completed, Some(result)) => Ok(Training::parse_result(result)?),
        (status, _) => Err(Error::InvalidInput(format!(
            "{id} is {status}, not COMPLETED: only a completed training has a model to export{}",
            op.error_message
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ))
        .into()),
    }
}

/// DIR may be missing (it is created) or empty; anything else needs `--force`.
fn check_directory(dir: &Path, force: bool) -> anyhow::Result<()> {
    let refuse = |why: String| Err(Error::InvalidInput(why).into());
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return refuse(format!(
                    "{} exists and is not empty: choose another directory, or add --force to \
                     replace the export's files in it",
                    dir.display()
                ));
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", dir.display()))?;
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => {
            refuse(format!("{} is a file, not a directory", dir.display()))
        }
        Err(err) => Err(anyhow::anyhow!("cannot read {}: {err}", dir.display())),
    }
}

/// An artifact's bytes, SHA-256 checked; a model kept in another store than this process reads
/// is refused with the setting that reaches it.
async fn read_artifact(
    store: &ArtifactStore,
    artifact: &ArtifactRef,
    stored_in: &str,
) -> anyhow::Result<Vec<u8>> {
    let in_directory = artifact.location.starts_with("file:");
    let reads_directory = matches!(store, ArtifactStore::Directory(_));
    if in_directory != reads_directory {
        let fix = if in_directory {
            format!("set {} to that directory", artifacts::ARTIFACTS_PATH)
        } else {
            format!("unset {}", artifacts::ARTIFACTS_PATH)
        };
        return Err(Error::Artifact(format!(
            "the model is in the {stored_in}, but this ktrdr reads the {}: {fix}",
            store.describe()
        ))
        .into());
    }
    Ok(store.get(artifact).await?)
}

/// The metadata's features, scaler and architecture agree, and the weights are f32 tensors of
/// exactly the architecture's names and shapes.
fn check_consistent(
    metadata: &ModelMetadata,
    architecture: &ModelArchitecture,
    weights: &[u8],
) -> Result<(), String> {
    let features = metadata.feature_names.len();
    if metadata.scaler.mean.len() != features || metadata.scaler.std.len() != features {
        return Err(format!(
            "{features} features but a scaler of {} means and {} stds",
            metadata.scaler.mean.len(),
            metadata.scaler.std.len()
        ));
    }
    if architecture.inputs != features {
        return Err(format!(
            "{features} features but an architecture of {} inputs",
            architecture.inputs
        ));
    }
    let tensors = safetensors::SafeTensors::deserialize(weights)
        .map_err(|err| format!("{WEIGHTS_FILE} is not readable: {err}"))?;
    let mut shapes = BTreeMap::new();
    for (name, view) in tensors.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, not F32", view.dtype()));
        }
        shapes.insert(name, view.shape().to_vec());
    }
    architecture.check_shapes(&shapes)
}

fn write(dir: &Path, name: &'static str, content: &[u8]) -> anyhow::Result<Written> {
    let path = dir.join(name);
    artifacts::write_durably(&path, content)
        .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))?;
    Ok(Written {
        name,
        path,
        bytes: content.len() as u64,
        sha256: artifacts::hex_sha256(content),
    })
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(anyhow::anyhow!("cannot remove {}: {err}", path.display()))
        }
        _ => Ok(()),
    }
}

fn print_export(export: &Export, result: &TrainingResult) {
    println!(
        "Exported the model of {} ({} on {} {}) to {}:",
        export.training_id,
        result.strategy,
        result.symbol,
        result.timeframe,
        export.directory.display()
    );
    let mut table = output::table(&["FILE", "SIZE", "SHA256"]);
    for file in &export.files {
        table.add_row(vec![
            file.name.to_string(),
            output::bytes(file.bytes as i64),
            file.sha256.clone(),
        ]);
    }
    println!("{table}");
    for note in &export.notes {
        println!("note: {note}");
    }
    println!(
        "Run it without ktrdr: {MODEL_FILE} says how (features, scaler, layers, classes); \
         scripts/model_export_check.py does it with safetensors and numpy."
    );
}
