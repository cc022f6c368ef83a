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
        // Calendar sync knows no database and no HTTP server: another
        // service can embed it on its own.
        (
            "bookwarden-calendar-sync",
            &["sea-orm", "sqlx", "actix-web", "bookwarden-persistence"][..],
        ),
        // The use cases read no settings file and serve no HTTP: the
        // server's configuration and transport (and their serde-derived
        // bodies) are http-api's. serde_json is allowed for one thing, the
        // data-rights export documents, a format of the product's own
        // (versioned, with published schemas) that the API and the
        // command line must write byte for byte alike.
        (
            "bookwarden-app",
            &["actix-web", "clap", "toml", "serde", "utoipa"][..],
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

/// `text` with comments and string and character literals blanked
/// (newlines kept, so line numbers still hold), for scanning code by its
/// brackets without tripping on a `{` in a string.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        match literal_end(&chars, i) {
            Some(end) => {
                let end = end.min(chars.len());
                out.extend(
                    chars[i..end]
                        .iter()
                        .map(|&c| if c == '\n' { '\n' } else { ' ' }),
                );
                i = end;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// Where the comment or literal starting at `i` ends (just past it), or
/// `None` when none starts there.
fn literal_end(chars: &[char], i: usize) -> Option<usize> {
    let at = |j: usize| chars.get(j).copied();
    let find = |from: usize, what: &str| {
        let what: Vec<char> = what.chars().collect();
        (from..chars.len())
            .find(|&j| chars[j..].starts_with(&what))
            .map_or(chars.len(), |j| j + what.len())
    };
    match (at(i)?, at(i + 1)) {
        ('/', Some('/')) => Some(find(i, "\n") - 1),
        ('/', Some('*')) => {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j..].starts_with(&['/', '*']) {
                    depth += 1;
                    j += 2;
                } else if chars[j..].starts_with(&['*', '/']) {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        return Some(j);
                    }
                } else {
                    j += 1;
                }
            }
            Some(j)
        }
        ('r', Some('"' | '#')) => {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            (at(i + 1 + hashes) == Some('"')).then(|| {
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                find(i + 2 + hashes, &close)
            })
        }
        ('"', _) => {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            Some(j + 1)
        }
        // A character literal; a lifetime has no closing quote.
        ('\'', Some('\\')) => Some(find(i + 3, "'")),
        ('\'', _) if at(i + 2) == Some('\'') => Some(i + 3),
        _ => None,
    }
}

/// The index just past the bracket closing the one opening at `open`.
fn past_closing(code: &[char], open: usize) -> usize {
    let mut depth = 0_i32;
    for (j, &c) in code.iter().enumerate().skip(open) {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// `list` split at the commas outside any bracket (`<>` included).
fn top_level_items(list: &str) -> Vec<String> {
    let mut items = vec![String::new()];
    let mut depth = 0_i32;
    let mut previous = ' ';
    for c in list.chars() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            // `->` is no closing angle bracket.
            '>' if previous != '-' => depth -= 1,
            ',' if depth == 0 => {
                items.push(String::new());
                previous = c;
                continue;
            }
            _ => {}
        }
        items.last_mut().unwrap().push(c);
        previous = c;
    }
    items
}

/// Whether a parameter or field of this name holds an id or an instant.
fn names_an_id_or_instant(name: &str) -> bool {
    const NAMES: [&str; 12] = [
        "id", "staff", "service", "customer", "user", "booking", "from", "to", "start", "end",
        "at", "time_off",
    ];
    NAMES.contains(&name) || name.ends_with("_id") || name.ends_with("_at")
}

/// Whether a type spells text: `&str`, `String`, or anything holding them
/// (`Option<&str>`, `&[String]`, `Vec<String>`, a tuple of strings).
fn is_text(ty: &str) -> bool {
    ty.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == "str" || word == "String")
}

