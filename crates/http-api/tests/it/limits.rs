//! The request limits, row by row as docs/OPERATIONS.md's *Request limits*
//! table states them (read from between its `limits` markers, so the table
//! and these tests cannot drift): a request just over each limit gets the
//! documented answer, one just under it is not refused by that limit. Raw
//! sockets, so every byte of the request head is the test's.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bookwarden_http_api::config::{DefaultValue, SETTINGS};
use serde_json::Value;

use crate::harness::{Options, TestApp, spawn_app, spawn_with};

/// One row of the limits table.
#[derive(Debug)]
struct Row {
    /// The setting, or the limit's own words for a fixed one.
    id: String,
    /// The documented default (bytes, seconds or headers).
    default: usize,
    /// The documented status.
    status: u16,
    /// The documented problem code, for the server's own limits.
    code: Option<String>,
}

/// The first whole number in `text`.
fn first_number(text: &str) -> Option<usize> {
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The text between the first pair of backticks after `after` in `text`.
fn quoted_after<'t>(text: &'t str, after: &str) -> Option<&'t str> {
    let (_, rest) = text.split_once(after)?;
    let (_, rest) = rest.split_once('`')?;
    rest.split_once('`').map(|(inside, _)| inside)
}

fn limits_table() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/OPERATIONS.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (_, rest) = doc
        .split_once("<!-- limits:begin -->")
        .expect("docs/OPERATIONS.md has the limits:begin marker");
    let (table, _) = rest
        .split_once("<!-- limits:end -->")
        .expect("docs/OPERATIONS.md has the limits:end marker");
    table
        .lines()
        .filter(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "{line}");
            let id = if cells[1] == "fixed" {
                cells[0].to_owned()
            } else {
                cells[1].trim_matches('`').to_owned()
            };
            Row {
                id,
                default: first_number(cells[2]).expect(line),
                status: first_number(cells[3])
                    .and_then(|n| u16::try_from(n).ok())
                    .expect(line),
                code: quoted_after(cells[3], "code").map(str::to_owned),
            }
        })
        .collect()
}

/// What a raw exchange came to.
#[derive(Debug)]
enum Outcome {
    /// An answer: its status, content type and body.
    Answered {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
    /// The connection failed (reset, broken pipe) before any answer.
    Dropped(ErrorKind),
}

impl Outcome {
    fn status(&self) -> Option<u16> {
        match self {
            Self::Answered { status, .. } => Some(*status),
            Self::Dropped(_) => None,
        }
    }

    /// Asserts a problem document with this status and code.
    fn assert_problem(&self, status: u16, code: &str, what: &str) {
        let Self::Answered {
            status: seen,
            content_type,
            body,
        } = self
        else {
            panic!("{what}: no answer: {self:?}");
        };
        assert_eq!(*seen, status, "{what}: {body}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{what}"
        );
        let problem: Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], code, "{what}");
        assert_eq!(problem["status"], status, "{what}");
    }

    /// Asserts an answer that no limit refused.
    fn assert_not_refused(&self, what: &str) {
        match self {
            Self::Answered { status, body, .. } => {
                assert!(
                    *status < 500 && ![408, 413, 414, 431].contains(status),
                    "{what}: {status} {body}"
                );
            }
            Self::Dropped(kind) => panic!("{what}: dropped ({kind:?})"),
        }
    }
}

fn parse_answer(bytes: &[u8]) -> Option<Outcome> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let content_type = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_owned())
    });
    Some(Outcome::Answered {
        status,
        content_type,
        body: body.to_owned(),
    })
}

/// Sends `parts` on a fresh connection, pausing `pause` between them, and
/// reads until the server closes the connection.
fn exchange(address: &str, parts: &[&[u8]], pause: Duration) -> Outcome {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut write_error = None;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        if let Err(e) = stream.write_all(part) {
            write_error = Some(e.kind());
            break;
        }
    }
    let mut received = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    let read_error = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break None,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) => break Some(e.kind()),
        }
    };
    assert_ne!(
        read_error,
        Some(ErrorKind::WouldBlock),
        "the server neither answered nor closed the connection"
    );
    parse_answer(&received).unwrap_or_else(|| {
        Outcome::Dropped(
            write_error
                .or(read_error)
                .unwrap_or(ErrorKind::UnexpectedEof),
        )
    })
}

