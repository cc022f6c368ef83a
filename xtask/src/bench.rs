//! `cargo xtask bench`: runs every criterion benchmark, then reads the
//! medians criterion wrote under target/criterion and reports the figures
//! that have targets, with their ratios, on the terminal and in
//! docs/PERFORMANCE.md (between the generated-figures markers).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// A pair of benchmarks whose ratio has a goal: `subject` at most `goal`
/// times `baseline`.
struct Ratio {
    label: &'static str,
    subject: &'static str,
    baseline: &'static str,
    goal: Option<f64>,
}

const RATIOS: &[Ratio] = &[
    Ratio {
        label: "GET slots (month, 4 staff, 500 bookings + 500 busy blocks) vs actix hello-world, time per request",
        subject: "http/slots_month_64",
        baseline: "http/hello_64",
        // Throughput at least 40% of the baseline's.
        goal: Some(2.5),
    },
    Ratio {
        label: "the same month computed for every request (no kept listing) vs actix hello-world",
        subject: "http/slots_month_cold_64",
        baseline: "http/hello_64",
        goal: None,
    },
    Ratio {
        label: "the month computed for every request, two of four staff with a 5,000-event calendar connected vs none",
        subject: "http/slots_month_cold_64_connected",
        baseline: "http/slots_month_cold_64",
        goal: None,
    },
    Ratio {
        label: "the same, a full sync of one calendar (same bytes each time) running beside vs none running",
        subject: "http/slots_month_cold_64_syncing",
        baseline: "http/slots_month_cold_64_connected",
        goal: None,
    },
    Ratio {
        label: "public bookings, two of four staff with a 5,000-event calendar connected vs none",
        subject: "http/book_64_connected",
        baseline: "http/book_64",
        goal: None,
    },
    Ratio {
        label: "the same, a full sync of one calendar (same bytes each time) running beside vs none running",
        subject: "http/book_64_syncing",
        baseline: "http/book_64_connected",
        goal: None,
    },
    Ratio {
        label: "the same, a full sync of one calendar that changed running beside vs none running",
        subject: "http/book_64_syncing_changed",
        baseline: "http/book_64_connected",
        goal: None,
    },
    Ratio {
        label: "a business's data-rights export (10,000 bookings) vs a bare SELECT of the same rows, SQLite",
        subject: "export/tenant_10000",
        baseline: "export/bare_select_10000",
        goal: None,
    },
    Ratio {
        label: "a business's data-rights export (100,000 bookings) vs a bare SELECT of the same rows, SQLite",
        subject: "export/tenant_100000",
        baseline: "export/bare_select_100000",
        goal: Some(3.0),
    },
    Ratio {
        label: "a whole-database backup (100,000 bookings: copy, encrypt, manifest) vs a bare VACUUM INTO, SQLite",
        subject: "backup/data_100000",
        baseline: "backup/bare_vacuum_into_100000",
        goal: Some(3.0),
    },
    Ratio {
        label: "slot engine vs bare sweep, 0 busy blocks",
        subject: "slots/engine/0",
        baseline: "slots/bare_sweep/0",
        goal: None,
    },
    Ratio {
        label: "slot engine vs bare sweep, 100 busy blocks",
        subject: "slots/engine/100",
        baseline: "slots/bare_sweep/100",
        goal: None,
    },
    Ratio {
        label: "slot engine vs bare sweep, 1,000 busy blocks",
        subject: "slots/engine/1000",
        baseline: "slots/bare_sweep/1000",
        goal: Some(2.0),
    },
    Ratio {
        label: "slot engine vs bare sweep, 10,000 busy blocks",
        subject: "slots/engine/10000",
        baseline: "slots/bare_sweep/10000",
        goal: Some(2.0),
    },
    Ratio {
        label: "calendar: parse + expand 5,000 events (500 series) over 90 days vs calcard's bare parse",
        subject: "ical/expand_5000_events_500_series_90_days",
        baseline: "ical/bare_parse_5000_events",
        goal: Some(3.0),
    },
    Ratio {
        label: "vault seal+open vs raw ring AES-256-GCM, 256 bytes",
        subject: "vault/seal_open_256B",
        baseline: "vault/raw_ring_seal_open_256B",
        goal: Some(3.0),
    },
    Ratio {
        label: "booking through the store vs raw constrained insert, SQLite, 1 writer",
        subject: "store_sqlite/booking_1_writers",
        baseline: "store_sqlite/raw_insert_1_writers",
        // At least 70% of the raw insert's throughput.
        goal: Some(1.43),
    },
    Ratio {
        label: "booking through the store vs raw constrained insert, SQLite, 16 writers",
        subject: "store_sqlite/booking_16_writers",
        baseline: "store_sqlite/raw_insert_16_writers",
        // At least 70% of the raw insert's throughput.
        goal: Some(1.43),
    },
    Ratio {
        label: "booking through the store vs raw constrained insert, PostgreSQL, 1 writer",
        subject: "store_postgres/booking_1_writers",
        baseline: "store_postgres/raw_insert_1_writers",
        // At least 70% of the raw insert's throughput.
        goal: Some(1.43),
    },
    Ratio {
        label: "booking through the store vs raw constrained insert, PostgreSQL, 16 writers",
        subject: "store_postgres/booking_16_writers",
        baseline: "store_postgres/raw_insert_16_writers",
        // At least 70% of the raw insert's throughput.
        goal: Some(1.43),
    },
];

