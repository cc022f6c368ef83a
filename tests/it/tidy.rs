//! Tidy checks: the architecture invariants of docs/ARCHITECTURE.md, kept
//! true by `cargo test` rather than by review.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read_toml(path: &Path) -> toml::Table {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Workspace members as (directory, manifest).
fn members() -> Vec<(PathBuf, toml::Table)> {
    let root_manifest = read_toml(&root().join("Cargo.toml"));
    root_manifest["workspace"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let dir = root().join(m.as_str().unwrap());
            let manifest = read_toml(&dir.join("Cargo.toml"));
            (dir, manifest)
        })
        .collect()
}

fn package_name(manifest: &toml::Table) -> String {
    manifest["package"]["name"].as_str().unwrap().to_owned()
}

fn deps(manifest: &toml::Table, table: &str) -> BTreeSet<String> {
    manifest
        .get(table)
        .and_then(|t| t.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// Which of our crates each crate may depend on. A crate missing here fails
/// the check: a new crate must state its place in the layering.
fn allowed_internal() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("bookwarden-domain", &[][..]),
        ("bookwarden-crypto", &[][..]),
        (
            "bookwarden-calendar-sync",
            &["bookwarden-domain", "bookwarden-crypto"][..],
        ),
        (
            "bookwarden-persistence",
            &["bookwarden-domain", "bookwarden-crypto"][..],
        ),
        (
            "bookwarden-app",
            &[
                "bookwarden-domain",
                "bookwarden-crypto",
                "bookwarden-calendar-sync",
                "bookwarden-persistence",
            ][..],
        ),
        (
            "bookwarden-http-api",
            &["bookwarden-app", "bookwarden-domain"][..],
        ),
        // The isolation check speaks HTTP only, so it can be aimed at any
        // deployment (of any version): none of our crates.
        ("bookwarden-isolation", &[][..]),
        // Test suites and tools may use anything.
        ("bookwarden-tests", &["*"][..]),
        ("xtask", &[][..]),
    ])
}

/// Third-party crates a crate must never depend on, and why.
fn forbidden_external() -> BTreeMap<&'static str, &'static [&'static str]> {
    const IO_AND_TRANSPORT: &[&str] = &[
        "tokio",
        "reqwest",
        "sea-orm",
        "sqlx",
        "actix-web",
        "utoipa",
        "serde",
        "serde_json",
        "hyper",
    ];
    BTreeMap::from([
        // The domain is pure: no I/O, no async, no HTTP or storage derives.
        ("bookwarden-domain", IO_AND_TRANSPORT),
        // The HTTP layer never reaches past the app into storage.
        (
            "bookwarden-http-api",
            &[
                "sea-orm",
                "sea-orm-migration",
                "sqlx",
                "bookwarden-persistence",
            ][..],
        ),
    ])
}

#[test]
fn tidy_dependencies_point_one_way() {
    let allowed = allowed_internal();
    let forbidden = forbidden_external();
    for (_, manifest) in members() {
        let name = package_name(&manifest);
        let rule = allowed
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} has no layering rule in tidy.rs; add one"));
        let normal = deps(&manifest, "dependencies");
        for dep in normal.iter().filter(|d| d.starts_with("bookwarden-")) {
            assert!(
                rule.contains(&"*") || rule.contains(&dep.as_str()),
                "{name} must not depend on {dep} (see docs/ARCHITECTURE.md)"
            );
        }
        if let Some(banned) = forbidden.get(name.as_str()) {
            for dep in &normal {
                assert!(
                    !banned.contains(&dep.as_str()),
                    "{name} must not depend on {dep}"
                );
            }
        }
    }
}

/// Cryptographic primitives come from one crate: `crypto` alone depends on
/// `ring`, `argon2`, `bcrypt` and `subtle`; every other crate reaches them
/// through `bookwarden-crypto` (digests, constant-time comparison, the
/// vault), so the primitives in use are chosen and reviewed in one place.
#[test]
fn tidy_only_crypto_depends_on_cryptographic_primitives() {
    const PRIMITIVES: [&str; 4] = ["ring", "argon2", "bcrypt", "subtle"];
    for (_, manifest) in members() {
        let name = package_name(&manifest);
        if name == "bookwarden-crypto" {
            continue;
        }
        for dep in deps(&manifest, "dependencies") {
            assert!(
                !PRIMITIVES.contains(&dep.as_str()),
                "{name} depends on {dep}: use bookwarden-crypto instead"
            );
        }
    }
}

