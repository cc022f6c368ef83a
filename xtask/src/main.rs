//! Developer tasks, run as `cargo xtask <task>`.
//!
//! - `ci`: everything CI checks, in the order that fails fastest: format,
//!   lints, licenses and sources; what an embedder meets (doc-tests,
//!   `cargo doc` with warnings denied, the persistence crate's example
//!   service); then the whole test suite.
//! - `bench`: every benchmark, then a summary of the figures that have
//!   targets (with ratios), written to docs/PERFORMANCE.md.
//! - `openapi`: writes docs/openapi.json from the code (a test fails while
//!   the checked-in copy is stale).
//! - `settings`: writes the settings table of docs/OPERATIONS.md (between
//!   its `settings:begin` and `settings:end` markers) from the code's one
//!   list of settings (a test fails while it is stale).

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
        "settings" => settings(),
        _ => {
            eprintln!("usage: cargo xtask <ci | bench [criterion args] | openapi | settings>");
            eprintln!("  ci     format, clippy, cargo-deny (licenses bans sources), tests");
            eprintln!("  bench  run every benchmark and write docs/PERFORMANCE.md's figures");
            eprintln!("  openapi  write docs/openapi.json from the code");
            eprintln!("  settings  write the settings table of docs/OPERATIONS.md from the code");
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
    cargo_with(args, &[])
}

/// [`cargo`] with extra environment variables.
pub(crate) fn cargo_with(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_unset| "cargo".to_owned());
    let shown: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v:?} ")).collect();
    eprintln!("$ {}cargo {}", shown.concat(), args.join(" "));
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root()?)
        .status()
        .with_context(|| format!("could not start cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}

/// Runs `bookwarden <command>` and returns what it printed.
fn bookwarden(command: &str) -> Result<Vec<u8>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_unset| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--locked",
            "-p",
            "bookwarden-http-api",
            "--",
            command,
        ])
        .current_dir(root()?)
        .output()
        .context("could not run the bookwarden binary")?;
    if !output.status.success() {
        bail!(
            "bookwarden {command} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output.stdout)
}

/// Writes docs/openapi.json as the server generates it.
fn openapi() -> Result<()> {
    let document = bookwarden("openapi")?;
    let path = root()?.join("docs/openapi.json");
    std::fs::write(&path, document).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The line that opens the generated settings table (it continues with a
/// note to the reader, kept as written).
const SETTINGS_BEGIN: &str = "<!-- settings:begin";
/// The line that closes it.
const SETTINGS_END: &str = "<!-- settings:end -->";

/// Writes the settings table between the markers of docs/OPERATIONS.md as
/// `bookwarden settings` prints it.
fn settings() -> Result<()> {
    let table = String::from_utf8(bookwarden("settings")?)
        .context("bookwarden settings printed something that is not UTF-8")?;
    let path = root()?.join("docs/OPERATIONS.md");
    let doc =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let updated = splice(&doc, &table)
        .with_context(|| format!("{} lacks the settings markers", path.display()))?;
    if updated == doc {
        eprintln!("{} is already current", path.display());
        return Ok(());
    }
    std::fs::write(&path, updated).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote the settings table of {}", path.display());
    Ok(())
}

/// `doc` with everything between the line holding [`SETTINGS_BEGIN`] and
/// the line starting with [`SETTINGS_END`] replaced by `table`; both marker
/// lines stay as they are. `None` when a marker is missing or out of order.
fn splice(doc: &str, table: &str) -> Option<String> {
    let begin = doc.find(SETTINGS_BEGIN)?;
    let after_begin = begin + doc.get(begin..)?.find('\n')? + 1;
    let end = after_begin + doc.get(after_begin..)?.find(SETTINGS_END)?;
    Some(format!(
        "{}{table}{}",
        doc.get(..after_begin)?,
        doc.get(end..)?
    ))
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
    // What an embedder reads and runs: the examples in the docs, the
    // documentation itself (no broken or private links), and the example
    // service built on the store, the domain and the vault alone.
    cargo(&["test", "--doc", "--workspace", "--locked"])?;
    cargo_with(
        &["doc", "--no-deps", "--workspace", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    cargo(&[
        "run",
        "--locked",
        "--quiet",
        "-p",
        "bookwarden-persistence",
        "--example",
        "embedded",
    ])?;
    // Last, so that its summary closes the output.
    cargo(&[
        "nextest",
        "run",
        "--workspace",
        "--locked",
        "--no-fail-fast",
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::splice;

    #[test]
    fn splice_replaces_only_what_lies_between_the_markers() {
        let doc =
            "intro\n<!-- settings:begin (generated) -->\n| old |\n<!-- settings:end -->\nrest\n";
        assert_eq!(
            splice(doc, "| new |\n| rows |\n").as_deref(),
            Some(
                "intro\n<!-- settings:begin (generated) -->\n| new |\n| rows |\n<!-- settings:end -->\nrest\n"
            )
        );
        assert_eq!(splice("no markers", "| x |\n"), None);
        assert_eq!(
            splice("<!-- settings:end -->\n<!-- settings:begin -->\n", "x"),
            None,
            "markers out of order"
        );
    }
}
