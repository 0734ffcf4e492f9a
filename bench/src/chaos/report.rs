//! The chaos run's report: what was injected, what became of the operations, each check with its
//! numbers, and the detection times — as text, or as one JSON object (`--json`).

use serde::Serialize;

use super::{
    detection::Detection,
    faults::FaultCounts,
    fleet::UnaskedExit,
    verdicts::{Check, Tally, TrainingOutcome},
};

#[derive(Debug, Serialize)]
pub struct Report {
    /// Every check passed.
    pub passed: bool,
    pub seed: u64,
    pub duration_seconds: u64,
    pub workers: u16,
    pub concurrency: u16,
    /// Worker processes started, replacements included.
    pub worker_processes_started: u32,
    pub faults: FaultCounts,
    /// Dummies the database acknowledged.
    pub submitted: usize,
    /// Submission batches that failed (the server away) and were tried again.
    pub retried_submissions: u32,
    /// Seconds from the end of the faults until every operation had ended.
    pub settle_seconds: f64,
    pub tally: Tally,
    pub checks: Vec<Check>,
    pub reference_sha256: Option<String>,
    pub trainings: Vec<TrainingOutcome>,
    pub detection: Detection,
    /// Workers that exited without being killed or terminated (replaced all the same).
    pub unasked_exits: Vec<UnaskedExit>,
}

impl Report {
    pub fn print(&self) {
        let f = &self.faults;
        println!(
            "Chaos run: seed {}, {} s of faults, {} workers × {} ({} processes started)",
            self.seed,
            self.duration_seconds,
            self.workers,
            self.concurrency,
            self.worker_processes_started
        );
        println!(
            "  faults: kill -9 {} ({} of the ticker's leader), SIGTERM {}, SIGSTOP/CONT {} ({} of the leader), \
             PostgreSQL restarts {} fast + {} immediate, outages {} ({} skipped)",
            f.kill9,
            f.kill9_leader,
            f.sigterm,
            f.sigstop,
            f.sigstop_leader,
            f.restart_fast,
            f.restart_immediate,
            f.outages,
            f.skipped
        );
        let t = &self.tally;
        let statuses: Vec<String> = t
            .by_status
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect();
        println!(
            "  operations: {} ({}), {} dummies acknowledged, {} submissions retried; settled {:.1} s after the faults",
            t.operations,
            statuses.join(", "),
            self.submitted,
            self.retried_submissions,
            self.settle_seconds
        );
        println!(
            "  history: {} claims, {} re-queued by the ticker, {} released by workers, {} into reconciliation \
             ({} taken back), {} leader epochs, {} exhausted their attempts",
            t.claims,
            t.requeued_by_ticker,
            t.released_by_workers,
            t.moved_to_reconciliation,
            t.reclaimed,
            t.leader_epochs,
            t.exhausted
        );
        let d = &self.detection;
        println!(
            "  detection after kill -9 ({} kills; those of workers holding operations):",
            d.kills
        );
        for (group, figures) in [
            ("settled as orphans", &d.orphans),
            (
                "through reconciliation (a restart came between)",
                &d.through_reconciliation,
            ),
        ] {
            match figures {
                Some(s) => println!(
                    "    {group}: {} kills, p50 {:.2} s, p90 {:.2} s, max {:.2} s",
                    s.samples, s.p50, s.p90, s.max
                ),
                None => println!("    {group}: none"),
            }
        }
        for exit in &self.unasked_exits {
            println!(
                "  {} exited by itself ({}); its log ends:\n{}",
                exit.worker_id, exit.status, exit.log_tail
            );
        }
        for check in &self.checks {
            println!(
                "  {} {:<30} {}",
                if check.passed { "PASS" } else { "FAIL" },
                check.name,
                check.detail
            );
        }
    }
}