#[test]
fn tidy_members_take_versions_from_the_workspace() {
    for (dir, manifest) in members() {
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(entries) = manifest.get(table).and_then(|t| t.as_table()) else {
                continue;
            };
            for (dep, spec) in entries {
                let inherits = spec.get("workspace").and_then(toml::Value::as_bool) == Some(true);
                assert!(
                    inherits,
                    "{}: [{table}] {dep} must be `{dep}.workspace = true`, its version and reason kept in the root Cargo.toml",
                    dir.display()
                );
            }
        }
        assert_eq!(
            manifest["package"]
                .get("publish")
                .and_then(|p| p.get("workspace"))
                .and_then(toml::Value::as_bool),
            Some(true),
            "{}: publish.workspace = true (members are not published)",
            dir.display()
        );
    }
}

/// The `isolation-canary` feature (a deliberately leaking build, see
/// crates/app/Cargo.toml) is only ever asked for on the command line, in
/// its own target dir (`cargo xtask canary`): no dependency entry, no
/// workspace dependency and no default feature may turn it on, or every
/// build that unified it would skip a tenant check.
#[test]
fn tidy_the_isolation_canary_is_enabled_by_no_dependency() {
    const CANARY: &str = "isolation-canary";
    let mentions = |value: &toml::Value| value.to_string().contains(CANARY);
    let root_manifest = read_toml(&root().join("Cargo.toml"));
    for (dep, spec) in root_manifest["workspace"]["dependencies"]
        .as_table()
        .unwrap()
    {
        assert!(!mentions(spec), "root Cargo.toml: {dep} turns on {CANARY}");
    }
    let mut declared = 0;
    for (dir, manifest) in members() {
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(entries) = manifest.get(table).and_then(|t| t.as_table()) else {
                continue;
            };
            for (dep, spec) in entries {
                assert!(
                    !mentions(spec),
                    "{}: [{table}] {dep} turns on {CANARY}",
                    dir.display()
                );
            }
        }
        let Some(features) = manifest.get("features").and_then(|f| f.as_table()) else {
            continue;
        };
        for (feature, enables) in features {
            if feature == CANARY {
                declared += 1;
            } else {
                assert!(
                    !mentions(enables),
                    "{}: feature {feature} turns on {CANARY}",
                    dir.display()
                );
            }
        }
    }
    assert_eq!(
        declared, 2,
        "declared by bookwarden-app and forwarded by bookwarden-http-api"
    );
}

#[test]
fn tidy_every_workspace_dependency_says_why() {
    let text = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut previous = "";
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('[') {
            in_deps = line == "[workspace.dependencies]";
        } else if in_deps && !line.starts_with('#') && !line.starts_with("bookwarden-") {
            assert!(
                previous.starts_with('#'),
                "root Cargo.toml: `{line}` needs a one-line `#` reason right above it"
            );
        }
        previous = line;
    }
}

/// Every Rust file of ours, outside target/.
fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for top in ["crates", "xtask", "tests"] {
        let dir = root().join(top);
        if dir.exists() {
            walk(&dir, &mut out);
        }
    }
    out.sort();
    assert!(out.len() > 10, "the walk found too few files: {out:?}");
    out
}

#[test]
fn tidy_every_module_starts_with_a_doc_comment() {
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(
            first.starts_with("//!"),
            "{} must start with a `//!` comment saying what the module is for",
            path.display()
        );
    }
}

#[test]
fn tidy_no_test_is_ignored() {
    // Built from parts so this file does not match itself.
    let needles = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap();
        for needle in needles {
            assert!(
                !text.contains(needle),
                "{} uses {needle}]: a test that does not run, or passes by panicking, proves nothing",
                path.display()
            );
        }
    }
}

#[test]
fn tidy_security_md_names_only_tests_that_exist() {
    let doc = fs::read_to_string(root().join("docs").join("SECURITY.md")).unwrap();
    let mut functions = BTreeSet::new();
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let mut rest = line.trim_start();
            for prefix in ["pub(crate) ", "pub ", "async "] {
                rest = rest.strip_prefix(prefix).unwrap_or(rest);
            }
            if let Some(rest) = rest.strip_prefix("fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                functions.insert(name);
            }
        }
    }
    // The tests column is the third of the promise table; every
    // backticked snake_case word there must be a test function.
    let mut named = 0;
    for row in doc.lines().filter(|l| l.starts_with("| P")) {
        let Some(tests) = row.split('|').nth(3) else {
            continue;
        };
        for (i, part) in tests.split('`').enumerate() {
            let is_name = i % 2 == 1
                && part.contains('_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                named += 1;
                assert!(
                    functions.contains(part),
                    "docs/SECURITY.md names `{part}`, which is not a test"
                );
            }
        }
    }
    assert!(named > 0, "docs/SECURITY.md names no tests at all");
}