/// The `name: type` pairs of one parameter or field list, attributes and
/// `pub` left out; `self` receivers and items without a type skipped.
fn typed_names(list: &str) -> Vec<(String, String)> {
    top_level_items(list)
        .iter()
        .filter_map(|item| {
            let mut item = item.trim();
            while item.starts_with("#[") {
                let chars: Vec<char> = item.chars().collect();
                let end = past_closing(&chars, 1);
                item = item[chars[..end].iter().map(|c| c.len_utf8()).sum::<usize>()..].trim();
            }
            let (name, ty) = item.split_once(':')?;
            let name = name
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("mut ")
                .trim();
            Some((
                name.to_owned(),
                ty.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .collect()
}

/// Code with every `#[cfg(test)]` module cut out (tests are not API).
fn without_test_modules(code: &str) -> String {
    let mut code = code.to_owned();
    while let Some(at) = code.find("#[cfg(test)]") {
        let chars: Vec<char> = code.chars().collect();
        let start = code[..at].chars().count();
        let Some(open) = (start..chars.len()).find(|&j| matches!(chars[j], '{' | ';')) else {
            break;
        };
        let end = if chars[open] == '{' {
            past_closing(&chars, open)
        } else {
            open + 1
        };
        // Keep the lines, so the line numbers below still hold.
        let cut: String = chars[start..end]
            .iter()
            .map(|&c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        code = chars[..start].iter().collect::<String>()
            + &cut
            + &chars[end..].iter().collect::<String>();
    }
    code
}

/// Public functions and public struct fields of `code` that take an id or
/// an instant as text, as `line: what` lines.
fn text_ids_in(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let line_of = |index: usize| chars[..index].iter().filter(|&&c| c == '\n').count() + 1;
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let rest: String = chars[i..chars.len().min(i + 24)].iter().collect();
        if at_word
            && (rest.starts_with("pub fn ")
                || rest.starts_with("pub async fn ")
                || rest.starts_with("pub const fn "))
        {
            // The parameters: from the first `(` after the name to its
            // match, across as many lines as they take.
            let Some(open) = (i..chars.len()).find(|&j| chars[j] == '(') else {
                break;
            };
            let end = past_closing(&chars, open);
            let head: String = chars[i..open].iter().collect();
            let params: String = chars[open + 1..end - 1].iter().collect();
            for (name, ty) in typed_names(&params) {
                if names_an_id_or_instant(&name) && is_text(&ty) {
                    found.push(format!(
                        "{}: `{}` takes `{name}: {ty}`",
                        line_of(i),
                        head.trim()
                    ));
                }
            }
            i = end;
        } else if at_word && rest.starts_with("pub struct ") {
            let (end, fields) = struct_offences(&chars, i);
            found.extend(fields.into_iter().map(|f| format!("{}: {f}", line_of(i))));
            i = end;
        } else {
            i += 1;
        }
    }
    found
}

/// The public fields of the struct declared at `i` that hold an id or an
/// instant as text, and where its declaration ends.
fn struct_offences(chars: &[char], i: usize) -> (usize, Vec<String>) {
    let Some(open) = (i..chars.len()).find(|&j| matches!(chars[j], '{' | '(' | ';')) else {
        return (chars.len(), Vec::new());
    };
    let head: String = chars[i..open].iter().collect();
    if chars[open] != '{' {
        // A tuple or unit struct: no named fields.
        return (open + 1, Vec::new());
    }
    let end = past_closing(chars, open);
    let body: String = chars[open + 1..end - 1].iter().collect();
    let mut found = Vec::new();
    for item in top_level_items(&body) {
        // Only public fields are API.
        let public = item.split_whitespace().any(|w| w == "pub");
        for (name, ty) in typed_names(&item) {
            if public && names_an_id_or_instant(&name) && is_text(&ty) {
                found.push(format!("`{}` has `{name}: {ty}`", head.trim()));
            }
        }
    }
    (end, found)
}

/// Every `.rs` file under `dir`.
fn rust_files_under(dir: &Path) -> Vec<PathBuf> {
    rust_files()
        .into_iter()
        .filter(|p| p.starts_with(dir))
        .collect()
}

#[test]
fn tidy_app_takes_no_id_or_instant_as_text() {
    // Parsing is the HTTP layer's: the app's use cases take the domain's
    // id types and `Timestamp`, so a booking id cannot go where a staff id
    // belongs and a malformed one never gets this far.
    let app = root().join("crates").join("app").join("src");
    let files = rust_files_under(&app);
    assert!(files.len() > 5, "found too few app files: {files:?}");
    let mut offences = Vec::new();
    for path in files {
        let code = without_test_modules(&code_only(&fs::read_to_string(&path).unwrap()));
        for what in text_ids_in(&code) {
            offences.push(format!(
                "{}:{what}",
                path.strip_prefix(root()).unwrap().display()
            ));
        }
    }
    assert!(
        offences.is_empty(),
        "ids and instants reach the app parsed (a domain id type, `Timestamp`), never as text:\n{}",
        offences.join("\n")
    );
}

#[test]
fn tidy_the_text_id_scan_sees_what_it_must() {
    // The scanner itself, on code shaped like what it must catch and
    // what it must let through.
    let code = code_only(
        r#"
        pub async fn book(
            &self,
            principal: &Principal,
            staff_id: Option<&'a str>,
            start: Timestamp,
        ) -> Result<(), E> { let s = "pub fn f(id: &str)"; }
        pub fn fine(&self, slug: &str, id: BookingId) {}
        pub struct Request<'a> {
            /// The service.
            #[allow(unused)]
            pub service: String,
            pub(crate) end: String,
            pub customer: (String, String),
            pub seats: u16,
        }
        #[cfg(test)]
        mod tests { pub fn helper(id: &str) {} }
        "#,
    );
    let found = text_ids_in(&without_test_modules(&code));
    // Not `fine`, not the crate-private `end`, not the test helper.
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].contains("staff_id: Option<&'a str>"), "{found:#?}");
    assert!(found[1].contains("service: String"), "{found:#?}");
    assert!(
        found[2].contains("customer: (String, String)"),
        "{found:#?}"
    );
}
