//! The chaos run's fleet: `--workers` real `ktrdr-worker` processes, one per numbered slot. A worker
//! that exits — killed, terminated, or by itself — is replaced in its slot by a new process under a
//! new id (`chaos-w{slot}-g{generation}`: a dead worker's id stays taken until its registry lease
//! lapses), so the fleet keeps its size. Each slot keeps one outbox directory and one log file across
//! its processes, so a replacement delivers what its predecessor left in the outbox, and a failed
//! run's logs tell each process's story in order.

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;

/// Worker environment: leases of 3 s renewed every second and a ticker that checks every second
/// (its leader lease is two check intervals), so that a run of a minute sees many takeovers; one
/// libtorch thread, so that trainings are bit-identical wherever they run.
const WORKER_ENV: &[(&str, &str)] = &[
    ("ORPHAN_TIMEOUT_SECONDS", "3"),
    ("HEARTBEAT_INTERVAL_SECONDS", "1"),
    ("ORPHAN_CHECK_INTERVAL_SECONDS", "1"),
    ("KTRDR_TORCH_THREADS", "1"),
    ("KTRDR_LOG", "info,sqlx=warn,refinery_core=warn"),
];

/// The lease the workers hold operations for ([`WORKER_ENV`]'s ORPHAN_TIMEOUT_SECONDS).
pub const LEASE: Duration = Duration::from_secs(3);

/// How long a graceful shutdown at the end may take before the worker is killed (the worker's own
/// limit is 25 s).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

pub struct Fleet {
    bin: PathBuf,
    url: String,
    dir: PathBuf,
    concurrency: u16,
    slots: Vec<Slot>,
    /// Processes started, replacements included.
    pub started: u32,
    /// Workers that exited although nobody killed or terminated them.
    pub unasked_exits: Vec<UnaskedExit>,
}

struct Slot {
    index: usize,
    generation: u32,
    worker_id: String,
    child: Child,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    /// SIGSTOPped, to be continued at that instant.
    Frozen {
        until: Instant,
    },
    /// Killed or terminated: its exit is expected.
    Leaving,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnaskedExit {
    pub worker_id: String,
    pub status: String,
    /// The last lines of the slot's log.
    pub log_tail: String,
}

impl Fleet {
    /// Starts `workers` processes of `bin` on `url` running dummies and trainings, `concurrency`
    /// each; logs and outboxes go under `dir`.
    pub fn start(
        bin: &Path,
        url: &str,
        dir: &Path,
        workers: usize,
        concurrency: u16,
    ) -> anyhow::Result<Self> {
        let mut fleet = Self {
            bin: bin.to_path_buf(),
            url: url.to_string(),
            dir: dir.to_path_buf(),
            concurrency,
            slots: Vec::with_capacity(workers),
            started: 0,
            unasked_exits: Vec::new(),
        };
        for index in 0..workers {
            let slot = fleet.spawn(index, 1)?;
            fleet.slots.push(slot);
        }
        Ok(fleet)
    }

    /// Slots whose worker is live (neither frozen nor leaving), with its id.
    pub fn live(&self) -> Vec<(usize, String)> {
        self.slots
            .iter()
            .filter(|slot| slot.state == State::Live)
            .map(|slot| (slot.index, slot.worker_id.clone()))
            .collect()
    }

    /// `kill -9` the worker of `slot`; returns its id.
    pub fn kill(&mut self, slot: usize) -> String {
        self.signal(slot, libc::SIGKILL, State::Leaving)
    }

    /// SIGTERM: the worker shuts down gracefully and is replaced once it exited.
    pub fn terminate(&mut self, slot: usize) -> String {
        self.signal(slot, libc::SIGTERM, State::Leaving)
    }

    /// SIGSTOP for `duration`, then SIGCONT (from [`tend`](Self::tend)).
    pub fn freeze(&mut self, slot: usize, duration: Duration) -> String {
        let until = Instant::now() + duration;
        self.signal(slot, libc::SIGSTOP, State::Frozen { until })
    }

    /// Continues frozen workers whose time is up, and replaces workers that exited.
    pub fn tend(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            if let State::Frozen { until } = slot.state
                && until <= now
            {
                send(slot, libc::SIGCONT);
                slot.state = State::Live;
            }
            let Some(status) = slot.child.try_wait()? else {
                continue;
            };
            if slot.state != State::Leaving {
                self.unasked_exits.push(UnaskedExit {
                    worker_id: slot.worker_id.clone(),
                    status: status.to_string(),
                    log_tail: log_tail(&self.log_path(index)),
                });
            }
            let generation = self.slots[index].generation + 1;
            self.slots[index] = self.spawn(index, generation)?;
        }
        Ok(())
    }

    /// Continues every frozen worker now.
    pub fn thaw_all(&mut self) {
        for slot in &mut self.slots {
            if let State::Frozen { .. } = slot.state {
                send(slot, libc::SIGCONT);
                slot.state = State::Live;
            }
        }
    }

    /// SIGTERM to every worker, then waits for all to exit (killing what outlasts
    /// [`SHUTDOWN_LIMIT`]).
    pub async fn shut_down(mut self) -> anyhow::Result<()> {
        self.thaw_all();
        for slot in &mut self.slots {
            if slot.state != State::Leaving {
                send(slot, libc::SIGTERM);
                slot.state = State::Leaving;
            }
        }
        let deadline = Instant::now() + SHUTDOWN_LIMIT;
        for slot in &mut self.slots {
            while slot.child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    slot.child.kill()?;
                    slot.child.wait()?;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    fn signal(&mut self, index: usize, signal: i32, state: State) -> String {
        let slot = &mut self.slots[index];
        send(slot, signal);
        slot.state = state;
        slot.worker_id.clone()
    }

    fn spawn(&mut self, index: usize, generation: u32) -> anyhow::Result<Slot> {
        let worker_id = format!("chaos-w{index}-g{generation}");
        let log_path = self.log_path(index);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        writeln!(log, "===== {worker_id} =====")?;
        let child = Command::new(&self.bin)
            .args(["--types", "dummy,training", "--no-migrate", "--worker-id"])
            .arg(&worker_id)
            .arg("--concurrency")
            .arg(self.concurrency.to_string())
            .env("DATABASE_URL", &self.url)
            .env(
                "KTRDR_OUTBOX_DIR",
                self.dir.join(format!("outbox-w{index}")),
            )
            // Artifacts and checkpoints in the database: the store that restarts with it.
            .env_remove("KTRDR_ARTIFACTS_PATH")
            .env_remove("CHECKPOINT_ARTIFACTS_PATH")
            .envs(WORKER_ENV.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        self.started += 1;
        Ok(Slot {
            index,
            generation,
            worker_id,
            child,
            state: State::Live,
        })
    }

    fn log_path(&self, index: usize) -> PathBuf {
        self.dir.join(format!("worker-w{index}.log"))
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let _ = slot.child.kill();
            let _ = slot.child.wait();
        }
    }
}

fn send(slot: &Slot, signal: i32) {
    // SAFETY: kill(2) on our own child, which is not reaped yet (try_wait has not seen it exit), so
    // the pid cannot have been reused.
    unsafe { libc::kill(slot.child.id() as i32, signal) };
}

/// The last 20 lines of a log file.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Creates the run's directory (logs, outboxes), under the system's temporary directory.
pub fn run_directory(seed: u64) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "ktrdr-chaos-{seed:016x}-{:08x}",
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
