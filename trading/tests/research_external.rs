//! External designer and assessor commands, run for real with `sh -c` on small scripts this test
//! writes: a command that fails, hangs, floods stdout, prints nonsense or an invalid strategy, and
//! one that prints a valid strategy after reading its context from stdin.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use ktrdr_trading::{
    research::{
        self, AssessmentContext, DesignContext, Verdict, run_external_assessor,
        run_external_designer,
    },
    strategy,
};

/// A fresh directory for one test's scripts.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("research_external_{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `body` as an executable shell script and returns the command that runs it.
fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    format!("sh '{}'", path.display())
}

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../strategies/rsi_macd_trend.yaml")
}

fn context() -> DesignContext {
    DesignContext {
        research_id: "op_research_ext".into(),
        seed: 1,
        cycle: 0,
        brief: Some("momentum".into()),
        symbol: "EURUSD".into(),
        timeframe: "1h".into(),
        data: vec![],
        indicators: research::indicator_catalogue(),
        experiments: vec![],
        tried_fingerprints: vec![],
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_designer_that_fails_reports_its_status_and_stderr() {
    let dir = scratch("fails");
    let cmd = script(
        &dir,
        "fail.sh",
        "echo 'starting' >&2\necho 'model endpoint unreachable' >&2\nexit 3",
    );
    let err = run_external_designer(&cmd, &context(), 10 * SECOND).unwrap_err();
    assert_eq!(
        err,
        "designer command exited with status 3: starting | model endpoint unreachable"
    );
    let err = run_external_designer("kill -9 $$", &context(), 10 * SECOND).unwrap_err();
    assert!(err.contains("was killed by signal 9"), "{err}");
}

#[test]
fn a_designer_that_hangs_is_killed_at_its_timeout() {
    let dir = scratch("hangs");
    let marker = dir.join("still-running");
    // A child in the background outlives the shell unless the whole group is killed.
    let cmd = script(
        &dir,
        "hang.sh",
        &format!("(sleep 3; touch '{}') &\nsleep 60", marker.display()),
    );
    let started = Instant::now();
    let err = run_external_designer(&cmd, &context(), SECOND).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err, "designer command timed out after 1 s and was killed");
    assert!(
        took >= SECOND && took < 3 * SECOND,
        "returned after {took:?}"
    );
    std::thread::sleep(3 * SECOND);
    assert!(
        !marker.exists(),
        "the command's background child survived the timeout"
    );
}

#[test]
fn a_designer_that_floods_stdout_is_stopped() {
    let started = Instant::now();
    let err = run_external_designer("yes name: x", &context(), 30 * SECOND).unwrap_err();
    assert!(
        err.contains("printed more than 1048576 bytes on stdout"),
        "{err}"
    );
    assert!(started.elapsed() < 10 * SECOND);
}

#[test]
fn a_designer_that_prints_nonsense_gets_the_validator_s_problems() {
    let err = run_external_designer("echo 'Sure! Here is a strategy:'", &context(), 10 * SECOND)
        .unwrap_err();
    assert!(
        err.starts_with("designer command printed an invalid strategy: "),
        "{err}"
    );
    assert!(
        err.contains("line 1: Sure! Here is a strategy: unknown key"),
        "{err}"
    );
    assert!(err.contains("; name: missing (required)"), "{err}");
    let err = run_external_designer("echo 42", &context(), 10 * SECOND).unwrap_err();
    assert!(
        err.ends_with("(file): expected a mapping of strategy sections"),
        "{err}"
    );
    let err = run_external_designer("true", &context(), 10 * SECOND).unwrap_err();
    assert_eq!(
        err,
        "designer command printed nothing on stdout (expected a strategy YAML)"
    );
    // A strategy with two mistakes: both are named, on one line.
    let broken = std::fs::read_to_string(example_path())
        .unwrap()
        .replace("period: 14 }", "period: 0 }")
        .replace("dropout: 0.2", "dropout: 1.5");
    let dir = scratch("nonsense");
    std::fs::write(dir.join("broken.yaml"), broken).unwrap();
    let cmd = format!("cat '{}'", dir.join("broken.yaml").display());
    let err = run_external_designer(&cmd, &context(), 10 * SECOND).unwrap_err();
    assert!(!err.contains('\n'), "{err}");
    assert!(
        err.contains("indicators.rsi_14: period must be at least 1"),
        "{err}"
    );
    assert!(
        err.contains("model.dropout: expected a number in [0, 1), got 1.5"),
        "{err}"
    );
}

#[test]
fn a_designer_that_prints_a_valid_strategy_reads_the_context_on_stdin() {
    let dir = scratch("valid");
    let received = dir.join("context.json");
    let cmd = script(
        &dir,
        "design.sh",
        &format!(
            "cat > '{}'\ncat '{}'",
            received.display(),
            example_path().display()
        ),
    );
    let ctx = context();
    let design = run_external_designer(&cmd, &ctx, 10 * SECOND).unwrap();
    let example = strategy::parse_file(&example_path()).unwrap();
    assert_eq!(design.strategy_name, "rsi_macd_trend");
    assert_eq!(design.archetype, "external");
    assert_eq!(design.fingerprint, research::fingerprint(&example));
    assert_eq!(
        design.strategy_yaml,
        std::fs::read_to_string(example_path()).unwrap()
    );
    let given: DesignContext = serde_json::from_slice(&std::fs::read(&received).unwrap()).unwrap();
    assert_eq!(given, ctx);

    // Once it is an experiment, printing it again is refused.
    let mut ctx = context();
    ctx.experiments.push(research::ExperimentSummary {
        research_id: "op_research_ext".into(),
        strategy_name: "rsi_macd_trend".into(),
        fingerprint: design.fingerprint.clone(),
        strategy_yaml: design.strategy_yaml.clone(),
        verdict: Some("weak".into()),
        test_accuracy: None,
        baseline_accuracy: None,
        sharpe: None,
        total_return: None,
        win_rate: None,
        max_drawdown: None,
        trades: None,
        score: Some(1.0),
        suggestion: None,
    });
    let err = run_external_designer(&cmd, &ctx, 10 * SECOND).unwrap_err();
    assert!(err.contains("a strategy tried before"), "{err}");
    // Tried but not among the experiments shown (ranked lower, or another research's): refused.
    let mut ctx = context();
    ctx.tried_fingerprints.push(design.fingerprint.clone());
    let err = run_external_designer(&cmd, &ctx, 10 * SECOND).unwrap_err();
    assert!(
        err.contains("a strategy tried before") && err.contains("tried_fingerprints"),
        "{err}"
    );
    // A strategy for another series than the research's is refused.
    let mut ctx = context();
    ctx.timeframe = "4h".into();
    let err = run_external_designer(&cmd, &ctx, 10 * SECOND).unwrap_err();
    assert!(
        err.contains("for EURUSD 1h, but the research trades EURUSD 4h"),
        "{err}"
    );
}

fn assessment_context() -> AssessmentContext {
    AssessmentContext {
        strategy_name: "rsi_macd_trend".into(),
        strategy_yaml: std::fs::read_to_string(example_path()).unwrap(),
        training: serde_json::json!({"test_accuracy": 0.5}),
        backtest: serde_json::Value::Null,
    }
}

#[test]
fn an_assessor_prints_a_json_verdict() {
    let dir = scratch("assessor");
    let cmd = script(
        &dir,
        "assess.sh",
        r#"grep -q '"test_accuracy":0.5' && echo '{"verdict": "weak", "strengths": ["trades"], "weaknesses": ["gap"], "suggestion": "regularize: less", "score": 1.25}'"#,
    );
    let assessment = run_external_assessor(&cmd, &assessment_context(), 10 * SECOND).unwrap();
    assert_eq!(assessment.verdict, Verdict::Weak);
    assert_eq!(assessment.strengths, ["trades"]);
    assert_eq!(assessment.weaknesses, ["gap"]);
    assert_eq!(assessment.suggestion, "regularize: less");
    assert_eq!(assessment.score, 1.25);
    // Only the verdict is required; the score is then the verdict's tier.
    let minimal = run_external_assessor(
        r#"echo '{"verdict": "strong"}'"#,
        &assessment_context(),
        10 * SECOND,
    )
    .unwrap();
    assert_eq!((minimal.verdict, minimal.score), (Verdict::Strong, 2.0));
}

#[test]
fn an_assessor_with_a_bad_answer_is_refused_with_the_reason() {
    let ctx = assessment_context();
    let err =
        run_external_assessor(r#"echo '{"verdict": "promising"}'"#, &ctx, 10 * SECOND).unwrap_err();
    assert_eq!(
        err,
        "assessor command printed an unknown verdict 'promising' (expected strong, weak or no_signal)"
    );
    let err = run_external_assessor("echo looks good to me", &ctx, 10 * SECOND).unwrap_err();
    assert!(
        err.starts_with("assessor command did not print a JSON verdict"),
        "{err}"
    );
    assert!(err.contains("'looks good to me'"), "{err}");
    let err = run_external_assessor("echo oops >&2; exit 2", &ctx, 10 * SECOND).unwrap_err();
    assert_eq!(err, "assessor command exited with status 2: oops");
    let started = Instant::now();
    let err = run_external_assessor("sleep 30", &ctx, SECOND).unwrap_err();
    assert_eq!(err, "assessor command timed out after 1 s and was killed");
    assert!(started.elapsed() < 3 * SECOND);
}
