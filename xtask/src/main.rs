//! Developer tasks, run as `cargo xtask <task>`.
//!
//! - `ci`: everything CI checks, in the order that fails fastest: format,
//!   lints, licenses and sources; what an embedder meets (doc-tests,
//!   `cargo doc` with warnings denied, the persistence crate's example
//!   service); the isolation canary; then the whole test suite, whose
//!   summary closes the output.
//! - `canary`: builds the deliberately leaking `isolation-canary` server in
//!   its own target dir, serves it on a scratch folder and a free port, and
//!   fails unless `bookwarden-isolation-check` finds the leak.
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
        "canary" => canary(),
        "bench" => bench::run(rest),
        "openapi" => openapi(),
        "settings" => settings(),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | canary | bench [criterion args] | openapi | settings>"
            );
            eprintln!("  ci     format, clippy, cargo-deny (licenses bans sources), tests, canary");
            eprintln!("  canary  the isolation check must find the canary build's deliberate leak");
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
    // The example runs on a build with SQLite alone, as an embedder who
    // wants only the embedded engine compiles it; PostgreSQL alone is
    // checked to build.
    cargo(&[
        "run",
        "--locked",
        "--quiet",
        "-p",
        "bookwarden-persistence",
        "--no-default-features",
        "--features",
        "sqlite",
        "--example",
        "embedded",
    ])?;
    cargo(&[
        "check",
        "--locked",
        "--quiet",
        "-p",
        "bookwarden-persistence",
        "--no-default-features",
        "--features",
        "postgres",
    ])?;
    canary()?;
    // Last, so that its summary closes the output.
    cargo(&[
        "nextest",
        "run",
        "--workspace",
        "--locked",
        "--no-fail-fast",
    ])
}

/// The target dir of the canary build, apart from the normal one so the
/// leaking feature is never unified into (or rebuilt over) it.
const CANARY_TARGET: &str = "target/isolation-canary";

/// A check that cannot fail proves nothing: the `isolation-canary` build
/// answers `GET /v1/services/{id}` across tenants, and the isolation check
/// run against it must exit 1 and print the leak.
fn canary() -> Result<()> {
    let started = std::time::Instant::now();
    cargo(&[
        "build",
        "--locked",
        "-p",
        "bookwarden-http-api",
        "--features",
        "isolation-canary",
        "--target-dir",
        CANARY_TARGET,
    ])?;
    cargo(&[
        "build",
        "--locked",
        "-p",
        "bookwarden-isolation",
        "--bin",
        "bookwarden-isolation-check",
    ])?;
    let root = root()?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let server = root.join(CANARY_TARGET).join("debug").join("bookwarden");
    let check = target.join("debug").join("bookwarden-isolation-check");
    let scratch = std::env::temp_dir().join(format!(
        "bookwarden-canary-{}-{}",
        std::process::id(),
        started.elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let outcome = run_canary(&server, &check, &scratch);
    let _removed = std::fs::remove_dir_all(&scratch);
    let stdout = outcome?;
    eprintln!(
        "the isolation check found the canary's leak ({:.0} s with the canary build):\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Serves the canary build from `scratch`, runs the check against it and
/// returns the check's report of the leak.
fn run_canary(server: &Path, check: &Path, scratch: &Path) -> Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free loopback port")?
        .port();
    let address = format!("127.0.0.1:{port}");
    let log = |name: &str| {
        std::fs::File::create(scratch.join(name))
            .with_context(|| format!("creating {name} in {}", scratch.display()))
    };
    let mut child = Command::new(server)
        .args(["serve", "--data-dir"])
        .arg(scratch.join("data"))
        .args(["--listen", &address])
        .env_remove("BOOKWARDEN_CONFIG")
        .env("BOOKWARDEN_LOG", "warn")
        // The canary build refuses to serve without this acknowledgement.
        .env("BOOKWARDEN_TEST_ISOLATION_CANARY", "leak")
        .env("BOOKWARDEN_LOGIN_PER_MINUTE", "100000")
        .env("BOOKWARDEN_SIGNUP_PER_HOUR", "100000")
        .env("BOOKWARDEN_PUBLIC_PER_MINUTE", "1000000")
        .stdout(log("stdout.log")?)
        .stderr(log("stderr.log")?)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let result = healthy(&address).and_then(|()| {
        eprintln!(
            "$ bookwarden-isolation-check --url http://{address} --cases 1 --ops 200 --seed 1"
        );
        Command::new(check)
            .args(["--url", &format!("http://{address}")])
            .args(["--cases", "1", "--ops", "200", "--seed", "1"])
            .output()
            .with_context(|| format!("running {}", check.display()))
    });
    let _killed = child.kill();
    let _waited = child.wait();
    let output = result?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(1) if stdout.contains("LEAK:") && stdout.contains("request: ") => Ok(stdout),
        Some(0) => bail!(
            "the isolation check passed the canary build, which leaks on purpose: the check is \
             blind to a skipped tenant check\n{stdout}"
        ),
        _ => bail!(
            "the isolation check gave no verdict on the canary build ({}):\n{stdout}\n{stderr}",
            output.status
        ),
    }
}

/// Waits (at most a minute) until `GET /healthz` on `address` answers 200.
fn healthy(address: &str) -> Result<()> {
    use std::io::{Read as _, Write as _};
    for _ in 0..600 {
        let answer = std::net::TcpStream::connect(address).and_then(|mut stream| {
            stream.write_all(
                b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )?;
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            Ok(text)
        });
        if answer.is_ok_and(|text| text.starts_with("HTTP/1.1 200")) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!("the canary server did not answer /healthz on {address} within a minute")
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
