//! The short chaos run of `make test`: `ktrdr-bench chaos --duration 60 --json` — real workers under
//! kill -9, SIGSTOP/CONT, SIGTERM, PostgreSQL restarts and an outage of a throw-away cluster, with
//! thousands of dummies and two trainings — must pass every check of the queue's contract, and
//! must have injected every kind of fault (a run that hit nothing proves nothing). Detection
//! times are printed, not asserted. It needs the `ktrdr-worker` binary beside `ktrdr-bench`
//! (`cargo build -p ktrdr-worker`; a workspace run of nextest builds it).

use std::process::Command;

use serde_json::Value;

#[test]
fn the_queue_keeps_its_contract_under_a_minute_of_chaos() {
    let strategy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/rsi_macd_trend.yaml"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_ktrdr-bench"))
        .args(["chaos", "--duration", "60", "--trainings", "2", "--json"])
        .args(["--strategy", strategy])
        .output()
        .expect("ktrdr-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!("no JSON report ({err}); stderr:\n{stderr}");
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let seed = &report["seed"];
    for check in report["checks"].as_array().expect("checks") {
        assert!(
            check["passed"].as_bool().unwrap(),
            "{} failed: {} (seed {seed}); {stderr}",
            check["name"],
            check["detail"]
        );
    }
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "all terminal",
            "nothing lost",
            "at most one completion",
            "no failure with attempts left",
            "fenced completions",
            "trainings bit-identical"
        ]
    );
    assert!(output.status.success(), "seed {seed}: {stderr}");
    let faults = &report["faults"];
    for kind in ["kill9", "sigterm", "sigstop", "outages"] {
        assert!(
            faults[kind].as_u64().unwrap() > 0,
            "no {kind} injected (seed {seed}): {faults}"
        );
    }
    let restarts =
        faults["restart_fast"].as_u64().unwrap() + faults["restart_immediate"].as_u64().unwrap();
    assert!(restarts > 0, "no restart injected (seed {seed}): {faults}");
    assert!(
        report["submitted"].as_u64().unwrap() >= 1000,
        "{}",
        report["submitted"]
    );
}