/// Single figures reported as they are.
/// Requests per second over HTTP: criterion's median time for a batch of
/// this many concurrent requests.
const HTTP_BATCH: f64 = 64.0;

/// HTTP throughputs with a floor in requests per second.
const THROUGHPUTS: &[(&str, &str, Option<f64>)] = &[
    ("actix hello-world, requests/s", "http/hello_64", None),
    (
        "GET slots, month view, requests/s",
        "http/slots_month_64",
        None,
    ),
    (
        "GET slots, month view computed for every request, requests/s",
        "http/slots_month_cold_64",
        None,
    ),
    (
        "POST public booking on SQLite, bookings/s",
        "http/book_64",
        Some(3_000.0),
    ),
    (
        "GET slots computed for every request, two calendars connected, requests/s",
        "http/slots_month_cold_64_connected",
        None,
    ),
    (
        "POST public booking, two calendars connected, bookings/s",
        "http/book_64_connected",
        None,
    ),
    (
        "GET slots computed for every request, an unchanged feed fetched beside, requests/s",
        "http/slots_month_cold_64_syncing",
        None,
    ),
    (
        "POST public booking, an unchanged feed fetched beside, bookings/s",
        "http/book_64_syncing",
        None,
    ),
    (
        "POST public booking, a changing feed synced beside, bookings/s",
        "http/book_64_syncing_changed",
        None,
    ),
];

const SINGLES: &[(&str, &str)] = &[
    (
        "argon2id hash, default parameters",
        "passwords/argon2id_hash_default",
    ),
    ("bcrypt verify, cost 10", "passwords/bcrypt_verify_cost10"),
    ("bcrypt verify, cost 12", "passwords/bcrypt_verify_cost12"),
];

const START: &str = "<!-- bench:start (written by cargo xtask bench) -->";
const END: &str = "<!-- bench:end -->";