async fn send(app: &TestApp, parts: Vec<Vec<u8>>, pause: Duration) -> Outcome {
    let address = app.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        exchange(&address, &parts, pause)
    })
    .await
    .unwrap()
}

/// A request with these headers (after `host` and `connection`) and body.
fn request(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The header-section bytes of `host: x` and `connection: close`, counted
/// as the server counts them (`name: value` and CRLF).
const BASE_HEADER_BYTES: usize = ("host".len() + "x".len() + 4) + ("connection".len() + 5 + 4);

/// A `GET /healthz` whose header section is exactly `bytes` long.
fn with_header_section(bytes: usize) -> Vec<u8> {
    let filler = bytes - BASE_HEADER_BYTES - ("x-filler".len() + 4);
    request(
        "GET",
        "/healthz",
        &[("x-filler".to_owned(), "a".repeat(filler))],
        b"",
    )
}

/// A `GET /healthz?...` whose request target is exactly `bytes` long.
fn with_target(bytes: usize) -> Vec<u8> {
    let prefix = "/healthz?pad=";
    let target = format!("{prefix}{}", "a".repeat(bytes - prefix.len()));
    request("GET", &target, &[], b"")
}

const LOGIN: &str = r#"{"tenant":"no-such-business","email":"a@b.example","password":"x"}"#;

/// A sign-in whose JSON body is exactly `bytes` long (padded with spaces).
fn with_body(bytes: usize) -> Vec<u8> {
    let body = format!("{LOGIN}{}", " ".repeat(bytes - LOGIN.len()));
    request(
        "POST",
        "/v1/sessions",
        &[
            ("content-type".to_owned(), "application/json".to_owned()),
            ("content-length".to_owned(), body.len().to_string()),
        ],
        body.as_bytes(),
    )
}

/// The same, sent chunked: no length is declared up front.
fn with_chunked_body(bytes: usize) -> Vec<u8> {
    let body = format!("{LOGIN}{}", " ".repeat(bytes - LOGIN.len()));
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    request(
        "POST",
        "/v1/sessions",
        &[
            ("content-type".to_owned(), "application/json".to_owned()),
            ("transfer-encoding".to_owned(), "chunked".to_owned()),
        ],
        chunked.as_bytes(),
    )
}

/// A `GET /healthz` with `count` headers in all.
fn with_header_count(count: usize) -> Vec<u8> {
    let extra: Vec<(String, String)> = (2..count)
        .map(|i| (format!("x-h{i}"), "1".to_owned()))
        .collect();
    request("GET", "/healthz", &extra, b"")
}

/// A `GET /healthz` whose whole head (request line, headers, blank line)
/// is exactly `bytes` long.
fn with_head(bytes: usize) -> Vec<u8> {
    let empty = with_header_section(BASE_HEADER_BYTES + "x-filler".len() + 4).len();
    let filler = bytes - empty;
    request(
        "GET",
        "/healthz",
        &[("x-filler".to_owned(), "a".repeat(filler))],
        b"",
    )
}

async fn still_answers(app: &TestApp, what: &str) {
    let after = send(
        app,
        vec![request("GET", "/healthz", &[], b"")],
        Duration::ZERO,
    )
    .await;
    assert_eq!(
        after.status(),
        Some(200),
        "{what}: the server still answers"
    );
}

async fn check_row(app: &TestApp, row: &Row) {
    let limit = row.default;
    let status = row.status;
    let code = row.code.as_deref();
    let once = |bytes: Vec<u8>| send(app, vec![bytes], Duration::ZERO);
    match row.id.as_str() {
        "max_uri_bytes" => {
            once(with_target(limit))
                .await
                .assert_not_refused("target at the limit");
            once(with_target(limit + 1)).await.assert_problem(
                status,
                code.unwrap(),
                "target one byte over",
            );
        }
        "max_header_bytes" => {
            once(with_header_section(limit))
                .await
                .assert_not_refused("headers at the limit");
            once(with_header_section(limit + 1)).await.assert_problem(
                status,
                code.unwrap(),
                "headers one byte over",
            );
        }
        "max_body_bytes" => {
            once(with_body(limit))
                .await
                .assert_not_refused("body at the limit");
            once(with_chunked_body(limit))
                .await
                .assert_not_refused("chunked body at the limit");
            once(with_body(limit + 1)).await.assert_problem(
                status,
                code.unwrap(),
                "body one byte over",
            );
            once(with_chunked_body(limit + 1)).await.assert_problem(
                status,
                code.unwrap(),
                "chunked body one byte over",
            );
        }
        "Header count" => {
            assert_eq!(code, None, "actix answers with no body");
            once(with_header_count(limit))
                .await
                .assert_not_refused("as many headers as allowed");
            let over = once(with_header_count(limit + 1)).await;
            let Outcome::Answered {
                status: seen, body, ..
            } = &over
            else {
                panic!("one header too many: {over:?}");
            };
            assert_eq!(*seen, status, "one header too many");
            assert!(body.is_empty(), "{body}");
            still_answers(app, "after too many headers").await;
        }
        "Request head (request line and headers)" => {
            assert_eq!(code, None, "actix answers with no body");
            // Just under actix's limit the head reaches the server, whose
            // own header limit answers with a problem document.
            once(with_head(limit - 64)).await.assert_problem(
                431,
                "headers_too_large",
                "head just under 128 KiB",
            );
            for bytes in [limit + 64, 200 * 1024] {
                let over = once(with_head(bytes)).await;
                match &over {
                    Outcome::Answered {
                        status: seen, body, ..
                    } => {
                        assert_eq!(*seen, status, "{bytes}-byte head");
                        assert!(body.is_empty(), "{bytes}-byte head: {body}");
                    }
                    Outcome::Dropped(kind) => assert!(
                        matches!(
                            kind,
                            ErrorKind::ConnectionReset
                                | ErrorKind::BrokenPipe
                                | ErrorKind::ConnectionAborted
                                | ErrorKind::UnexpectedEof
                        ),
                        "{bytes}-byte head: {kind:?}"
                    ),
                }
                still_answers(app, &format!("after a {bytes}-byte head")).await;
            }
        }
        other => panic!("no test for the limits table's row {other:?}"),
    }
}

#[test]
fn the_limits_table_lists_every_limit_with_the_settings_defaults() {
    let rows = limits_table();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "max_uri_bytes",
            "max_header_bytes",
            "max_body_bytes",
            "request_timeout_seconds",
            "Header count",
            "Request head (request line and headers)",
        ]
    );
    for row in &rows {
        let Some(setting) = SETTINGS.iter().find(|s| s.key == row.id) else {
            assert_eq!(row.code, None, "{}: a fixed limit has no code", row.id);
            continue;
        };
        let documented = match setting.default {
            DefaultValue::Value(value) | DefaultValue::ValueWithNote(value, _) => value,
            DefaultValue::Described(words) => panic!("{}: {words}", row.id),
        };
        assert_eq!(
            documented,
            row.default.to_string(),
            "{}: the two tables disagree",
            row.id
        );
    }
}

