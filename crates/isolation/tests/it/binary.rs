//! The binary as an operator runs it: `--help`, a clean run, and a run
//! against a deployment that leaks.

use std::process::{Command, Output};

use crate::fake;

const BIN: &str = env!("CARGO_BIN_EXE_bookwarden-isolation-check");

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(args).output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_names_every_option_and_says_what_remains() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["--url", "--cases", "--ops", "--seed", "erases it", "REMAIN"] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
    let missing = Command::new(BIN).output().unwrap();
    assert!(!missing.status.success(), "--url is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_isolation_check_binary_exits_non_zero_and_prints_the_leaking_exchange() {
    let leaky = fake::start(true, 2).await;
    let out = run(vec![
        "--url".into(),
        leaky.url.clone(),
        "--cases".into(),
        "1".into(),
        "--ops".into(),
        "200".into(),
        "--seed".into(),
        "3".into(),
    ])
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("LEAK:"), "{stdout}");
    assert!(stdout.contains("isolation check FAILED"), "{stdout}");
    // The failing request (method and path with another business's id)
    // and its response (status and body) are printed.
    let request = stdout
        .lines()
        .find(|l| l.starts_with("request: GET /v1/"))
        .unwrap_or_else(|| panic!("no failing request printed:\n{stdout}"));
    assert!(request.contains("of business"), "{request}");
    assert!(stdout.contains("-> 200 {\"id\":"), "{stdout}");
    assert!(stdout.contains("seed 3"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_check_binary_passes_a_deployment_that_does_not_leak_and_waits_out_429() {
    let clean = fake::start(false, 2).await;
    let out = run(vec![
        "--url".into(),
        format!("{}/", clean.url),
        "--cases".into(),
        "2".into(),
        "--ops".into(),
        "30".into(),
    ])
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("no leak found: 60 operations"), "{stdout}");
    assert!(
        stdout.contains("2 rate-limited answer(s) waited out"),
        "{stdout}"
    );
    assert!(stdout.contains("iso-"), "the slugs left behind: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_check_binary_gives_no_verdict_when_nothing_answers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(vec!["--url".into(), format!("http://127.0.0.1:{port}")]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("no verdict"),
        "{}",
        text(&out.stderr)
    );
    let bad = run(vec!["--url".into(), "ftp://example.com".into()]).await;
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn operations_md_shows_the_check_as_it_runs() {
    // The documented command is a recipe the runner runs; here its flags
    // are checked against --help as well.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = doc
        .split("### Checking isolation on a live deployment")
        .nth(1)
        .expect("OPERATIONS.md has the section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section shows the command in a text block");
    let help = text(&Command::new(BIN).arg("--help").output().unwrap().stdout);
    let mut commands = 0;
    for line in block.lines() {
        let Some(args) = line
            .split_once(concat!("-p ", env!("CARGO_PKG_NAME"), " -- "))
            .or_else(|| line.split_once("bookwarden-isolation-check "))
            .map(|(_, args)| args)
        else {
            continue;
        };
        commands += 1;
        assert!(args.starts_with("--url "), "{line}");
        for flag in args.split_whitespace().filter(|w| w.starts_with("--")) {
            assert!(help.contains(flag), "{flag} is not an option: {line}");
        }
    }
    assert_eq!(commands, 1, "{block}");
}
