//! The documents' recipes are tests: every `sh` and `sql` block of
//! README.md, docs/API.md and docs/OPERATIONS.md runs as written, in order,
//! one shell per document, in a scratch folder, against the binary under
//! test and (for OPERATIONS.md) a scratch PostgreSQL database and roles.
//! The only changes made to the text are the substitutions that
//! docs/OPERATIONS.md section 11 lists; `substitute` is that list in code.
//!
//! A recipe passes when its shell exits 0 under `set -euo pipefail`, with
//! `curl` failing on any HTTP error answer, so a request the server refuses
//! fails the recipe as surely as a command that is not found.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::harness;

const BIN: &str = env!("CARGO_BIN_EXE_bookwarden");

/// The documents whose recipes run.
const DOCUMENTS: [&str; 3] = ["README.md", "docs/API.md", "docs/OPERATIONS.md"];

/// Info strings a fenced block in those documents may carry. Shell has one
/// name, `sh`, so no recipe can hide from the runner under another.
const KINDS: [&str; 6] = ["sh", "sql", "toml", "nginx", "text", "json"];

/// The owner's password the recipes read from `$OWNER_PASSWORD`.
const OWNER_PASSWORD: &str = "plum tree orchard 42";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One fenced block: its first line's number, its info string, its text.
struct Block {
    line: usize,
    kind: String,
    text: String,
}

/// The fenced blocks of a Markdown text. A fence may be indented (inside a
/// list); the block's lines lose that indentation.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<(usize, usize, String, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((index + 1, indent, info.trim().to_owned(), String::new()));
                }
            }
            Some((start, fence_indent, kind, mut text)) => {
                if trimmed.starts_with("```") {
                    found.push(Block {
                        line: start,
                        kind,
                        text,
                    });
                } else {
                    let cut = line
                        .char_indices()
                        .take_while(|(i, c)| *i < fence_indent && *c == ' ')
                        .count();
                    text.push_str(&line[cut..]);
                    text.push('\n');
                    open = Some((start, fence_indent, kind, text));
                }
            }
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    found
}

/// What differs between a reader's machine and the runner's.
struct Scratch {
    dir: PathBuf,
    port: u16,
    postgres: Option<Postgres>,
}

/// A scratch database and the two role names standing in for the
/// documents' `bookwarden`, `bookwarden_owner` and `bookwarden_app`.
struct Postgres {
    admin_url: String,
    host: String,
    prefix: String,
}

impl Postgres {
    fn database(&self) -> String {
        self.prefix.clone()
    }
}

