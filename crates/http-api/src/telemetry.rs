//! Log output: structured lines (text or JSON) to stdout, filtered by
//! `BOOKWARDEN_LOG` (or the configured filter). Only facts are logged:
//! request ids, tenants, routes, statuses, error chains. Secrets never
//! reach a log call in the first place; a test checks the output.

use bookwarden_app::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The server logs to standard output.
    Stdout,
    /// Operator commands keep standard output for their results.
    Stderr,
}

/// Installs the process's log subscriber. A second call does nothing.
///
/// # Errors
/// When the filter (`BOOKWARDEN_LOG`, else `filter`) is not a valid
/// tracing filter.
pub fn init(format: LogFormat, filter: &str, output: Output) -> Result<(), String> {
    let wanted = std::env::var("BOOKWARDEN_LOG").unwrap_or_else(|_| filter.to_owned());
    let filter = EnvFilter::try_new(&wanted)
        .map_err(|e| format!("log filter {wanted:?} is not valid: {e}"))?;
    let writer = match output {
        Output::Stdout => BoxMakeWriter::new(std::io::stdout),
        Output::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    // Already installed (tests start several servers): keep the first.
    drop(installed);
    Ok(())
}