pub(crate) fn run(criterion_args: &[String]) -> Result<()> {
    // The HTTP benchmark drives the release server binary in its own
    // process.
    crate::cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "bookwarden-http-api",
    ])?;
    let mut args = vec!["bench", "--workspace", "--benches", "--locked", "--"];
    args.extend(criterion_args.iter().map(String::as_str));
    crate::cargo(&args)?;

    let root = crate::root()?;
    let criterion = root.join("target").join("criterion");
    let mut report = String::new();
    writeln!(
        report,
        "| figure | median | baseline median | ratio | goal |"
    )?;
    writeln!(report, "|---|---|---|---|---|")?;
    let mut missed = Vec::new();
    for ratio in RATIOS {
        let (Some(subject), Some(baseline)) = (
            median_ns(&criterion, ratio.subject)?,
            median_ns(&criterion, ratio.baseline)?,
        ) else {
            continue;
        };
        let value = subject / baseline;
        let goal = ratio.goal.map_or("-".to_owned(), |g| format!("<= {g:.2}x"));
        if ratio.goal.is_some_and(|g| value > g) {
            missed.push(ratio.label);
        }
        writeln!(
            report,
            "| {} | {} | {} | {value:.2}x | {goal} |",
            ratio.label,
            human(subject),
            human(baseline)
        )?;
    }
    for (label, id, floor) in THROUGHPUTS {
        if let Some(ns) = median_ns(&criterion, id)? {
            let per_second = HTTP_BATCH / (ns / 1e9);
            let goal = floor.map_or("-".to_owned(), |f| format!(">= {f:.0}/s"));
            if floor.is_some_and(|f| per_second < f) {
                missed.push(label);
            }
            writeln!(report, "| {label} | {per_second:.0}/s | - | - | {goal} |")?;
        }
    }
    if let Ok(text) = std::fs::read_to_string(criterion.join("http-memory.json")) {
        let json: serde_json::Value = serde_json::from_str(&text).context("http-memory.json")?;
        for (label, key, limit_mib) in [
            ("server resident memory, idle", "idle_kib", 30.0),
            ("server peak resident memory, under load", "peak_kib", 100.0),
        ] {
            if let Some(kib) = json.get(key).and_then(serde_json::Value::as_f64) {
                let mib = kib / 1024.0;
                if mib > limit_mib {
                    missed.push(label);
                }
                writeln!(
                    report,
                    "| {label} | {mib:.1} MiB | - | - | <= {limit_mib:.0} MiB |"
                )?;
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(criterion.join("export-memory.json")) {
        let json: serde_json::Value = serde_json::from_str(&text).context("export-memory.json")?;
        for (label, key) in [
            (
                "`bookwarden export` peak resident memory, 10,000 bookings",
                "peak_kib_10000",
            ),
            (
                "`bookwarden export` peak resident memory, 100,000 bookings",
                "peak_kib_100000",
            ),
        ] {
            if let Some(kib) = json.get(key).and_then(serde_json::Value::as_f64) {
                writeln!(report, "| {label} | {:.1} MiB | - | - | - |", kib / 1024.0)?;
            }
        }
    }
    for (label, id) in SINGLES {
        if let Some(value) = median_ns(&criterion, id)? {
            writeln!(report, "| {label} | {} | - | - | - |", human(value))?;
        }
    }
    println!("\n{report}");
    for label in &missed {
        println!("goal missed: {label}");
    }
    write_report(&root.join("docs").join("PERFORMANCE.md"), &report)
}

/// The median in nanoseconds of benchmark `id`, if it has been run.
fn median_ns(criterion: &Path, id: &str) -> Result<Option<f64>> {
    let path = criterion.join(id).join("new").join("estimates.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let median = json
        .pointer("/median/point_estimate")
        .and_then(serde_json::Value::as_f64)
        .with_context(|| format!("no median in {}", path.display()))?;
    Ok(Some(median))
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Replaces the generated block of `path` with `table`, stamped with the
/// machine it ran on.
fn write_report(path: &Path, table: &str) -> Result<()> {
    let doc =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
        bail!("{} lacks the bench markers", path.display());
    };
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let block = format!(
        "{START}\nLast run: {} on {cores} cores (medians; `cargo xtask bench`).\n\n{table}{END}",
        today()
    );
    let mut out = String::new();
    out.push_str(doc.get(..start).unwrap_or_default());
    out.push_str(&block);
    out.push_str(doc.get(end + END.len()..).unwrap_or_default());
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?;
    println!("figures written to {}", path.display());
    Ok(())
}

fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown date".to_owned(), |s| s.trim().to_owned())
}
