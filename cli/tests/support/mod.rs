//! What the CLI's tests share: running this build's `ktrdr` binary against a database, from the
//! repository root (where the example strategies are), and reading what it printed.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod api;

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

fn command(database_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ktrdr"));
    command
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("DATABASE_URL", database_url);
    command
}

/// Runs `ktrdr args` against `database_url`.
pub fn ktrdr(database_url: &str, args: &[&str]) -> Output {
    ktrdr_with_env(database_url, args, &[])
}

/// Runs `ktrdr args` against `database_url` with the extra environment `env`.
pub fn ktrdr_with_env(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(database_url, args)
        .envs(env.iter().copied())
        .output()
        .expect("the ktrdr binary runs")
}

/// Runs `ktrdr args` against `database_url`, with `stdin` as its standard input.
pub fn ktrdr_with_stdin(database_url: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = command(database_url, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ktrdr binary runs");
    // The command may refuse before it reads all of stdin: a broken pipe is its answer.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// What the command printed on stderr, trimmed.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}
