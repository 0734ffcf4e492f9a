//! External designers and assessors (`KTRDR_DESIGNER_CMD`, `KTRDR_ASSESSOR_CMD`): a command run
//! with `sh -c`, given the context as JSON on stdin, answering on stdout — a strategy YAML, or a
//! JSON verdict. This is how a user plugs in a language model.
//!
//! The command runs in a process group of its own, so that everything it starts is killed with
//! it when it runs past its timeout or prints more than [`MAX_OUTPUT_BYTES`]; stdout is read up to
//! that bound, stderr keeps its last [`STDERR_TAIL_BYTES`]. Every failure is one line: the exit
//! status with the last lines of stderr, the timeout, or every problem the validator found in the
//! printed strategy.

use std::{
    io::{Read, Write},
    os::unix::process::{CommandExt, ExitStatusExt},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::{
    context::{Assessment, AssessmentContext, Design, DesignContext, Tried, Verdict},
    fingerprint::fingerprint,
};
use crate::strategy;

/// The most a command may print on stdout (a strategy is at most 1 MiB too).
pub const MAX_OUTPUT_BYTES: usize = strategy::limits::MAX_STRATEGY_BYTES;
/// How much of the end of stderr is kept for the error message.
pub const STDERR_TAIL_BYTES: usize = 4096;
/// Lines of stderr an error message quotes.
const STDERR_LINES: usize = 3;
/// How long to wait for a killed command's group to be gone.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// Runs the designer command `cmd` with `ctx` on stdin; its stdout must be a valid strategy on
/// the research's series whose fingerprint was not tried before ([`DesignContext::tried`]).
pub fn run_external_designer(
    cmd: &str,
    ctx: &DesignContext,
    timeout: Duration,
) -> Result<Design, String> {
    let input =
        serde_json::to_vec(ctx).map_err(|err| format!("cannot write the context: {err}"))?;
    let stdout = run("designer", cmd, &input, timeout)?;
    let text = String::from_utf8(stdout)
        .map_err(|_| "designer command printed output that is not UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Err("designer command printed nothing on stdout (expected a strategy YAML)".into());
    }
    let parsed = strategy::parse(&text).map_err(|problems| {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!(
            "designer command printed an invalid strategy: {}",
            one_line(&problems.join("; "))
        )
    })?;
    let data = &parsed.training_data;
    if data.symbol != ctx.symbol || data.timeframe.as_str() != ctx.timeframe {
        return Err(format!(
            "designer command printed a strategy for {} {}, but the research trades {} {}",
            data.symbol, data.timeframe, ctx.symbol, ctx.timeframe
        ));
    }
    let print = fingerprint(&parsed);
    match ctx.tried(&print) {
        Some(Tried::Experiment(earlier)) => {
            return Err(format!(
                "designer command printed a strategy tried before: it trains and trades like \
                 experiment {} (fingerprint {})",
                earlier.strategy_name,
                &print[..12]
            ));
        }
        Some(Tried::Elsewhere) => {
            return Err(format!(
                "designer command printed a strategy tried before (fingerprint {}, in \
                 tried_fingerprints)",
                &print[..12]
            ));
        }
        None => {}
    }
    Ok(Design {
        rationale: format!(
            "from the designer command{}",
            parsed
                .description
                .as_deref()
                .map(|description| format!(": {}", one_line(description)))
                .unwrap_or_default()
        ),
        strategy_name: parsed.name,
        strategy_yaml: text,
        fingerprint: print,
        archetype: "external".into(),
    })
}

/// What an assessor command prints: a verdict, and optionally the rest of an [`Assessment`].
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Printed {
    verdict: String,
    #[serde(default)]
    strengths: Vec<String>,
    #[serde(default)]
    weaknesses: Vec<String>,
    #[serde(default)]
    suggestion: String,
    /// Without one, the verdict's tier (strong 2, weak 1, no_signal 0), as the built-in score.
    #[serde(default)]
    score: Option<f64>,
}

/// Runs the assessor command `cmd` with `ctx` on stdin; its stdout must be a JSON verdict,
/// `{"verdict": "strong" | "weak" | "no_signal", "strengths": [...], "weaknesses": [...],
/// "suggestion": "...", "score": 1.2}` (all but the verdict optional).
pub fn run_external_assessor(
    cmd: &str,
    ctx: &AssessmentContext,
    timeout: Duration,
) -> Result<Assessment, String> {
    let input =
        serde_json::to_vec(ctx).map_err(|err| format!("cannot write the context: {err}"))?;
    let stdout = run("assessor", cmd, &input, timeout)?;
    let printed: Printed = serde_json::from_slice(&stdout).map_err(|err| {
        let start = String::from_utf8_lossy(&stdout[..stdout.len().min(80)]).into_owned();
        format!(
            "assessor command did not print a JSON verdict ({err}); it printed: '{}'",
            one_line(&start)
        )
    })?;
    let verdict: Verdict = printed
        .verdict
        .parse()
        .map_err(|why: String| format!("assessor command printed an {why}"))?;
    let score = match printed.score {
        Some(score) if !score.is_finite() => {
            return Err(format!(
                "assessor command printed score {score}: expected a number"
            ));
        }
        Some(score) => score,
        None => match verdict {
            Verdict::Strong => 2.0,
            Verdict::Weak => 1.0,
            Verdict::NoSignal => 0.0,
        },
    };
    Ok(Assessment {
        verdict,
        strengths: printed.strengths,
        weaknesses: printed.weaknesses,
        suggestion: printed.suggestion,
        score,
    })
}

enum Event {
    Stdout(std::io::Result<Vec<u8>>),
    Stderr(Vec<u8>),
    Exited(std::io::Result<ExitStatus>),
}

/// Runs `sh -c cmd` with `input` on stdin in a process group of its own; its stdout when it exits
/// 0 within `timeout`, having printed at most [`MAX_OUTPUT_BYTES`].
fn run(what: &str, cmd: &str, input: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|err| format!("cannot start the {what} command with sh -c: {err}"))?;
    let group = child.id() as libc::pid_t;
    let (send, events) = mpsc::channel();

    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    // A command that does not read its input closes the pipe: that is its right, not an error.
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stdout = child.stdout.take().expect("piped");
    let to_main = send.clone();
    thread::spawn(move || {
        let mut buffer = Vec::new();
        let read = stdout
            .take(MAX_OUTPUT_BYTES as u64 + 1)
            .read_to_end(&mut buffer)
            .map(|_| buffer);
        let _ = to_main.send(Event::Stdout(read));
    });
    let mut stderr = child.stderr.take().expect("piped");
    let to_main = send.clone();
    thread::spawn(move || {
        let mut tail = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut chunk) {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&chunk[..n]);
            if tail.len() > STDERR_TAIL_BYTES {
                tail.drain(..tail.len() - STDERR_TAIL_BYTES);
            }
        }
        let _ = to_main.send(Event::Stderr(tail));
    });
    thread::spawn(move || {
        let _ = send.send(Event::Exited(child.wait()));
    });

    let (mut stdout, mut stderr, mut status) = (None, None, None);
    while stdout.is_none() || stderr.is_none() || status.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Stdout(Ok(bytes))) if bytes.len() > MAX_OUTPUT_BYTES => {
                kill_group(group, &events, status.is_some());
                return Err(format!(
                    "{what} command printed more than {MAX_OUTPUT_BYTES} bytes on stdout (the \
                     limit, 1 MiB) and was killed"
                ));
            }
            Ok(Event::Stdout(read)) => {
                stdout =
                    Some(read.map_err(|err| format!("reading the {what} command's stdout: {err}"))?)
            }
            Ok(Event::Stderr(tail)) => stderr = Some(tail),
            Ok(Event::Exited(exited)) => {
                status =
                    Some(exited.map_err(|err| format!("waiting for the {what} command: {err}"))?)
            }
            Err(_) => {
                kill_group(group, &events, status.is_some());
                return Err(format!(
                    "{what} command timed out after {} s and was killed",
                    timeout.as_secs_f64()
                ));
            }
        }
    }
    let status = status.expect("loop ends with a status");
    if status.success() {
        return Ok(stdout.expect("loop ends with stdout"));
    }
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    };
    Err(format!(
        "{what} command {how}: {}",
        stderr_tail(&stderr.unwrap_or_default())
    ))
}

/// Kills the command's process group and waits (briefly) for its shell to be reaped, unless it
/// was already.
fn kill_group(group: libc::pid_t, events: &mpsc::Receiver<Event>, reaped: bool) {
    // SAFETY: killpg has no memory effects; the group is the one the command was started in, and
    // its id cannot be reused while the group has members.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
    if reaped {
        return;
    }
    let deadline = Instant::now() + KILL_GRACE;
    while let Ok(event) = events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if matches!(event, Event::Exited(_)) {
            return;
        }
    }
}

/// The last [`STDERR_LINES`] non-empty lines of stderr, joined on one line.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    if lines.is_empty() {
        return "(nothing on stderr)".into();
    }
    lines[lines.len().saturating_sub(STDERR_LINES)..].join(" | ")
}

/// `text` on one line, at most 2,000 characters.
fn one_line(text: &str) -> String {
    let flat: String = text
        .split(['\n', '\r'])
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if flat.chars().count() > 2000 {
        format!("{}…", flat.chars().take(2000).collect::<String>())
    } else {
        flat
    }
}
