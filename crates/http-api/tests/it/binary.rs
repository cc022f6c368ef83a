//! The `bookwarden` binary as a newcomer runs it: `serve` with no setup,
//! its log output (P9: no secret in any line), graceful shutdown on
//! SIGTERM, and the operator commands.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bookwarden");

pub(crate) fn folder() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("bookwarden-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Served {
    child: Child,
    base: String,
    http: reqwest::Client,
}

async fn serve(data: &Path, extra_env: &[(&str, &str)]) -> Served {
    let port = free_port();
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("BOOKWARDEN_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let child = command.spawn().unwrap();
    let served = Served {
        child,
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    for _ in 0..600 {
        if let Ok(response) = served
            .http
            .get(format!("{}/healthz", served.base))
            .send()
            .await
            && response.status() == 200
        {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not answer /healthz within a minute");
}

impl Served {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        response.json().await.unwrap_or(Value::Null)
    }

    /// Sends SIGTERM and returns (exit success, stdout, stderr).
    fn stop(mut self) -> (bool, String, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        let mut out = String::new();
        let mut err = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status.success(), out, err)
    }
}

#[tokio::test]
async fn readme_serve_runs_with_no_setup_and_stops_gracefully_on_sigterm() {
    let data = folder().join("bookwarden-data");
    let served = serve(&data, &[]).await;
    let ready = served
        .http
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = served
        .http
        .get(format!("{}/metrics", served.base))
        .send()
        .await
        .unwrap();
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("http_requests_total")
    );
    let key = data.join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the development key is private");
        let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
    assert!(data.join("bookwarden.db").exists());
    let (success, out, err) = served.stop();
    assert!(success, "SIGTERM stops it cleanly: {err}");
    assert!(
        err.contains("DEVELOPMENT MASTER KEY"),
        "a loud warning: {err}"
    );
    assert!(out.contains("bookwarden stopped"), "{out}");
    let _ = std::fs::remove_dir_all(data.parent().unwrap());
}

#[tokio::test]
async fn p9_no_secret_token_or_password_appears_in_any_log_line() {
    let dir = folder();
    let served = serve(
        &dir,
        &[
            ("BOOKWARDEN_LOG_FORMAT", "json"),
            ("BOOKWARDEN_LOG", "debug"),
        ],
    )
    .await;
    let password = "zebra crossing at dawn 77";
    let wrong = "obviously wrong secret 55";
    let mut secrets = vec![password.to_owned(), wrong.to_owned()];
    served
        .post(
            "/v1/signup",
            None,
            json!({
                "tenant_name": "Log Test", "slug": "log-test", "time_zone": "UTC",
                "email": "owner@log.example", "name": "Olive", "password": password,
            }),
        )
        .await;
    served
        .post(
            "/v1/sessions",
            None,
            json!({ "tenant": "log-test", "email": "owner@log.example", "password": wrong }),
        )
        .await;
    let login = served
        .post(
            "/v1/sessions",
            None,
            json!({ "tenant": "log-test", "email": "owner@log.example", "password": password }),
        )
        .await;
    let token = login["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned();
    secrets.push(token.clone());
    secrets.push(login["csrf_token"].as_str().unwrap().to_owned());
    let key = served
        .post(
            "/v1/api-keys",
            Some(&token),
            json!({ "name": "k", "scopes": ["read"] }),
        )
        .await;
    secrets.push(key["token"].as_str().unwrap().to_owned());
    let invitation = served
        .post(
            "/v1/invitations",
            Some(&token),
            json!({ "email": "sam@log.example", "role": "staff" }),
        )
        .await;
    secrets.push(invitation["token"].as_str().unwrap().to_owned());
    let staff_password = "another long passphrase 3";
    secrets.push(staff_password.to_owned());
    served
        .post(
            "/v1/invitations/accept",
            None,
            json!({ "token": invitation["token"], "name": "Sam", "password": staff_password }),
        )
        .await;
    let staff: Value = served
        .post(
            "/v1/sessions",
            None,
            json!({ "tenant": "log-test", "email": "sam@log.example", "password": staff_password }),
        )
        .await;
    let reset = served
        .post(
            &format!(
                "/v1/users/{}/password-reset",
                staff["user_id"].as_str().unwrap()
            ),
            Some(&token),
            json!(null),
        )
        .await;
    let reset_token = reset["reset_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{reset}"))
        .to_owned();
    secrets.push(reset_token.clone());
    let new_staff_password = "reset words for sam 4";
    secrets.push(new_staff_password.to_owned());
    served
        .post(
            "/v1/password-resets",
            None,
            json!({ "token": reset_token, "new_password": new_staff_password }),
        )
        .await;
    let totp = served
        .post("/v1/me/totp", Some(&token), json!({ "password": password }))
        .await;
    let uri = totp["otpauth_uri"].as_str().unwrap().to_owned();
    let seed = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap()
        .to_owned();
    secrets.push(seed);
    served
        .post(
            "/v1/me/password",
            Some(&token),
            json!({ "current_password": password, "new_password": "x" }),
        )
        .await;
    // A 500-free failure path that logs: a malformed token.
    served
        .http
        .get(format!("{}/v1/me", served.base))
        .bearer_auth("bw_ses_not-a-real-token")
        .send()
        .await
        .unwrap();
    let (success, out, err) = served.stop();
    assert!(success);
    assert!(out.lines().count() > 10, "it did log: {out}");
    assert!(out.lines().all(|l| l.starts_with('{')), "JSON lines");
    assert!(
        out.contains("request_id") && out.contains("tenant"),
        "{out}"
    );
    for secret in &secrets {
        assert!(!out.contains(secret.as_str()), "stdout leaks {secret}");
        assert!(!err.contains(secret.as_str()), "stderr leaks {secret}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn run(args: &[&str], data: &Path, env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("BOOKWARDEN_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn operator_commands_create_tenants_and_rotate_master_keys() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for word in ["serve", "migrate", "keys", "tenant"] {
        assert!(help.contains(word), "{help}");
    }
    let data = folder();
    let key = |version: &str| {
        let out = Command::new(BIN)
            .args(["keys", "generate", "--version", version])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (one, two) = (key("1"), key("2"));
    assert!(one.starts_with("1:") && two.starts_with("2:") && one != two);
    let first = [("BOOKWARDEN_MASTER_KEYS", one.as_str())];
    let (ok, out, err) = run(
        &[
            "tenant",
            "create",
            "--name",
            "CLI Clinic",
            "--slug",
            "cli-clinic",
            "--owner-email",
            "o@cli.example",
            "--owner-name",
            "Olive",
        ],
        &data,
        &first,
        "password from stdin 1\n",
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("tenant "), "{out}");
    assert!(!err.contains("DEVELOPMENT"), "configured keys are used");
    // The privileged-access review: the owner, no second factor, never
    // signed in.
    let (ok, out, err) = run(
        &["tenant", "report", "--slug", "cli-clinic"],
        &data,
        &first,
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "owner\to@cli.example\tactive\ttwo-factor off\tlast sign-in never"
    );
    assert!(
        err.contains("1 privileged account(s) in cli-clinic"),
        "{err}"
    );
    let (ok, _, err) = run(
        &["tenant", "report", "--slug", "no-such-one"],
        &data,
        &first,
        "",
    );
    assert!(!ok && err.contains("error"), "{err}");
    let (ok, _, err) = run(
        &[
            "tenant",
            "create",
            "--name",
            "Weak",
            "--slug",
            "weak-one",
            "--owner-email",
            "w@cli.example",
            "--owner-name",
            "W",
        ],
        &data,
        &first,
        "short\n",
    );
    assert!(!ok && err.contains("password"), "{err}");
    let both = format!("{one},{two}");
    let rotate_env = [("BOOKWARDEN_MASTER_KEYS", both.as_str())];
    let (ok, _, err) = run(&["keys", "rotate"], &data, &rotate_env, "");
    assert!(ok, "{err}");
    assert!(err.contains("1 tenant(s), 1 rewrapped"), "{err}");
    let (ok, _, err) = run(&["keys", "rotate"], &data, &rotate_env, "");
    assert!(
        ok && err.contains("0 rewrapped, 1 already current"),
        "{err}"
    );
    // The rewrapped key opens with the new master key alone.
    let second = [("BOOKWARDEN_MASTER_KEYS", two.as_str())];
    let (ok, _, err) = run(&["keys", "rotate"], &data, &second, "");
    assert!(ok && err.contains("1 already current"), "{err}");
    let (ok, _, err) = run(
        &["serve"],
        &data,
        &[("BOOKWARDEN_MASTER_KEYS", "1:not-base64")],
        "",
    );
    assert!(
        !ok && err.contains("master_keys") && !err.contains("not-base64"),
        "{err}"
    );
    let served = serve(&data, &second).await;
    let login = served
        .post("/v1/sessions", None, json!({ "tenant": "cli-clinic", "email": "o@cli.example", "password": "password from stdin 1" }))
        .await;
    let token = login["token"].as_str().unwrap().to_owned();
    let totp = served
        .post(
            "/v1/me/totp",
            Some(&token),
            json!({ "password": "password from stdin 1" }),
        )
        .await;
    assert!(
        totp["otpauth_uri"].is_string(),
        "the tenant's data key unwraps: {totp}"
    );
    let (success, _, _) = served.stop();
    assert!(success);
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn p7_built_in_tls_serves_https_with_hsts() {
    let dir = folder();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes the test certificate (.ci/run installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("BOOKWARDEN_TLS_CERT", &cert)
        .env("BOOKWARDEN_TLS_KEY", &key)
        .env_remove("BOOKWARDEN_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pem = std::fs::read(&cert).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/healthz");
    let mut answer = Err(String::new());
    for _ in 0..100 {
        match https.get(&url).send().await {
            Ok(response) => {
                answer = Ok(response);
                break;
            }
            Err(error) => answer = Err(format!("{error:?}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = answer.unwrap_or_else(|e| panic!("no answer over HTTPS: {e}"));
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "no plain HTTP on the TLS port"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// Resident memory of process `pid` in KiB (`VmRSS`).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"))
}

/// Sends `batches` batches of 64 pipelined `GET /healthz` on one
/// keep-alive connection to `address`, waiting for each batch's answers.
fn pipelined_healthz(address: &str, batches: usize) {
    const BATCH: usize = 64;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let requests = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(BATCH);
    let mut buffer = vec![0_u8; 64 * 1024];
    for _ in 0..batches {
        stream.write_all(&requests).unwrap();
        // Each answer ends with its body, {"status":"ok"}, and no header
        // has a closing brace: count them.
        let mut answered = 0;
        while answered < BATCH {
            let read = stream.read(&mut buffer).unwrap();
            assert!(read > 0, "the server closed the connection");
            let chunk = &buffer[..read];
            assert!(
                !chunk.starts_with(b"HTTP/1.1 ") || chunk.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(chunk)
            );
            answered += chunk.iter().filter(|&&b| b == b'}').count();
        }
        assert_eq!(answered, BATCH, "one answer per request");
    }
}

#[tokio::test]
async fn metrics_memory_stays_bounded_with_no_scraper() {
    // Nothing ever asks for /metrics here: the recorder's upkeep alone
    // must fold request-duration samples into their buckets. Without it
    // every request left about 17 bytes behind for good (about 15 MiB for
    // these requests); with it the growth levels off near 2.5 MiB, most
    // of it the samples of the last few seconds, waiting for the upkeep.
    const CONNECTIONS: usize = 4;
    const WARM_UP_BATCHES: usize = 150;
    const ROUNDS: usize = 12;
    const BATCHES_PER_ROUND: usize = 300;
    const BOUND_KIB: u64 = 6 * 1024;
    let dir = folder();
    let served = serve(&dir, &[("BOOKWARDEN_LOG", "warn")]).await;
    let pid = served.child.id();
    let address = served.base.trim_start_matches("http://").to_owned();
    let drive = |batches: usize| {
        std::thread::scope(|scope| {
            for _ in 0..CONNECTIONS {
                scope.spawn(|| pipelined_healthz(&address, batches));
            }
        });
    };
    drive(WARM_UP_BATCHES);
    let settled = resident_kib(pid);
    let mut highest = settled;
    for round in 1..=ROUNDS {
        drive(BATCHES_PER_ROUND);
        let now = resident_kib(pid);
        highest = highest.max(now);
        eprintln!(
            "after {} requests: VmRSS {now} KiB ({:+} KiB since warm-up)",
            round * BATCHES_PER_ROUND * CONNECTIONS * 64,
            i128::from(now) - i128::from(settled)
        );
    }
    let requests = ROUNDS * BATCHES_PER_ROUND * CONNECTIONS * 64;
    let (success, _, err) = served.stop();
    assert!(success, "{err}");
    assert!(
        highest <= settled + BOUND_KIB,
        "resident memory grew from {settled} KiB to {highest} KiB over {requests} requests \
         with no scraper (bound: {BOUND_KIB} KiB)"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Requests no HTTP/1.1 parser should accept, sent as bytes over TCP. Each
/// carries `HOSTILE_MARKER`, which must never reach a log line.
fn hostile_requests() -> Vec<(&'static str, Vec<u8>)> {
    let marker = HOSTILE_MARKER;
    vec![
        (
            "garbage request line",
            format!("{marker} \r\n\r\n").into_bytes(),
        ),
        (
            "unknown HTTP version",
            format!("GET /{marker} HTTP/9.9\r\nHost: x\r\n\r\n").into_bytes(),
        ),
        (
            "space in a header name",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nBad {marker}: y\r\n\r\n").into_bytes(),
        ),
        (
            "control byte in a header value",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: {marker}\u{1}\r\n\r\n")
                .into_bytes(),
        ),
        (
            "header without a colon",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{marker}\r\n\r\n").into_bytes(),
        ),
        (
            "invalid bytes in the target",
            [
                b"GET /".as_slice(),
                marker.as_bytes(),
                b"\xff\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
            ]
            .concat(),
        ),
        (
            "two different Content-Length",
            format!(
                "POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\
                 Content-Length: 4\r\n\r\n{marker}"
            )
            .into_bytes(),
        ),
        (
            "Content-Length and Transfer-Encoding",
            format!(
                "POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{marker}"
            )
            .into_bytes(),
        ),
        (
            "bad chunked encoding",
            format!(
                "POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\nZZ{marker}\r\n{{}}\r\n0\r\n\r\n"
            )
            .into_bytes(),
        ),
        (
            "oversized header",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {marker}{}\r\n\r\n",
                "a".repeat(64 * 1024)
            )
            .into_bytes(),
        ),
        (
            "too many headers",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..200)
                    .map(|n| format!("X-{marker}-{n}: y\r\n"))
                    .collect::<String>()
            )
            .into_bytes(),
        ),
    ]
}

const HOSTILE_MARKER: &str = "hostile7f3a";

/// Sends `bytes` on a fresh connection to `address` and reads until the
/// server closes it; returns what came back.
fn send_raw(address: &str, bytes: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("no answer and no close: {error}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_clients_malformed_requests_log_warn_lines_and_never_error() {
    let dir = folder();
    let served = serve(&dir, &[("BOOKWARDEN_LOG_FORMAT", "json")]).await;
    let address = served.base.trim_start_matches("http://").to_owned();
    let corpus = hostile_requests();
    for (what, bytes) in &corpus {
        let answer = send_raw(&address, bytes);
        assert!(
            answer.starts_with("HTTP/1.1 4"),
            "{what}: a 4xx, then the connection closes: {answer:?}"
        );
    }
    // Still serving, and its own lines are still written.
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let (success, out, err) = served.stop();
    assert!(success, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert!(
        errors.is_empty(),
        "no ERROR for a client's fault: {errors:?}"
    );
    let warnings: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l["message"] == "malformed request")
        .collect();
    assert!(
        !warnings.is_empty(),
        "a WARN line for each malformed request: {out}"
    );
    for warning in &warnings {
        let id = warning["request_id"].as_str().unwrap_or_default();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{warning}"
        );
        assert!(
            warning["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("request parse error")),
            "{warning}"
        );
    }
    assert!(
        lines.iter().any(|l| l["message"] == "handled"),
        "request lines still written: {out}"
    );
    assert!(
        !out.contains(HOSTILE_MARKER) && !err.contains(HOSTILE_MARKER),
        "the bytes received are never logged: {out}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn migrate_on_a_fresh_postgres_database_logs_no_info_notices() {
    use crate::harness::{Engine, engines};
    if !engines().contains(&Engine::Postgres) {
        return;
    }
    let admin = std::env::var("BOOKWARDEN_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .arg(&admin)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let name = format!("bookwarden_migrate_{}", uuid::Uuid::new_v4().simple());
    psql(&format!("CREATE DATABASE {name}"));
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let data = folder();
    let key = bookwarden_app::keys::generate_entry(1).unwrap();
    let env = [
        ("BOOKWARDEN_DATABASE_LOCAL", url.as_str()),
        ("BOOKWARDEN_MASTER_KEYS", key.expose_secret()),
        ("BOOKWARDEN_LOG", "info"),
    ];
    let (ok, out, err) = run(&["migrate"], &data, &env, "");
    // A second run finds everything in place: the notices PostgreSQL has
    // most to say about.
    let (again, _, err_again) = run(&["migrate"], &data, &env, "");
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    let _ = std::fs::remove_dir_all(data);
    assert!(ok, "{err}");
    assert!(again, "{err_again}");
    assert!(err.contains("migrated 1 database(s)"), "{err}");
    for log in [&out, &err, &err_again] {
        assert!(
            !log.contains("seaql_migrations") && !log.contains("already exists"),
            "PostgreSQL's notices stay below INFO: {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_no_calendar_field_feed_address_or_provider_body_appears_in_any_log_line() {
    use crate::calendars::{Answer, FakeFeed, fake_provider, markers, meeting, query_value};
    let dir = folder();
    let provider = fake_provider::fake().await;
    let ca = dir.join("provider-ca.pem");
    std::fs::write(&ca, &provider.cert).unwrap();
    let graph_start = bookwarden_domain::jiff::Timestamp::now()
        + bookwarden_domain::jiff::SignedDuration::from_hours(30);
    provider.state.lock().unwrap().graph_events = vec![json!({
        "id": "graph-1",
        "start": { "dateTime": graph_start.strftime("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" },
        "end": { "dateTime": (graph_start + bookwarden_domain::jiff::SignedDuration::from_hours(1)).strftime("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" },
        "isAllDay": false, "showAs": "busy", "isCancelled": false, "subject": "SUBJECT-Graph-Secret",
    })];
    let password = "calendar log words 81";
    let (ok, _, err) = run(
        &[
            "tenant",
            "create",
            "--name",
            "Log Calendars",
            "--slug",
            "log-calendars",
            "--owner-email",
            "o@logcal.example",
            "--owner-name",
            "Olive",
        ],
        &dir,
        &[],
        &format!("{password}\n"),
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        &["tenant", "plan", "--slug", "log-calendars", "--plan", "pro"],
        &dir,
        &[],
        "",
    );
    assert!(ok, "{err}");
    let when = bookwarden_domain::jiff::Timestamp::now()
        + bookwarden_domain::jiff::SignedDuration::from_hours(48);
    let feed = FakeFeed::start(meeting(when, "SUBJECT-Secret-Meeting", "log")).await;
    let feed_token = format!("private-{}", uuid::Uuid::new_v4().simple());
    let served = serve(
        &dir,
        &[
            ("BOOKWARDEN_LOG_FORMAT", "json"),
            ("BOOKWARDEN_LOG", "debug"),
            ("BOOKWARDEN_CALENDAR_ALLOW_LOOPBACK", "true"),
            ("BOOKWARDEN_CALENDAR_EXTRA_CA_FILE", ca.to_str().unwrap()),
            (
                "BOOKWARDEN_CALENDAR_OAUTH_REDIRECT_URL",
                "https://book.example.com/cb",
            ),
            ("BOOKWARDEN_MICROSOFT_CLIENT_ID", fake_provider::CLIENT_ID),
            (
                "BOOKWARDEN_MICROSOFT_CLIENT_SECRET",
                fake_provider::CLIENT_SECRET,
            ),
            (
                "BOOKWARDEN_MICROSOFT_AUTH_URL",
                &format!("{}/authorize", provider.base),
            ),
            (
                "BOOKWARDEN_MICROSOFT_TOKEN_URL",
                &format!("{}/token", provider.base),
            ),
            (
                "BOOKWARDEN_MICROSOFT_API_URL",
                &format!("{}/v1.0/", provider.base),
            ),
        ],
    )
    .await;
    let login = served
        .post(
            "/v1/sessions",
            None,
            json!({ "tenant": "log-calendars", "email": "o@logcal.example", "password": password }),
        )
        .await;
    let token = login["token"].as_str().unwrap().to_owned();
    let staff = served
        .post("/v1/staff", Some(&token), json!({ "name": "Sam" }))
        .await;
    let connected = served
        .post(
            "/v1/calendar-connections",
            Some(&token),
            json!({
                "staff_id": staff["id"], "kind": "ics", "url": feed.url(&feed_token),
                "mode": "with_subject",
            }),
        )
        .await;
    let id = connected["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{connected}"));
    let sync = format!("/v1/calendar-connections/{id}/sync");
    for answer in [Answer::Status(500), Answer::Status(401), Answer::Calendar] {
        feed.answer(answer);
        let view = served.post(&sync, Some(&token), json!(null)).await;
        assert!(view["health"].is_string(), "{view}");
    }
    let deleted = served
        .http
        .delete(format!("{}/v1/calendar-connections/{id}", served.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    // A Microsoft calendar through OAuth, with subjects: its code, state,
    // tokens and client secret never reach a log line either.
    let started = served
        .post(
            "/v1/calendar-connections/oauth",
            Some(&token),
            json!({ "staff_id": staff["id"], "provider": "microsoft", "mode": "with_subject" }),
        )
        .await;
    let url: reqwest::Url = started["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .parse()
        .unwrap();
    let state = query_value(&url, "state").unwrap();
    provider.state.lock().unwrap().codes.insert(
        "code-for-logs-7781".to_owned(),
        query_value(&url, "code_challenge").unwrap(),
    );
    let connected = served
        .post(
            "/v1/calendar-connections/oauth/complete",
            Some(&token),
            json!({ "code": "code-for-logs-7781", "state": state }),
        )
        .await;
    let graph_id = connected["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{connected}"));
    provider.state.lock().unwrap().failing = Some(503);
    let view = served
        .post(
            &format!("/v1/calendar-connections/{graph_id}/sync"),
            Some(&token),
            json!(null),
        )
        .await;
    assert!(view["last_error"].is_string(), "{view}");
    let (success, out, err) = served.stop();
    feed.stop().await;
    let provider_secrets: Vec<String> = {
        let state = provider.state.lock().unwrap();
        state
            .access
            .iter()
            .chain(state.refresh.iter())
            .cloned()
            .collect()
    };
    provider.server.stop(false).await;
    assert!(success);
    assert!(
        out.contains("calendar sync failed"),
        "the failures were logged: {out}"
    );
    let mut secrets = markers("log");
    secrets.extend([
        feed_token,
        "SUBJECT-Secret-Meeting".to_owned(),
        "MARKER-ERROR-BODY".to_owned(),
        "SUBJECT-Graph-Secret".to_owned(),
        "MARKER-API-ERROR".to_owned(),
        "code-for-logs-7781".to_owned(),
        state,
        fake_provider::CLIENT_SECRET.to_owned(),
    ]);
    secrets.extend(fake_provider::MARKERS.iter().map(|m| (*m).to_owned()));
    assert!(provider_secrets.len() >= 2, "tokens were issued");
    secrets.extend(provider_secrets);
    for secret in &secrets {
        assert!(!out.contains(secret.as_str()), "stdout leaks {secret}");
        assert!(!err.contains(secret.as_str()), "stderr leaks {secret}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Replaces every `from` in the files of `data` with `to` (same length):
/// an attacker with access to the database file.
fn tamper(data: &Path, from: &str, to: &str) -> usize {
    assert_eq!(from.len(), to.len());
    let mut replaced = 0;
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let mut at = 0;
        while let Some(found) = bytes[at..]
            .windows(from.len())
            .position(|w| w == from.as_bytes())
        {
            let start = at + found;
            bytes[start..start + to.len()].copy_from_slice(to.as_bytes());
            replaced += 1;
            at = start + to.len();
        }
        std::fs::write(&path, bytes).unwrap();
    }
    replaced
}

#[tokio::test]
async fn p9_audit_verify_names_the_first_broken_link_and_fails() {
    let data = folder();
    let mut tenants = Vec::new();
    for slug in ["verify-one", "verify-two"] {
        let (ok, out, err) = run(
            &[
                "tenant",
                "create",
                "--name",
                "Verify Clinic",
                "--slug",
                slug,
                "--owner-email",
                &format!("o@{slug}.example"),
                "--owner-name",
                "Olive",
            ],
            &data,
            &[],
            "password from stdin 1\n",
        );
        assert!(ok, "{err}");
        // "tenant ID owner ID"
        tenants.push(out.split_whitespace().nth(1).unwrap().to_owned());
    }
    let (ok, out, err) = run(&["audit", "verify"], &data, &[], "");
    assert!(ok, "{err}");
    assert!(out.contains("verify-one: intact, 2 entries"), "{out}");
    assert!(out.contains("verify-two: intact, 2 entries"), "{out}");
    assert!(err.contains("2 audit chain(s) verified"), "{err}");
    // Nothing has expired yet: the purge removes nothing and says so.
    let (ok, _, err) = run(&["audit", "purge"], &data, &[], "");
    assert!(
        ok && err.contains("0 expired audit entries removed"),
        "{err}"
    );
    // The first tenant's first entry names the tenant: edit it.
    let edited = tenants[0].replacen(|c: char| c.is_ascii_hexdigit(), "x", 1);
    assert!(tamper(&data, &tenants[0], &edited) > 0);
    let (ok, out, err) = run(&["audit", "verify"], &data, &[], "");
    assert!(!ok, "a broken chain fails the command: {out}");
    assert!(
        out.contains("verify-one: BROKEN at entry 1: edited"),
        "{out}"
    );
    assert!(out.contains("verify-two: intact, 2 entries"), "{out}");
    assert!(err.contains("1 of 2 audit chain(s) are broken"), "{err}");
    let (ok, out, _) = run(
        &["audit", "verify", "--tenant", "verify-two"],
        &data,
        &[],
        "",
    );
    assert!(ok && !out.contains("verify-one"), "{out}");
    let (ok, _, err) = run(
        &["audit", "verify", "--tenant", "no-such-one"],
        &data,
        &[],
        "",
    );
    assert!(!ok && err.contains("error"), "{err}");
    let _ = std::fs::remove_dir_all(data);
}

#[tokio::test]
async fn p10_operator_exports_erases_and_holds_from_the_command_line() {
    let data = folder();
    let (ok, _, err) = run(
        &[
            "tenant",
            "create",
            "--name",
            "Rights Clinic",
            "--slug",
            "rights-clinic",
            "--owner-email",
            "o@rights.example",
            "--owner-name",
            "Olive",
        ],
        &data,
        &[],
        "password from stdin 1\n",
    );
    assert!(ok, "{err}");
    // The whole business, with a manifest that hashes every file.
    let archive = data.join("rights.tar");
    let archive_arg = archive.to_str().unwrap();
    let (ok, _, err) = run(
        &["export", "--slug", "rights-clinic", "--out", archive_arg],
        &data,
        &[],
        "",
    );
    assert!(ok, "{err}");
    assert!(err.contains("manifest SHA-256"), "{err}");
    let bytes = std::fs::read(&archive).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for entry in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.insert(path, content);
    }
    let tenant: Value = serde_json::from_slice(&files["tenant.json"]).unwrap();
    assert_eq!(tenant["slug"], "rights-clinic");
    assert!(files.contains_key("manifest.json") && files.contains_key("users.jsonl"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "personal data: owner-only");
    }
    // Never over an existing file.
    let (ok, _, err) = run(
        &["export", "--slug", "rights-clinic", "--out", archive_arg],
        &data,
        &[],
        "",
    );
    assert!(!ok && err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&archive).unwrap(), bytes, "left as it was");
    // A customer who is not there: nothing written, nothing erased.
    let nobody = uuid::Uuid::new_v4().to_string();
    let partial = data.join("nobody.tar");
    let (ok, _, err) = run(
        &[
            "export",
            "--slug",
            "rights-clinic",
            "--customer",
            &nobody,
            "--out",
            partial.to_str().unwrap(),
        ],
        &data,
        &[],
        "",
    );
    assert!(!ok, "{err}");
    assert!(!partial.exists(), "no half archive left behind");
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".bookwarden-export")
        })
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind");
    let erase = |yes: bool, stdin: &str| {
        let mut args = vec![
            "erase",
            "customer",
            "--slug",
            "rights-clinic",
            "--customer",
            nobody.as_str(),
        ];
        if yes {
            args.push("--yes");
        }
        run(&args, &data, &[], stdin)
    };
    let (ok, _, err) = erase(false, "something else\n");
    assert!(!ok && err.contains("not confirmed"), "{err}");
    let (ok, _, err) = erase(false, &format!("{nobody}\n"));
    assert!(!ok && err.contains("not found"), "{err}");
    // Under a legal hold, erasure is refused before anything is looked up.
    let (ok, _, err) = run(
        &["tenant", "legal-hold", "--slug", "rights-clinic", "on"],
        &data,
        &[],
        "",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = erase(true, "");
    assert!(!ok && err.contains("legal_hold"), "{err}");
    let (ok, _, err) = run(
        &["tenant", "legal-hold", "--slug", "rights-clinic", "maybe"],
        &data,
        &[],
        "",
    );
    assert!(!ok && err.contains("on or off"), "{err}");
    let (ok, out, err) = run(&["audit", "verify"], &data, &[], "");
    assert!(ok, "{err}");
    assert!(out.contains("rights-clinic: intact"), "{out}");
    // The whole business: refused under the hold, asked for, then erased.
    assert!(data.join("keys.db").exists(), "the embedded key store");
    let erase_business = |yes: bool, stdin: &str| {
        let mut args = vec!["erase", "business", "--slug", "rights-clinic"];
        if yes {
            args.push("--yes");
        }
        run(&args, &data, &[], stdin)
    };
    let (ok, _, err) = erase_business(true, "");
    assert!(!ok && err.contains("legal_hold"), "{err}");
    let (ok, _, err) = run(
        &["tenant", "legal-hold", "--slug", "rights-clinic", "off"],
        &data,
        &[],
        "",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = erase_business(false, "rights\n");
    assert!(!ok && err.contains("not confirmed"), "{err}");
    let (ok, _, err) = erase_business(false, "rights-clinic\n");
    assert!(ok, "{err}");
    assert!(err.contains("erased business rights-clinic"), "{err}");
    let (ok, out, err) = run(&["audit", "verify"], &data, &[], "");
    assert!(ok, "{err}");
    assert!(!out.contains("rights-clinic"), "{out}");
    let (ok, _, err) = run(
        &[
            "export",
            "--slug",
            "rights-clinic",
            "--out",
            partial.to_str().unwrap(),
        ],
        &data,
        &[],
        "",
    );
    assert!(!ok && err.contains("not found"), "{err}");
    // Done is done: a rerun says so and changes nothing.
    let (ok, _, err) = erase_business(true, "");
    assert!(ok, "{err}");
    let _ = std::fs::remove_dir_all(&data);
}
