//! Schemathesis (property-based API testing from the OpenAPI document)
//! against a live server, signed in as an owner: no input it generates may
//! make the server answer 5xx or answer anything the document does not
//! describe.
//!
//! `st` comes from `BOOKWARDEN_TEST_SCHEMATHESIS` or `PATH` (`.ci/run` installs
//! it into a virtualenv). Without it the test is skipped with a printed
//! reason, except under CI (`CI` set), where that is a failure.

use std::process::Command;

use crate::harness::{Options, spawn_with};

fn schemathesis() -> Option<String> {
    let candidate =
        std::env::var("BOOKWARDEN_TEST_SCHEMATHESIS").unwrap_or_else(|_| "st".to_owned());
    let works = Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    works.then_some(candidate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_response_outside_the_schema() {
    let Some(st) = schemathesis() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "schemathesis (st) is required under CI; .ci/run installs it"
        );
        eprintln!("SKIPPING schemathesis: `st` is not installed (pip install schemathesis)");
        return;
    };
    let app = spawn_with(Options {
        workers: 2,
        ..Options::default()
    })
    .await;
    let owner = app.owner().await;
    let st = st.clone();
    let url = app.url("/openapi.json");
    let auth = format!("Authorization: Bearer {}", owner.token);
    // Its caches (.hypothesis, .schemathesis) go to a scratch folder.
    let scratch =
        std::env::temp_dir().join(format!("bookwarden-st-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch).unwrap();
    let folder = scratch.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(folder)
            .args(["run", &url, "-H", &auth])
            .args(["--checks", "not_a_server_error,response_schema_conformance"])
            .args(["--max-examples", "25", "--request-timeout", "10"])
            .args(["--generation-deterministic", "--no-color"])
            .output()
    })
    .await
    .unwrap()
    .expect("st runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}"
    );
    assert!(
        !report.contains("Unresolvable"),
        "every reference resolves:\n{report}"
    );
    let _ = std::fs::remove_dir_all(scratch);
    app.finish().await;
}
