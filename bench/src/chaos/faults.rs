//! The chaos schedule: which fault comes next, on whom, and after what pause — drawn from a
//! generator seeded with `--seed`, so that a failed run's sequence of draws can be replayed (the
//! processes' timing, and so what each fault hits, differs from run to run).
//!
//! Faults come 0.3–2 s apart (1.15 s on average). Of the process faults, a kill or a freeze hits the
//! ticker's leader one time in three; a freeze lasts longer than a lease (3 s) — 3.5 to 7 s — so
//! the frozen worker's operations are taken over and its stale writes after SIGCONT must be
//! refused. One fault in ten restarts the database (fast, or immediate as after a crash), and every
//! run has at least one of each, and one outage of [`OUTAGE`] somewhere in the middle. (Not more: for a lease's length
//! after each restart the orphan detector treats lapsed leases as the outage's doing and gives
//! their workers a grace period, so kills around restarts are detected later.)

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;

use super::fleet::LEASE;

/// The one outage: the server stopped this long, longer than a lease.
pub const OUTAGE: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` a worker.
    Kill { leader: bool },
    /// SIGTERM: a graceful shutdown.
    Terminate,
    /// SIGSTOP, SIGCONT after `duration`.
    Freeze { leader: bool, duration: Duration },
    /// `pg_ctl restart -m fast`.
    RestartFast,
    /// `pg_ctl restart -m immediate`.
    RestartImmediate,
    /// `pg_ctl stop`, [`OUTAGE`], `pg_ctl start`.
    Outage,
}

/// One drawn fault: what, a number that picks its target among the live workers, and whether it
/// is one of the planted faults (which are never skipped).
#[derive(Debug, Clone, Copy)]
pub struct Planned {
    pub fault: Fault,
    pub pick: usize,
    pub planted: bool,
}

pub struct Schedule {
    rng: StdRng,
    /// Faults every run has, at drawn instants, earliest last: one fast restart, one immediate
    /// restart and the outage.
    planted: Vec<(Duration, Fault)>,
}

impl Schedule {
    /// The schedule of a run of `duration` from `seed`.
    pub fn new(seed: u64, duration: Duration) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut at = |share: std::ops::Range<f64>| duration.mul_f64(rng.random_range(share));
        let mut planted = vec![
            (at(0.1..0.3), Fault::RestartFast),
            (at(0.3..0.6), Fault::Outage),
            (at(0.6..0.9), Fault::RestartImmediate),
        ];
        planted.reverse();
        Self { rng, planted }
    }

    /// The pause before the next fault.
    pub fn pause(&mut self) -> Duration {
        Duration::from_millis(self.rng.random_range(300..2_000))
    }

    /// The next fault, `elapsed` into the run.
    pub fn next(&mut self, elapsed: Duration) -> Planned {
        let pick = self.rng.random_range(0..1 << 16);
        let planted_due = self.planted.last().is_some_and(|(at, _)| *at <= elapsed);
        let fault = if planted_due {
            self.planted.pop().expect("a planted fault").1
        } else {
            let leader = self.rng.random_ratio(1, 3);
            match self.rng.random_range(0..100) {
                0..42 => Fault::Kill { leader },
                42..60 => Fault::Terminate,
                60..90 => Fault::Freeze {
                    leader,
                    duration: LEASE + Duration::from_millis(self.rng.random_range(500..4_000)),
                },
                90..95 => Fault::RestartFast,
                _ => Fault::RestartImmediate,
            }
        };
        Planned {
            fault,
            pick,
            planted: planted_due,
        }
    }
}

/// What was injected.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FaultCounts {
    pub kill9: u32,
    /// Of `kill9`, the ticker's leader.
    pub kill9_leader: u32,
    pub sigterm: u32,
    pub sigstop: u32,
    /// Of `sigstop`, the ticker's leader.
    pub sigstop_leader: u32,
    pub restart_fast: u32,
    pub restart_immediate: u32,
    pub outages: u32,
    /// Faults drawn but not injected: no worker to spare (fewer than two live), or a database fault
    /// while another was under way.
    pub skipped: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_draws_with_the_planted_faults() {
        let run = |seed| {
            let mut schedule = Schedule::new(seed, Duration::from_secs(60));
            let mut elapsed = Duration::ZERO;
            let mut draws = Vec::new();
            while elapsed < Duration::from_secs(60) {
                elapsed += schedule.pause();
                let planned = schedule.next(elapsed);
                draws.push((elapsed, planned.fault, planned.pick));
            }
            draws
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        for seed in 0..20 {
            let draws = run(seed);
            let count = |wanted: Fault| draws.iter().filter(|(_, f, _)| *f == wanted).count();
            assert_eq!(count(Fault::Outage), 1, "seed {seed}");
            assert!(count(Fault::RestartFast) >= 1, "seed {seed}");
            assert!(count(Fault::RestartImmediate) >= 1, "seed {seed}");
        }
    }
}