/// The substitutions docs/OPERATIONS.md section 11 documents, applied to
/// one block's text.
fn substitute(text: &str, scratch: &Scratch) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let command = line.trim_start();
        // Building and the test command itself: the binary under test is
        // already built, and CI runs `cargo xtask ci`, which runs this.
        if command.starts_with("cargo build") || command.starts_with("cargo xtask ci") {
            out.push_str(": skipped: ");
            out.push_str(command);
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let port = scratch.port.to_string();
    let etc = format!("{}/etc/bookwarden", scratch.dir.display());
    let mut out = out
        .replace(
            "cargo run --release -p bookwarden-http-api --",
            "bookwarden",
        )
        .replace("cargo run -p bookwarden-http-api --", "bookwarden")
        .replace("target/release/bookwarden ", "bookwarden ")
        .replace("localhost:8080", &format!("localhost:{port}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("/etc/bookwarden", &etc)
        .replace(
            "https://book.example.com",
            &format!("http://127.0.0.1:{port}"),
        );
    if let Some(pg) = &scratch.postgres {
        out = out
            .replace(
                "127.0.0.1:5432/bookwarden",
                &format!("{}/{}", pg.host, pg.database()),
            )
            .replace(
                "DATABASE bookwarden ",
                &format!("DATABASE {} ", pg.database()),
            )
            .replace(
                "DATABASE bookwarden_keys ",
                &format!("DATABASE {}_keys ", pg.database()),
            )
            .replace("bookwarden_owner", &format!("{}_owner", pg.prefix))
            .replace("bookwarden_app", &format!("{}_app", pg.prefix));
    }
    out
}

/// The shell functions every document's script starts with: `bookwarden
/// serve` runs in the background (replacing a server already running) and
/// returns once `/healthz` answers; `curl` fails on an HTTP error answer;
/// `sql` runs a block through psql as the superuser.
fn prelude(scratch: &Scratch) -> String {
    let admin = scratch
        .postgres
        .as_ref()
        .map_or(String::new(), |pg| pg.admin_url.clone());
    format!(
        r#"set -euo pipefail
bw_log='{dir}/server.log'
bw_pid=''
bw_stop() {{
  if [ -n "$bw_pid" ]; then
    kill -TERM "$bw_pid" 2>/dev/null || true
    wait "$bw_pid" 2>/dev/null || true
    bw_pid=''
  fi
}}
trap bw_stop EXIT
bookwarden() {{
  if [ "${{1:-}}" = serve ]; then
    bw_stop
    command bookwarden "$@" >>"$bw_log" 2>&1 &
    bw_pid=$!
    for _ in $(seq 1 600); do
      if command curl -fs "http://127.0.0.1:{port}/healthz" >/dev/null 2>&1; then return 0; fi
      if ! kill -0 "$bw_pid" 2>/dev/null; then echo "the server exited" >&2; return 1; fi
      sleep 0.1
    done
    echo "the server did not answer /healthz within a minute" >&2
    return 1
  fi
  command bookwarden "$@"
}}
curl() {{ command curl --fail-with-body "$@"; }}
sql() {{ psql '{admin}' -v ON_ERROR_STOP=1 -q; }}
"#,
        dir = scratch.dir.display(),
        port = scratch.port,
    )
}

/// The script for one document, and the number of recipes in it.
fn script(document: &str, scratch: &Scratch) -> (String, usize) {
    let markdown = std::fs::read_to_string(root().join(document)).unwrap();
    let mut script = prelude(scratch);
    let mut recipes = 0;
    for block in blocks(&markdown) {
        let text = substitute(&block.text, scratch);
        match block.kind.as_str() {
            "sh" => {
                script.push_str(&format!("\n# {document}:{}\n{text}", block.line));
            }
            "sql" => {
                assert!(
                    scratch.postgres.is_some(),
                    "{document}:{}: an SQL recipe needs PostgreSQL",
                    block.line
                );
                script.push_str(&format!(
                    "\n# {document}:{}\nsql <<'BW_SQL'\n{text}BW_SQL\n",
                    block.line
                ));
            }
            _ => continue,
        }
        recipes += 1;
    }
    (script, recipes)
}

/// Runs `document`'s recipes and fails with the script, its output and
/// the server's log when they do not pass.
fn run(document: &str, postgres: Option<Postgres>) {
    let dir = std::env::temp_dir().join(format!(
        "bookwarden-recipes-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scratch = Scratch {
        dir: dir.clone(),
        port,
        postgres,
    };
    let (script, recipes) = script(document, &scratch);
    assert!(recipes > 0, "{document} has no recipe");
    let bin_dir = Path::new(BIN).parent().unwrap();
    if script.contains("bookwarden-isolation-check") {
        assert!(
            bin_dir.join("bookwarden-isolation-check").exists(),
            "{document} runs bookwarden-isolation-check, which the workspace's test build makes \
             (cargo nextest run --workspace, as cargo xtask ci does); it is missing from {}",
            bin_dir.display()
        );
    }
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("timeout");
    // The reader's own settings stay out; the runner's go in after.
    for (name, _) in std::env::vars() {
        if name.starts_with("BOOKWARDEN_") && !name.starts_with("BOOKWARDEN_TEST_") {
            command.env_remove(name);
        }
    }
    command
        .args(["600", "bash", "-c", &script])
        .current_dir(&dir)
        .env("PATH", path)
        .env("BOOKWARDEN_LISTEN", format!("127.0.0.1:{port}"))
        // Raised so the isolation check's many sign-ups, sign-ins and
        // public requests are not slowed by 429s (OPERATIONS.md section 11).
        .env("BOOKWARDEN_SIGNUP_PER_HOUR", "1000")
        .env("BOOKWARDEN_LOGIN_PER_MINUTE", "10000")
        .env("BOOKWARDEN_PUBLIC_PER_MINUTE", "100000")
        .env("OWNER_PASSWORD", OWNER_PASSWORD);
    let output = command.output().unwrap();
    let server_log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    if let Some(pg) = &scratch.postgres {
        let database = pg.database();
        // One statement per call: `DROP DATABASE` runs in no transaction,
        // and psql sends one `-c` string as one.
        for statement in [
            format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
            format!("DROP DATABASE IF EXISTS {database}_keys WITH (FORCE)"),
            format!("DROP ROLE IF EXISTS {}_owner", pg.prefix),
            format!("DROP ROLE IF EXISTS {}_app", pg.prefix),
        ] {
            let _cleanup = harness::psql(&statement);
        }
    }
    assert!(
        output.status.success(),
        "the recipes of {document} failed ({status}).\n--- script ---\n{script}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- server log ---\n{server_log}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        status = output.status,
    );
    // Shown with --no-capture: what the recipes printed.
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn recipes_in_the_readme_run_as_written() {
    run("README.md", None);
}

#[test]
fn recipes_in_api_md_run_as_written() {
    run("docs/API.md", None);
}

#[test]
fn recipes_in_operations_md_run_as_written() {
    let Some(admin_url) = harness::postgres_for_recipes() else {
        return;
    };
    let host = admin_url
        .split_once('@')
        .map_or("127.0.0.1:5432", |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let prefix = format!(
        "bw_recipe_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    run(
        "docs/OPERATIONS.md",
        Some(Postgres {
            admin_url,
            host,
            prefix,
        }),
    );
}

#[test]
fn every_block_in_the_recipe_documents_says_what_it_is() {
    for document in DOCUMENTS {
        let markdown = std::fs::read_to_string(root().join(document)).unwrap();
        for block in blocks(&markdown) {
            assert!(
                KINDS.contains(&block.kind.as_str()),
                "{document}:{}: a fenced block is `{}`; use one of {KINDS:?} (`sh` for every \
                 shell recipe, which CI runs; `text` for output)",
                block.line,
                block.kind
            );
        }
    }
}

#[test]
fn the_recipe_runner_substitutes_only_what_operations_md_documents() {
    // The documented substitutions, and nothing else: an ordinary command
    // passes through unchanged.
    let scratch = Scratch {
        dir: PathBuf::from("/tmp/s"),
        port: 4321,
        postgres: Some(Postgres {
            admin_url: String::new(),
            host: "db:5432".to_owned(),
            prefix: "bw_x".to_owned(),
        }),
    };
    let text = "cargo build --release -p bookwarden-http-api\n\
                cargo run -p bookwarden-http-api -- serve\n\
                curl -s localhost:8080/healthz\n\
                mkdir -p /etc/bookwarden\n\
                bookwarden keys generate > /etc/bookwarden/master.keys\n\
                X='postgres://bookwarden_app:P@127.0.0.1:5432/bookwarden' bookwarden migrate\n\
                echo bookwarden\n\
                bookwarden-isolation-check --url https://book.example.com\n";
    assert_eq!(
        substitute(text, &scratch),
        ": skipped: cargo build --release -p bookwarden-http-api\n\
         bookwarden serve\n\
         curl -s localhost:4321/healthz\n\
         mkdir -p /tmp/s/etc/bookwarden\n\
         bookwarden keys generate > /tmp/s/etc/bookwarden/master.keys\n\
         X='postgres://bw_x_app:P@db:5432/bw_x' bookwarden migrate\n\
         echo bookwarden\n\
         bookwarden-isolation-check --url http://127.0.0.1:4321\n"
    );
}

#[test]
fn operations_md_lists_every_command_of_the_binary() {
    // The commands `bookwarden --help` lists, with their subcommands.
    fn commands(args: &[&str]) -> Vec<String> {
        let help = Command::new(BIN).args(args).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&help.stdout).into_owned();
        text.split("Commands:")
            .nth(1)
            .unwrap_or_default()
            .split("\n\n")
            .next()
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_owned)
            .collect()
    }
    // A command with subcommands that also runs on its own (`backup`)
    // says so in its usage.
    let runs_alone = |command: &str| {
        let help = Command::new(BIN)
            .args([command, "--help"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&help.stdout)
            .contains(&format!("Usage: bookwarden {command} [OPTIONS]"))
    };
    let mut from_help = Vec::new();
    for command in commands(&[]) {
        let sub = commands(&[&command]);
        if sub.is_empty() {
            from_help.push(command);
        } else {
            if runs_alone(&command) {
                from_help.push(command.clone());
            }
            from_help.extend(sub.into_iter().map(|s| format!("{command} {s}")));
        }
    }
    from_help.sort();
    assert!(from_help.len() >= 5, "{from_help:?}");
    let markdown = std::fs::read_to_string(root().join("docs/OPERATIONS.md")).unwrap();
    let listing = blocks(&markdown)
        .into_iter()
        .find(|block| block.kind == "text" && block.text.starts_with("bookwarden serve"))
        .expect("OPERATIONS.md lists the commands in a text block starting with serve");
    let mut documented: Vec<String> = listing
        .text
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().skip(1).collect();
            let known = |n: usize| words.iter().take(n).copied().collect::<Vec<_>>().join(" ");
            if from_help.contains(&known(2)) {
                known(2)
            } else {
                known(1)
            }
        })
        .collect();
    documented.sort();
    assert_eq!(
        documented, from_help,
        "the command list at the top of docs/OPERATIONS.md differs from `bookwarden --help`"
    );
}
