//! Log output: structured lines (text or JSON) to stdout, filtered by
//! `BOOKWARDEN_LOG` (or the configured filter). Only facts are logged:
//! request ids, tenants, routes, statuses, error chains. Secrets never
//! reach a log call in the first place; a test checks the output.
//!
//! `ERROR` is kept for our own failures. actix-http reports a request it
//! cannot parse (a bad request line, an invalid header, broken chunked
//! encoding, an oversized head) and a connection the client breaks as
//! `stream error: ...` at `ERROR`; those are the client's doing, so they are
//! written as a `WARN` line of our own instead (`malformed request` or
//! `client connection failed`, with a fresh `request_id` and actix's reason,
//! never the bytes received). The operator's filter judges that line by its
//! own target (`bookwarden_http_api::telemetry`) and level.

use std::fmt;

use crate::config::LogFormat;
use tracing::field::{self, Field, FieldSet, Value, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::callsite::DefaultCallsite;
use tracing_core::metadata::Kind;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, filter_fn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

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
    let parse = || {
        EnvFilter::try_new(&wanted).map_err(|e| format!("log filter {wanted:?} is not valid: {e}"))
    };
    let writer = match output {
        Output::Stdout => BoxMakeWriter::new(std::io::stdout),
        Output::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let lines = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_target(false)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
            .with_target(false)
            .boxed(),
    };
    // The operator's filter decides, except that actix-http's connection
    // errors always reach `ClientFaults`, which judges each line it writes
    // by that line's own target and level.
    let connection_errors = filter_fn(is_connection_error).with_max_level_hint(LevelFilter::ERROR);
    let layer = ClientFaults {
        output: lines,
        filter: parse()?,
    }
    .with_filter(parse()?.or(connection_errors));
    let installed = tracing_subscriber::registry().with(layer).try_init();
    // Already installed (tests start several servers): keep the first.
    drop(installed);
    Ok(())
}

/// Where actix-http reports how an HTTP/1 connection ended.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Whether `metadata` is actix-http's `ERROR` about a connection.
fn is_connection_error(metadata: &Metadata<'_>) -> bool {
    metadata.target() == DISPATCHER && *metadata.level() == Level::ERROR
}

/// Which client fault an actix-http `stream error` was, as the message our
/// line carries and actix's reason; `None` when it was ours (a handler or
/// body error, an internal error), which stays an `ERROR`.
fn client_fault(message: &str) -> Option<(&'static str, &str)> {
    let reason = message.strip_prefix("stream error: ")?;
    if reason.starts_with("request parse error") {
        Some(("malformed request", reason))
    } else if reason.starts_with("I/O error")
        || reason.starts_with("request did not complete within")
        || reason.starts_with("connection shutdown timeout")
    {
        Some(("client connection failed", reason))
    } else {
        None
    }
}

/// The callsite of the `WARN` line written for a client fault.
static CLIENT_FAULT: DefaultCallsite = DefaultCallsite::new(&CLIENT_FAULT_META);

/// What the `WARN` line written for a client fault is.
static CLIENT_FAULT_META: Metadata<'static> = Metadata::new(
    "client fault",
    module_path!(),
    Level::WARN,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(
        &["message", "request_id", "reason"],
        tracing_core::identify_callsite!(&CLIENT_FAULT),
    ),
    Kind::EVENT,
);

/// The text of an event's `message` field.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// The log output, except that a client fault actix-http reports at
/// `ERROR` is written as a `WARN` line of our own.
struct ClientFaults<L> {
    /// Writes the lines.
    output: L,
    /// The operator's filter, asked about actix-http's connection errors
    /// (which reach this layer whatever the filter says) as the lines they
    /// become.
    filter: EnvFilter,
}

impl<L> ClientFaults<L> {
    /// Writes the `WARN` line for a client fault, if the filter wants it.
    fn client_fault<S>(&self, message: &str, reason: &str, ctx: Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        L: Layer<S>,
    {
        if !self.filter.enabled(&CLIENT_FAULT_META, ctx.clone()) {
            return;
        }
        let fields = CLIENT_FAULT_META.fields();
        let (Some(message_field), Some(id_field), Some(reason_field)) = (
            fields.field("message"),
            fields.field("request_id"),
            fields.field("reason"),
        ) else {
            return;
        };
        // Nothing else refers to the connection; a fresh id lets a line be
        // named, as every request's is.
        let request_id = field::display(uuid::Uuid::new_v4().simple());
        let values: [(&Field, Option<&dyn Value>); 3] = [
            (&message_field, Some(&message)),
            (&id_field, Some(&request_id)),
            (&reason_field, Some(&reason)),
        ];
        let values = fields.value_set(&values);
        self.output
            .on_event(&Event::new(&CLIENT_FAULT_META, &values), ctx);
    }
}

impl<S, L> Layer<S> for ClientFaults<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.output.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.output.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.output.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.output.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.output.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.output.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.output.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.output.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if !is_connection_error(metadata) {
            self.output.on_event(event, ctx);
            return;
        }
        let mut text = MessageText::default();
        event.record(&mut text);
        match client_fault(&text.0) {
            Some((message, reason)) => self.client_fault(message, reason, ctx),
            None => {
                if self.filter.enabled(metadata, ctx.clone()) {
                    self.output.on_event(event, ctx);
                }
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.output.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.output.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.output.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.output.on_id_change(old, new, ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::client_fault;

    #[test]
    fn parse_errors_and_broken_connections_are_the_clients_and_the_rest_ours() {
        assert_eq!(
            client_fault("stream error: request parse error: invalid Header provided"),
            Some((
                "malformed request",
                "request parse error: invalid Header provided"
            ))
        );
        assert_eq!(
            client_fault("stream error: I/O error: Connection reset by peer (os error 104)")
                .map(|(message, _)| message),
            Some("client connection failed")
        );
        for ours in [
            "stream error: internal error",
            "stream error: body error: boom",
            "stream error: service error",
            "Internal server error: unexpected eof",
        ] {
            assert_eq!(client_fault(ours), None, "{ours}");
        }
    }
}
