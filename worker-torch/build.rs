//! Gives every binary of this crate (ktrdr-worker-torch and its tests) an rpath to libtorch, so they run
//! without LD_LIBRARY_PATH. torch-sys knows where libtorch is (`links = "tch"` exports it as
//! DEP_TCH_LIBTORCH_LIB) but sets no run path itself.
//!
//! Also records, for the reproducibility block of every result, the git commit being built
//! (`KTRDR_GIT_COMMIT`: the variable of that name when set, as a Docker build without `.git` can
//! pass it, else `git rev-parse HEAD`, else `unknown`) and libtorch's version (`KTRDR_LIBTORCH_VERSION`,
//! from the PyPI wheel's `torch/version.py` or a libtorch archive's `build-version`).

use std::{path::Path, process::Command};

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").ok();
    if let Some(lib) = &lib {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    let libtorch_version = lib
        .as_deref()
        .and_then(|lib| Path::new(lib).parent().and_then(libtorch_version))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KTRDR_LIBTORCH_VERSION={libtorch_version}");

    println!("cargo:rerun-if-env-changed=KTRDR_GIT_COMMIT");
    let commit = std::env::var("KTRDR_GIT_COMMIT")
        .ok()
        .filter(|commit| !commit.is_empty())
        .or_else(git_head)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KTRDR_GIT_COMMIT={commit}");
}

/// `__version__` of torch's version.py, or the first line of `build-version`, under `root`.
fn libtorch_version(root: &Path) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(root.join("version.py")) {
        let line = text.lines().find(|line| line.starts_with("__version__"))?;
        return Some(line.split(['\'', '"']).nth(1)?.to_string());
    }
    let text = std::fs::read_to_string(root.join("build-version")).ok()?;
    Some(text.lines().next()?.trim().to_string())
}

/// The commit checked out, and a rerun whenever HEAD moves (a commit, a checkout); `None`
/// outside a git checkout.
fn git_head() -> Option<String> {
    let git = |args: &[&str]| {
        let output = Command::new("git").args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    for path in ["HEAD", "logs/HEAD"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    Some(commit)
}
