//! Developer tasks, run as `cargo xtask <task>`.
//!
//! - `ci`: everything CI checks, in the order that fails fastest: format,
//!   lints, licenses and sources, then the whole test suite.
//! - `bench`: every benchmark, then a summary of the figures that have
//!   targets (with ratios), written to docs/PERFORMANCE.md.
//! - `openapi`: writes docs/openapi.json from the code (a test fails while
//!   the checked-in copy is stale).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a developer tool reports on the terminal"
)]

mod bench;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = args
        .split_first()
        .map_or(("", &[][..]), |(t, r)| (t.as_str(), r));
    match task {
        "ci" => ci(),
        "bench" => bench::run(rest),
        "openapi" => openapi(),
        _ => {
            eprintln!("usage: cargo xtask <ci | bench [criterion args] | openapi>");
            eprintln!("  ci     format, clippy, cargo-deny (licenses bans sources), tests");
            eprintln!("  bench  run every benchmark and write docs/PERFORMANCE.md's figures");
            eprintln!("  openapi  write docs/openapi.json from the code");
            bail!("unknown task {task:?}")
        }
    }
}

/// The workspace root (the parent of this crate's folder).
pub(crate) fn root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives one folder below the workspace root")
}

/// Runs `cargo` with `args` in the workspace root and fails if it fails.
pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_unset| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root()?)
        .status()
        .with_context(|| format!("could not start cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}

/// Writes docs/openapi.json as the server generates it.
fn openapi() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_unset| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--locked",
            "-p",
            "bookwarden-http-api",
            "--",
            "openapi",
        ])
        .current_dir(root()?)
        .output()
        .context("could not run the bookwarden binary")?;
    if !output.status.success() {
        bail!(
            "bookwarden openapi failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let path = root()?.join("docs/openapi.json");
    std::fs::write(&path, &output.stdout).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    // Advisories need the advisory database from the network, which the
    // build machines cannot reach; licenses, bans and sources run offline.
    // cargo-deny reads the metadata of every platform's dependencies; fetch
    // them all first (crates only, from the registry), then check offline.
    cargo(&["fetch", "--locked"])?;
    cargo(&["deny", "--offline", "check", "licenses", "bans", "sources"])
        .context("cargo-deny is required: cargo install cargo-deny --locked")?;
    cargo(&[
        "nextest",
        "run",
        "--workspace",
        "--locked",
        "--no-fail-fast",
    ])?;
    Ok(())
}
