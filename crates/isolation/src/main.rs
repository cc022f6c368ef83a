//! `bookwarden-isolation-check`: the tenant-isolation check (P1) aimed at a
//! live deployment from the command line. Exit status 0: no leak found;
//! 1: a leak, printed with the failing request and response; 2: the check
//! could not be carried out (no verdict).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use std::process::ExitCode;

use bookwarden_isolation::{Error, Options, Target, check};
use clap::Parser;

/// Checks that a Bookwarden deployment keeps its businesses apart.
///
/// Signs up three throwaway businesses (slugs starting with `iso-`) over
/// the public API, fills them with staff, services, bookings, invitations
/// and API keys, then sends random requests from every kind of sender with
/// ids drawn from every business and from nowhere. A leak is any 5xx, any
/// other business's id, email or slug in a response, another business's id
/// answered unlike a random id, or another business's data changed.
///
/// At the end each business's owner erases it (`POST /v1/erasure`): nothing
/// of the check stays but the server's erasure records. Against a server
/// without business erasure it revokes its API keys, cancels its bookings,
/// deletes its services and staff (those a booking names stay), withdraws
/// its invitations and signs out, and THE THREE BUSINESSES, THEIR ACCOUNTS
/// AND CUSTOMERS REMAIN on the deployment.
///
/// Each business needs one sign-up and five sign-ins: with the default
/// limits (10 sign-ups per address per hour) a deployment takes a few runs
/// an hour from one address; 429 answers are waited out.
///
/// Exit status: 0 no leak found, 1 a leak (printed with the failing request
/// and response), 2 the check could not be carried out.
#[derive(Parser, Debug)]
#[command(name = "bookwarden-isolation-check", version)]
struct Cli {
    /// Base URL of the deployment, for example `https://book.example.com`.
    #[arg(long)]
    url: String,
    /// Cases: each makes a fresh catalog, then sends its operations.
    #[arg(long, default_value_t = 4)]
    cases: u32,
    /// Operations per case (each followed by about 30 read-back requests).
    #[arg(long, default_value_t = 60)]
    ops: u32,
    /// Seed of the plan of operations (default: a random one, printed, so
    /// a run can be repeated).
    #[arg(long)]
    seed: Option<u64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(|| {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        bytes
            .iter()
            .take(8)
            .fold(0_u64, |acc, b| (acc << 8) | u64::from(*b))
    });
    let target = match Target::new(&cli.url) {
        Ok(target) => target,
        Err(error) => {
            eprintln!("bookwarden-isolation-check: {error}");
            return ExitCode::from(2);
        }
    };
    let options = Options {
        cases: cli.cases,
        ops_per_case: cli.ops,
        seed,
    };
    println!(
        "checking {} with {} case(s) of {} operation(s), seed {seed}",
        target.base(),
        options.cases,
        options.ops_per_case
    );
    match check(&target, &options).await {
        Ok(report) => {
            println!(
                "no leak found: {} operations ({} with another business's id), {} requests, \
                 {} rate-limited answer(s) waited out, in {:.1} s",
                report.operations,
                report.foreign,
                report.requests,
                report.rate_limited,
                report.elapsed.as_secs_f64()
            );
            let erased = report.cleanup.done.get("business erased").copied();
            if erased == Some(u32::try_from(report.slugs.len()).unwrap_or(u32::MAX)) {
                println!("businesses erased at the end: {}", report.slugs.join(", "));
            } else {
                println!(
                    "businesses left on the deployment (it did not erase them): {}",
                    report.slugs.join(", ")
                );
            }
            println!("cleanup: done {:?}", report.cleanup.done);
            if !report.cleanup.left.is_empty() {
                println!("cleanup: left {:?}", report.cleanup.left);
            }
            ExitCode::SUCCESS
        }
        Err(Error::Leak(leak)) => {
            println!("{leak}");
            println!("isolation check FAILED: a leak was found (rerun with --seed {seed})");
            ExitCode::from(1)
        }
        Err(error) => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("bookwarden-isolation-check: no verdict: {message}");
            ExitCode::from(2)
        }
    }
}
