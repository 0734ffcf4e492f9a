//! Checkpoints through the `ktrdr` binary: the interval options (a bad one is refused with one line
//! naming the option, before anything is submitted; a good one travels in the operation's params),
//! what `ops show` says about an operation's checkpoint, a corrupt checkpoint with `ops retry`, and
//! store directories that must be absolute.

mod support;

use ktrdr::checkpoints::{self, CheckpointKind, NewCheckpoint};
use ktrdr_testkit::{self, TestDatabase};
use ktrdr_trading::market_data;
use serde_json::json;
use support::{ktrdr, ktrdr_with_env, stderr};

#[tokio::test]
async fn intervals_and_market_data_are_checked_before_submitting() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let spec = market_data::SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: market_data::Timeframe::H1,
        start: "2022-01-01T00:00:00Z".parse()?,
        end: "2022-02-01T00:00:00Z".parse()?,
        seed: 1,
    };
    let bars = market_data::synthesize(&spec)?;
    market_data::store(
        &test_db.pool,
        "EURUSD",
        spec.timeframe,
        &market_data::Source::Synth { seed: spec.seed },
        &bars,
    )
    .await?;
    let strategy = "strategies/rsi_macd_trend.yaml";

    for bad in ["0", "-3"] {
        let output = ktrdr(url, &["train", strategy, "--checkpoint-interval", bad]);
        assert!(!output.status.success());
        assert_eq!(
            stderr(&output),
            format!("error: --checkpoint-interval must be at least 1, got {bad}")
        );
        let output = ktrdr(
            url,
            &[
                "backtest",
                strategy,
                "--model",
                "op_x",
                "--checkpoint-interval-bars",
                bad,
            ],
        );
        assert!(!output.status.success());
        assert_eq!(
            stderr(&output),
            format!("error: --checkpoint-interval-bars must be at least 1, got {bad}")
        );
    }
    ktrdr_testkit::assert_nothing_submitted(&test_db.pool, "a bad interval").await?;

    // An empty range is named as such (not as missing data), before the database is asked.
    let output = ktrdr(
        url,
        &[
            "train",
            strategy,
            "--start",
            "2022-01-10",
            "--end",
            "2022-01-10",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).starts_with("error: empty date range"),
        "{}",
        stderr(&output)
    );

    // Bars exist for January 2022 only: a range without any is refused before submitting.
    let output = ktrdr(url, &["train", strategy, "--start", "2023-01-01"]);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        format!(
            "error: {}",
            market_data::no_bars_message("EURUSD", spec.timeframe)
        )
    );
    ktrdr_testkit::assert_nothing_submitted(&test_db.pool, "a training without data").await?;

    let output = ktrdr(
        url,
        &["train", strategy, "--checkpoint-interval", "3", "--json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let params = ktrdr_testkit::submitted_params(&test_db.pool).await?;
    assert_eq!(params.len(), 1);
    assert_eq!(params[0]["strategy"]["training"]["checkpoint_interval"], 3);
    Ok(())
}

#[tokio::test]
async fn ops_show_names_the_checkpoint_and_how_to_resume() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let lease = ktrdr_testkit::running_dummy(pool, "w1", 60.0).await?.lease;
    let id = lease.operation_id.clone();
    let checkpoint = NewCheckpoint {
        kind: CheckpointKind::Cancellation,
        unit: "epoch",
        unit_value: 3,
        state: json!({"next_epoch": 3}),
        artifact: None,
    };
    checkpoints::save(pool, &lease, &checkpoint).await?;
    lease.mark_cancelled(pool, None).await?;

    let output = ktrdr(test_db.url(), &["ops", "show", &id]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout)?;
    let line = text
        .lines()
        .find(|line| line.starts_with("Checkpoint:"))
        .unwrap_or_else(|| panic!("no checkpoint line in:\n{text}"));
    assert!(
        line.starts_with("Checkpoint:      CANCELLATION at epoch 3 (attempt 1, "),
        "{line}"
    );
    assert!(
        line.ends_with(&format!("`ktrdr resume {id}` continues from it")),
        "{line}"
    );

    let output = ktrdr(test_db.url(), &["ops", "show", &id, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(shown["checkpoint"]["kind"], "cancellation");
    assert_eq!(shown["checkpoint"]["unit_value"], 3);
    Ok(())
}

#[tokio::test]
async fn a_corrupt_checkpoint_is_shown_refused_by_resume_and_retry_runs_again() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let (pool, url) = (&test_db.pool, test_db.url());
    let lease = ktrdr_testkit::running_dummy(pool, "w1", 60.0).await?.lease;
    let id = lease.operation_id.clone();
    let checkpoint = NewCheckpoint {
        kind: CheckpointKind::Periodic,
        unit: "epoch",
        unit_value: 3,
        state: json!({"next_epoch": 3}),
        artifact: None,
    };
    checkpoints::save(pool, &lease, &checkpoint).await?;
    let why = "artifact db:x is missing";
    let message = checkpoints::mark_corrupt(pool, &lease, why).await?;
    lease.fail(pool, &message, false).await?;

    let show = ktrdr(url, &["ops", "show", &id]);
    let text = String::from_utf8(show.stdout)?;
    assert!(
        text.contains(&format!(
            ": CORRUPT ({why}); `ktrdr ops retry {id}` runs it again from scratch"
        )),
        "{text}"
    );
    let list = String::from_utf8(ktrdr(url, &["checkpoints", "list"]).stdout)?;
    assert!(list.contains("CORRUPT"), "{list}");
    assert!(list.contains("Total: 1 checkpoints (1 corrupt"), "{list}");
    let resume = ktrdr(url, &["resume", &id]);
    assert_eq!(resume.status.code(), Some(1));
    assert_eq!(stderr(&resume), format!("error: {message}"));

    let retry = ktrdr(url, &["ops", "retry", &id]);
    assert!(retry.status.success(), "{}", stderr(&retry));
    assert_eq!(
        String::from_utf8(retry.stdout)?.trim(),
        format!(
            "Retrying {id}: it is PENDING and runs again from scratch on the next free worker."
        )
    );
    assert!(checkpoints::get(pool, &id).await?.is_none());
    let again = ktrdr(url, &["ops", "retry", &id]);
    assert_eq!(
        stderr(&again),
        format!(
            "error: OPERATION_NOT_RETRYABLE: operation {id} is PENDING; only FAILED or CANCELLED operations can be run again"
        )
    );
    Ok(())
}

#[tokio::test]
async fn a_relative_store_directory_is_refused_naming_the_variable() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let output = ktrdr_with_env(
        test_db.url(),
        &["checkpoints", "list"],
        &[("CHECKPOINT_ARTIFACTS_PATH", "scratch/checkpoints")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with(
            "error: CHECKPOINT_ARTIFACTS_PATH=scratch/checkpoints is invalid: it must be an absolute path"
        ),
        "{}",
        stderr(&output)
    );
    Ok(())
}