#[tokio::test]
async fn a_request_just_over_each_size_limit_gets_the_documented_answer() {
    let app = spawn_app().await;
    for row in limits_table()
        .iter()
        .filter(|r| r.id != "request_timeout_seconds")
    {
        check_row(&app, row).await;
    }
    app.finish().await;
}

#[tokio::test]
async fn a_request_head_slower_than_the_timeout_is_answered_408_and_closed() {
    let rows = limits_table();
    let row = rows
        .iter()
        .find(|r| r.id == "request_timeout_seconds")
        .unwrap();
    // The documented default is 10 s (checked against the settings above);
    // the test runs on the smallest allowed value to stay quick.
    let app = spawn_with(Options {
        configure: std::sync::Arc::new(|file| file.request_timeout_seconds = Some(1)),
        ..Options::default()
    })
    .await;
    let head = request("GET", "/healthz", &[], b"");
    let (first, rest) = head.split_at(20);
    let in_time = send(
        &app,
        vec![first.to_vec(), rest.to_vec()],
        Duration::from_millis(300),
    )
    .await;
    in_time.assert_not_refused("head sent within the timeout");
    let started = Instant::now();
    // Half a head, then nothing: the server answers and closes.
    let late = send(&app, vec![first.to_vec()], Duration::ZERO).await;
    match &late {
        Outcome::Answered { status, body, .. } => {
            assert_eq!(*status, row.status, "{body}");
            assert!(body.is_empty(), "{body}");
        }
        Outcome::Dropped(kind) => panic!("no 408 before the connection closed: {kind:?}"),
    }
    // actix-http reads the time from a clock it advances every half
    // second, so the deadline may come up to 0.5 s early.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    still_answers(&app, "after a timed-out head").await;
    app.finish().await;
}
