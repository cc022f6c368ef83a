//! Data-rights exports (P10, P15): everything stored about one customer, or
//! every row a business owns, as a tar archive of JSON documents.
//!
//! Each document has a JSON Schema, shipped in the archive under `schemas/`
//! and published in `docs/export/`; collections are JSON Lines (one object
//! a line), so a reader streams them as the writer did. The manifest, last
//! in the archive, names every file with its size and SHA-256. Bookings
//! also come as `bookings.ics`. Secrets (password hashes, TOTP seeds, token
//! and key digests, sealed calendar credentials) are never in an export.
//!
//! The writer streams: rows are read a page at a time inside one snapshot
//! and each tar header is written in place once its file is complete, so
//! memory stays bounded however large the business.

use std::collections::BTreeMap;
use std::io::SeekFrom;

use bookwarden_crypto::digest::Sha256;
use bookwarden_domain::account::{AccountStatus, StaffMember, User};
use bookwarden_domain::booking::Stage;
use bookwarden_domain::id::{BookingId, CustomerId, ServiceId, StaffId};
use bookwarden_domain::intake::{FieldKind, IntakeField};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::schedule::{DayHours, Schedule, WEEK};
use bookwarden_domain::service::Service;
use bookwarden_domain::tenant::Tenant;
use bookwarden_domain::time::{TimeRange, TimeZone};
use bookwarden_persistence::{AuditEntry, AuditFilter, BookingRecord, CustomerRecord, TenantScope};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncSeek, AsyncSeekExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::bookings::{AnswerValue, BookingView, answer_value};
use crate::error::AppError;
use crate::ics;

/// The format's name and version, in every manifest.
pub const EXPORT_FORMAT: &str = "bookwarden-export";
/// The version of the format (the documents and their schemas).
pub const EXPORT_VERSION: u32 = 1;

/// Rows read from the database at a time.
const PAGE: u64 = 2_000;

/// Bytes gathered before they are written out.
const BUFFER: usize = 256 * 1024;

/// The schemas, by file name, as published in `docs/export/`.
pub const SCHEMAS: [(&str, &str); 14] = [
    (
        "manifest",
        include_str!("../../../docs/export/manifest.schema.json"),
    ),
    (
        "tenant",
        include_str!("../../../docs/export/tenant.schema.json"),
    ),
    (
        "user",
        include_str!("../../../docs/export/user.schema.json"),
    ),
    (
        "staff",
        include_str!("../../../docs/export/staff.schema.json"),
    ),
    (
        "service",
        include_str!("../../../docs/export/service.schema.json"),
    ),
    (
        "schedule",
        include_str!("../../../docs/export/schedule.schema.json"),
    ),
    (
        "customer",
        include_str!("../../../docs/export/customer.schema.json"),
    ),
    (
        "booking",
        include_str!("../../../docs/export/booking.schema.json"),
    ),
    (
        "calendar_connection",
        include_str!("../../../docs/export/calendar_connection.schema.json"),
    ),
    (
        "busy_block",
        include_str!("../../../docs/export/busy_block.schema.json"),
    ),
    (
        "api_key",
        include_str!("../../../docs/export/api_key.schema.json"),
    ),
    (
        "invitation",
        include_str!("../../../docs/export/invitation.schema.json"),
    ),
    (
        "audit_entry",
        include_str!("../../../docs/export/audit_entry.schema.json"),
    ),
    (
        "sign_in_notice",
        include_str!("../../../docs/export/sign_in_notice.schema.json"),
    ),
];

/// How far an export has got, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportProgress {
    /// Rows written so far.
    pub rows: u64,
    /// Rows the export will write in all (the large tables counted up
    /// front; the small ones as they come).
    pub total: u64,
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows written, across every document.
    pub rows: u64,
    /// Bytes of the whole archive.
    pub bytes: u64,
    /// SHA-256 of the manifest, hex: quote it to prove which archive was
    /// handed over.
    pub manifest_sha256: String,
}

/// One file as the manifest lists it.
struct Listed {
    path: String,
    bytes: u64,
    sha256: String,
    schema: Option<String>,
}

/// The file being written.
struct Open {
    path: String,
    schema: Option<String>,
    header_at: u64,
    bytes: u64,
    digest: Sha256,
}

/// A tar archive written in place: each file's header is reserved, the
/// content streamed after it, and the header filled in once the size is
/// known.
pub(crate) struct Archive<W> {
    out: W,
    at: u64,
    mtime: u64,
    files: Vec<Listed>,
    open: Option<Open>,
    rows: u64,
    total: u64,
    /// Bytes not written out yet; they start at `flushed`.
    buf: Vec<u8>,
    flushed: u64,
}

const BLOCK: usize = 512;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _infallible = write!(out, "{b:02x}");
        out
    })
}

impl<W: AsyncWrite + AsyncSeek + Unpin> Archive<W> {
    pub(crate) fn new(out: W, now: Timestamp) -> Self {
        Self {
            out,
            at: 0,
            mtime: u64::try_from(now.as_second()).unwrap_or(0),
            files: Vec::new(),
            open: None,
            rows: 0,
            total: 0,
            buf: Vec::with_capacity(BUFFER),
            flushed: 0,
        }
    }

    async fn put(&mut self, bytes: &[u8]) -> Result<(), AppError> {
        self.buf.extend_from_slice(bytes);
        self.at += bytes.len() as u64;
        if self.buf.len() >= BUFFER {
            self.flush_buf().await?;
        }
        Ok(())
    }

    async fn flush_buf(&mut self) -> Result<(), AppError> {
        self.out
            .write_all(&self.buf)
            .await
            .map_err(AppError::internal)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes `header` at `at`: in place in the buffer when it is still
    /// there, else in the written file.
    async fn patch(&mut self, at: u64, header: &[u8]) -> Result<(), AppError> {
        if let Some(slot) = at
            .checked_sub(self.flushed)
            .and_then(|start| usize::try_from(start).ok())
            .and_then(|start| self.buf.get_mut(start..start + header.len()))
        {
            slot.copy_from_slice(header);
            return Ok(());
        }
        self.flush_buf().await?;
        self.out
            .seek(SeekFrom::Start(at))
            .await
            .map_err(AppError::internal)?;
        self.out
            .write_all(header)
            .await
            .map_err(AppError::internal)?;
        self.out
            .seek(SeekFrom::Start(self.at))
            .await
            .map_err(AppError::internal)?;
        Ok(())
    }

    /// Starts a file; `schema` names its JSON Schema.
    async fn begin(&mut self, path: &str, schema: Option<&str>) -> Result<(), AppError> {
        self.end().await?;
        let header_at = self.at;
        self.put(&[0; BLOCK]).await?;
        self.open = Some(Open {
            path: path.to_owned(),
            schema: schema.map(str::to_owned),
            header_at,
            bytes: 0,
            digest: Sha256::new(),
        });
        Ok(())
    }

    /// Appends to the open file.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), AppError> {
        let Some(open) = self.open.as_mut() else {
            return Err(AppError::internal(std::io::Error::other(
                "export: a write outside a file",
            )));
        };
        open.bytes += bytes.len() as u64;
        open.digest.update(bytes);
        self.put(bytes).await
    }

    /// Appends one JSON Lines row to the open file.
    async fn line(&mut self, value: &Value) -> Result<(), AppError> {
        let mut text = serde_json::to_vec(value).map_err(AppError::internal)?;
        text.push(b'\n');
        self.write(&text).await?;
        self.rows += 1;
        self.total = self.total.max(self.rows);
        Ok(())
    }

    /// Appends one JSON Lines row, already serialized, to the open file.
    async fn raw_line(&mut self, text: &[u8]) -> Result<(), AppError> {
        self.write(text).await?;
        self.write(b"\n").await?;
        self.rows += 1;
        self.total = self.total.max(self.rows);
        Ok(())
    }

    /// A whole file holding one JSON document.
    async fn document(
        &mut self,
        path: &str,
        schema: Option<&str>,
        value: &Value,
    ) -> Result<(), AppError> {
        let text = serde_json::to_vec_pretty(value).map_err(AppError::internal)?;
        self.begin(path, schema).await?;
        self.write(&text).await?;
        self.write(b"\n").await?;
        self.rows += 1;
        self.total = self.total.max(self.rows);
        self.end().await
    }

    /// Closes the open file: pads it to a block and writes its header.
    async fn end(&mut self) -> Result<(), AppError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let pad = (BLOCK - (open.bytes % BLOCK as u64) as usize) % BLOCK;
        self.put(&vec![0; pad]).await?;
        let mut header = tar::Header::new_ustar();
        header.set_path(&open.path).map_err(AppError::internal)?;
        header.set_size(open.bytes);
        header.set_mode(0o600);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        self.patch(open.header_at, header.as_bytes()).await?;
        self.files.push(Listed {
            path: open.path,
            bytes: open.bytes,
            sha256: hex(&open.digest.finish()),
            schema: open.schema,
        });
        Ok(())
    }

    /// Writes the schemas, the manifest and the end of the archive.
    async fn finish(mut self, manifest: Value) -> Result<(W, ExportSummary), AppError> {
        for (name, schema) in SCHEMAS {
            self.begin(&format!("schemas/{name}.schema.json"), None)
                .await?;
            self.write(schema.as_bytes()).await?;
        }
        self.end().await?;
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "path": f.path,
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                    "schema": f.schema.as_ref().map(|s| format!("schemas/{s}.schema.json")),
                })
            })
            .collect();
        let mut manifest = manifest;
        if let Value::Object(fields) = &mut manifest {
            fields.insert("files".to_owned(), Value::Array(files));
        }
        let text = serde_json::to_vec_pretty(&manifest).map_err(AppError::internal)?;
        self.begin("manifest.json", Some("manifest")).await?;
        self.write(&text).await?;
        self.end().await?;
        let manifest_sha256 = self
            .files
            .last()
            .map(|f| f.sha256.clone())
            .unwrap_or_default();
        self.put(&[0; 2 * BLOCK]).await?;
        self.flush_buf().await?;
        self.out.flush().await.map_err(AppError::internal)?;
        let summary = ExportSummary {
            rows: self.rows,
            bytes: self.at,
            manifest_sha256,
        };
        Ok((self.out, summary))
    }
}

/// An instant as RFC 3339 in UTC.
fn utc(t: Timestamp) -> String {
    t.to_string()
}

/// An instant as local time with its offset, in `zone`
/// (`2027-01-01T10:00:00+01:00`).
fn local(t: Timestamp, zone: &TimeZone) -> String {
    let offset = zone.zone().to_offset(t);
    let at = offset.to_datetime(t);
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        minutes / 60,
        minutes % 60
    )
}

/// One JSON object written as text field by field, with no map built in
/// between: the export's hot path (a booking a line).
struct Object {
    out: Vec<u8>,
    first: bool,
}

impl Object {
    fn new() -> Self {
        Self {
            out: vec![b'{'],
            first: true,
        }
    }

    fn key(&mut self, key: &str) -> Result<(), AppError> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, key).map_err(AppError::internal)?;
        self.out.push(b':');
        Ok(())
    }

    fn field(&mut self, key: &str, value: &(impl ?Sized + JsonValue)) -> Result<(), AppError> {
        self.key(key)?;
        value.write(&mut self.out)
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// A value an [`Object`] writes.
trait JsonValue {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), AppError>;
}

impl JsonValue for str {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), AppError> {
        serde_json::to_writer(out, self).map_err(AppError::internal)
    }
}

impl JsonValue for String {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), AppError> {
        self.as_str().write(out)
    }
}

impl JsonValue for Value {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), AppError> {
        serde_json::to_writer(out, self).map_err(AppError::internal)
    }
}

impl JsonValue for bool {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), AppError> {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
        Ok(())
    }
}

impl JsonValue for u64 {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), AppError> {
        out.extend_from_slice(self.to_string().as_bytes());
        Ok(())
    }
}

impl<T: JsonValue + ?Sized> JsonValue for Option<&T> {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), AppError> {
        match self {
            Some(value) => value.write(out),
            None => {
                out.extend_from_slice(b"null");
                Ok(())
            }
        }
    }
}

fn opt_utc(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(utc(t)))
}

fn range_json(range: TimeRange) -> Value {
    json!({ "start": utc(range.start()), "end": utc(range.end()) })
}

fn answer_json(value: AnswerValue) -> Value {
    match value {
        AnswerValue::Text(text) => Value::String(text),
        AnswerValue::List(items) => json!(items),
        AnswerValue::Flag(flag) => Value::Bool(flag),
    }
}

fn tenant_json(tenant: &Tenant, legal_hold: bool) -> Value {
    json!({
        "id": tenant.id().to_string(),
        "name": tenant.name().as_str(),
        "slug": tenant.slug().as_str(),
        "plan": tenant.plan().as_str(),
        "status": tenant.status().as_str(),
        "time_zone": tenant.time_zone().name(),
        "region": tenant.region().as_str(),
        "legal_hold": legal_hold,
    })
}

fn customer_json(record: &CustomerRecord) -> Value {
    let details = record.details.as_ref();
    json!({
        "id": record.id.to_string(),
        "name": details.map(|c| c.name().as_str()),
        "email": details.map(|c| c.email().as_str()),
        "phone": details.and_then(|c| c.phone()).map(|p| p.as_str()),
        "created_at": utc(record.created_at),
        "erased_at": opt_utc(record.erased_at),
    })
}

/// What a booking line names besides the booking: service and staff names
/// and the form's labels, read once per export.
pub(crate) struct Names {
    zone: TimeZone,
    services: BTreeMap<ServiceId, Service>,
    staff: BTreeMap<StaffId, StaffMember>,
}

impl Names {
    pub(crate) async fn read(scope: &TenantScope, tenant: &Tenant) -> Result<Self, AppError> {
        Ok(Self {
            zone: tenant.time_zone().clone(),
            services: scope
                .services()
                .list()
                .await?
                .into_iter()
                .map(|s| (s.id(), s))
                .collect(),
            staff: scope
                .staff()
                .list()
                .await?
                .into_iter()
                .map(|m| (m.id(), m))
                .collect(),
        })
    }

    /// A booking's line of `bookings.jsonl`, without its newline.
    fn booking(&self, record: &BookingRecord, view: &BookingView) -> Result<Vec<u8>, AppError> {
        let service = self.services.get(&view.service);
        // In the form's order, with its labels (an answer to a field the
        // form no longer has comes last, unlabelled).
        let fields = service.map_or(&[][..], |s| s.intake().fields());
        let position = |key: &str| fields.iter().position(|f| f.key().as_str() == key);
        let mut answers: Vec<(Option<usize>, Value)> = view
            .answers
            .iter()
            .map(|(key, answer)| {
                let at = position(key.as_str());
                let label = at.and_then(|i| fields.get(i)).map(IntakeField::label);
                let line = json!({
                    "key": key.as_str(),
                    "label": label,
                    "value": answer_json(answer_value(answer)),
                });
                (at, line)
            })
            .collect();
        answers.sort_by_key(|(at, _)| at.unwrap_or(usize::MAX));
        let answers = Value::Array(answers.into_iter().map(|(_, line)| line).collect());
        let (confirmed_at, cancelled_at, cancelled_by) = match view.stage {
            Stage::Requested => (None, None, None),
            Stage::Confirmed(at) => (Some(at), None, None),
            Stage::Cancelled(at, by) => (None, Some(at), Some(by.as_str())),
        };
        let mut line = Object::new();
        line.field("id", &view.id.to_string())?;
        line.field("customer", &view.customer.to_string())?;
        line.field("service", &view.service.to_string())?;
        line.field("service_name", &service.map(|s| s.name().as_str()))?;
        line.field("staff", &view.staff.to_string())?;
        line.field(
            "staff_name",
            &self.staff.get(&view.staff).map(|m| m.name().as_str()),
        )?;
        line.field("status", view.stage.name())?;
        line.field("seats", &u64::from(view.seats))?;
        line.field("starts_at", &utc(view.range.start()))?;
        line.field("ends_at", &utc(view.range.end()))?;
        line.field("time_zone", self.zone.name())?;
        line.field("starts_at_local", &local(view.range.start(), &self.zone))?;
        line.field("ends_at_local", &local(view.range.end(), &self.zone))?;
        line.field("created_at", &utc(view.created_at))?;
        line.field("confirmed_at", &confirmed_at.map(utc).as_ref())?;
        line.field("cancelled_at", &cancelled_at.map(utc).as_ref())?;
        line.field("cancelled_by", &cancelled_by)?;
        line.field("reschedules", &u64::from(view.reschedules))?;
        line.field("manage_link_live", &record.manage_link)?;
        line.field("answers", &answers)?;
        Ok(line.finish())
    }

    fn vevent(&self, view: &BookingView, tenant: &Tenant, now: Timestamp) -> String {
        let summary = match self.services.get(&view.service) {
            Some(service) => ics::summary(service, tenant),
            None => tenant.name().as_str().to_owned(),
        };
        ics::vevent(view, &summary, now)
    }
}

fn audit_json(entry: &AuditEntry) -> Value {
    // The detail is the chain's canonical JSON text; shown as the object
    // it is (as text if it ever is not).
    let detail = serde_json::from_str::<Value>(&entry.detail)
        .unwrap_or_else(|_| Value::String(entry.detail.clone()));
    json!({
        "seq": entry.seq,
        "at": utc(entry.at),
        "kind": entry.kind,
        "actor": entry.actor,
        "subject": entry.subject,
        "detail": detail,
    })
}

fn user_json(user: &User, two_factor: bool, last_login_at: Option<Timestamp>) -> Value {
    json!({
        "id": user.id().to_string(),
        "email": user.email().as_str(),
        "name": user.name().as_str(),
        "role": user.role().as_str(),
        "status": match user.status() {
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
        },
        "two_factor": two_factor,
        "last_login_at": opt_utc(last_login_at),
    })
}

fn field_json(field: &IntakeField) -> Value {
    let (kind, max_chars, options) = match field.kind() {
        FieldKind::Text { max_chars } => ("text", Some(*max_chars), None),
        FieldKind::LongText { max_chars } => ("long_text", Some(*max_chars), None),
        FieldKind::Email => ("email", None, None),
        FieldKind::Phone => ("phone", None, None),
        FieldKind::SingleChoice(c) => ("choice", None, Some(c.options())),
        FieldKind::MultiChoice(c) => ("multi_choice", None, Some(c.options())),
        FieldKind::Checkbox => ("checkbox", None, None),
    };
    json!({
        "key": field.key().as_str(),
        "label": field.label(),
        "kind": kind,
        "required": field.required(),
        "max_chars": max_chars,
        "options": options,
    })
}

fn minutes(d: bookwarden_domain::jiff::SignedDuration) -> i64 {
    d.as_secs() / 60
}

fn service_json(service: &Service) -> Value {
    let timing = service.timing();
    let fields: Vec<Value> = service.intake().fields().iter().map(field_json).collect();
    json!({
        "id": service.id().to_string(),
        "name": service.name().as_str(),
        "duration_min": minutes(timing.duration()),
        "buffer_before_min": minutes(timing.buffer_before()),
        "buffer_after_min": minutes(timing.buffer_after()),
        "notice_min": minutes(timing.minimum_notice()),
        "horizon_days": timing.horizon().as_secs() / 86_400,
        "step_min": minutes(timing.slot_step()),
        "capacity": service.capacity().seats(),
        "price": service.price().map(|p| json!({
            "minor_units": p.minor_units(),
            "currency": p.currency().as_str(),
        })),
        "public": service.is_public(),
        "staff": service.staff().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "intake": fields,
    })
}

fn hours_json(hours: &DayHours) -> Value {
    hours
        .ranges()
        .iter()
        .map(|r| json!([r.start().to_string(), r.end().to_string()]))
        .collect()
}

fn schedule_json(schedule: &Schedule) -> Value {
    let weekly: serde_json::Map<String, Value> = WEEK
        .iter()
        .map(|(name, day)| ((*name).to_owned(), hours_json(schedule.weekly().on(*day))))
        .collect();
    let overrides: serde_json::Map<String, Value> = schedule
        .overrides()
        .iter()
        .map(|(date, hours)| (date.to_string(), hours_json(hours)))
        .collect();
    json!({
        "id": schedule.id().to_string(),
        "staff": schedule.staff().to_string(),
        "time_zone": schedule.zone().name(),
        "weekly": weekly,
        "overrides": overrides,
        "time_off": schedule.time_off().iter().map(|r| range_json(*r)).collect::<Vec<_>>(),
    })
}

/// Who an export was made for and why, in its manifest.
pub(crate) struct Request<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) kind: &'static str,
    pub(crate) subject: Option<String>,
    pub(crate) now: Timestamp,
}

fn manifest(request: &Request<'_>) -> Value {
    json!({
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "kind": request.kind,
        "tenant": {
            "id": request.tenant.id().to_string(),
            "slug": request.tenant.slug().as_str(),
            "name": request.tenant.name().as_str(),
        },
        "subject": request.subject,
        "generated_at": utc(request.now),
    })
}

/// The audit entries about `subjects`, oldest first, a page at a time.
async fn audit_about(
    archive: &mut Archive<impl AsyncWrite + AsyncSeek + Unpin>,
    scope: &TenantScope,
    subjects: &[String],
) -> Result<(), AppError> {
    let mut found: Vec<AuditEntry> = Vec::new();
    for subject in subjects {
        let filter = AuditFilter {
            subject: Some(subject.clone()),
            ..AuditFilter::default()
        };
        let mut after = 0;
        loop {
            let page = scope.audit_entries(&filter, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let full = page.len() as u64 >= PAGE;
            found.extend(page);
            if !full {
                break;
            }
        }
    }
    found.sort_by_key(|e| e.seq);
    found.dedup_by_key(|e| e.seq);
    for entry in &found {
        archive.line(&audit_json(entry)).await?;
    }
    Ok(())
}

/// Writes everything stored about one customer.
pub(crate) async fn customer<W: AsyncWrite + AsyncSeek + Unpin>(
    out: W,
    scope: &TenantScope,
    request: &Request<'_>,
    customer: &CustomerRecord,
) -> Result<(W, ExportSummary), AppError> {
    let mut archive = Archive::new(out, request.now);
    let names = Names::read(scope, request.tenant).await?;
    let bookings = scope.bookings().of_customer(customer.id).await?;
    archive
        .document("customer.json", Some("customer"), &customer_json(customer))
        .await?;
    archive.begin("bookings.jsonl", Some("booking")).await?;
    for record in &bookings {
        let view = BookingView::from(&record.booking);
        archive.raw_line(&names.booking(record, &view)?).await?;
    }
    archive.begin("bookings.ics", None).await?;
    archive.write(ics::calendar_start().as_bytes()).await?;
    for record in &bookings {
        let view = BookingView::from(&record.booking);
        let event = names.vevent(&view, request.tenant, request.now);
        archive.write(event.as_bytes()).await?;
    }
    archive.write(ics::calendar_end().as_bytes()).await?;
    let mut subjects = vec![customer.id.to_string()];
    subjects.extend(bookings.iter().map(|b| b.booking.id().to_string()));
    archive.begin("audit.jsonl", Some("audit_entry")).await?;
    audit_about(&mut archive, scope, &subjects).await?;
    archive.finish(manifest(request)).await
}

/// Writes every row the business owns, but its secrets; `progress` hears
/// how far it has got after every page.
pub(crate) async fn tenant<W: AsyncWrite + AsyncSeek + Unpin>(
    out: W,
    scope: &TenantScope,
    request: &Request<'_>,
    total: u64,
    ics_spool: tokio::fs::File,
    progress: &mut (dyn FnMut(ExportProgress) + Send),
) -> Result<(W, ExportSummary), AppError> {
    let mut archive = Archive::new(out, request.now);
    archive.total = total;
    let mut tell = |archive: &Archive<W>| {
        progress(ExportProgress {
            rows: archive.rows,
            total: archive.total,
        });
    };
    let legal_hold = scope.legal_hold().await?;
    archive
        .document(
            "tenant.json",
            Some("tenant"),
            &tenant_json(request.tenant, legal_hold),
        )
        .await?;
    archive.begin("users.jsonl", Some("user")).await?;
    for record in scope.users().list().await? {
        let two_factor = record.totp_seed.is_some();
        archive
            .line(&user_json(&record.user, two_factor, record.last_login_at))
            .await?;
    }
    let names = Names::read(scope, request.tenant).await?;
    archive.begin("staff.jsonl", Some("staff")).await?;
    for member in names.staff.values() {
        archive
            .line(&json!({
                "id": member.id().to_string(),
                "name": member.name().as_str(),
                "user": member.user().map(|u| u.to_string()),
            }))
            .await?;
    }
    archive.begin("services.jsonl", Some("service")).await?;
    for service in names.services.values() {
        archive.line(&service_json(service)).await?;
    }
    archive.begin("schedules.jsonl", Some("schedule")).await?;
    for schedule in scope.schedules().list().await? {
        archive.line(&schedule_json(&schedule)).await?;
    }
    tell(&archive);
    archive.begin("customers.jsonl", Some("customer")).await?;
    let mut after: Option<CustomerId> = None;
    loop {
        let page = scope.customers().page(after, PAGE).await?;
        for record in &page {
            archive.line(&customer_json(record)).await?;
        }
        tell(&archive);
        match page.last() {
            Some(last) if page.len() as u64 >= PAGE => after = Some(last.id),
            _ => break,
        }
    }
    // One read of the bookings: their events wait in the spool file until
    // the calendar's turn in the archive.
    let mut events = tokio::io::BufWriter::with_capacity(BUFFER, ics_spool);
    archive.begin("bookings.jsonl", Some("booking")).await?;
    let mut after: Option<BookingId> = None;
    loop {
        let page = scope.bookings().page(after, PAGE).await?;
        let mut vevents = String::new();
        for record in &page {
            let view = BookingView::from(&record.booking);
            archive.raw_line(&names.booking(record, &view)?).await?;
            vevents.push_str(&names.vevent(&view, request.tenant, request.now));
        }
        events
            .write_all(vevents.as_bytes())
            .await
            .map_err(AppError::internal)?;
        tell(&archive);
        match page.last() {
            Some(last) if page.len() as u64 >= PAGE => after = Some(last.booking.id()),
            _ => break,
        }
    }
    events.flush().await.map_err(AppError::internal)?;
    let mut events = events.into_inner();
    events.rewind().await.map_err(AppError::internal)?;
    archive.begin("bookings.ics", None).await?;
    archive.write(ics::calendar_start().as_bytes()).await?;
    let mut chunk = vec![0; BUFFER];
    loop {
        let read = events.read(&mut chunk).await.map_err(AppError::internal)?;
        let Some(bytes) = chunk.get(..read).filter(|b| !b.is_empty()) else {
            break;
        };
        archive.write(bytes).await?;
    }
    archive.write(ics::calendar_end().as_bytes()).await?;
    let connections = scope.calendars().list().await?;
    archive
        .begin("calendar_connections.jsonl", Some("calendar_connection"))
        .await?;
    for c in &connections {
        archive
            .line(&json!({
                "id": c.id.to_string(),
                "staff": c.staff.to_string(),
                "provider": c.provider.as_str(),
                "mode": c.mode.as_str(),
                "status": c.status.as_str(),
                "label": c.label,
                "last_synced_at": opt_utc(c.last_synced_at),
                "created_at": utc(c.created_at),
            }))
            .await?;
    }
    archive
        .begin("busy_blocks.jsonl", Some("busy_block"))
        .await?;
    for c in &connections {
        for block in scope.calendars().imported(c.id).await? {
            archive
                .line(&json!({
                    "connection": c.id.to_string(),
                    "staff": c.staff.to_string(),
                    "subject": block.subject(),
                    "starts_at": utc(block.range().start()),
                    "ends_at": utc(block.range().end()),
                    "all_day": block.all_day(),
                }))
                .await?;
        }
    }
    archive.begin("api_keys.jsonl", Some("api_key")).await?;
    for key in scope.api_keys().list().await? {
        archive
            .line(&json!({
                "id": key.id.to_string(),
                "name": key.name,
                "scopes": key.scopes,
                "created_by": key.created_by.to_string(),
                "created_at": utc(key.created_at),
                "revoked_at": opt_utc(key.revoked_at),
            }))
            .await?;
    }
    archive
        .begin("invitations.jsonl", Some("invitation"))
        .await?;
    for invitation in scope.invitations().list().await? {
        archive
            .line(&json!({
                "id": invitation.id.to_string(),
                "email": invitation.email.as_str(),
                "role": invitation.role.as_str(),
                "invited_by": invitation.invited_by.to_string(),
                "created_at": utc(invitation.created_at),
                "expires_at": utc(invitation.expires_at),
                "accepted_at": opt_utc(invitation.accepted_at),
            }))
            .await?;
    }
    archive
        .begin("sign_in_notices.jsonl", Some("sign_in_notice"))
        .await?;
    let mut after = None;
    loop {
        let page = scope.sign_ins().page(after, PAGE).await?;
        for notice in &page {
            archive
                .line(&json!({
                    "id": notice.id.to_string(),
                    "user": notice.user.to_string(),
                    "at": utc(notice.at),
                    "address": notice.address,
                    "user_agent": notice.user_agent,
                    "new_device": notice.new_device,
                    "new_network": notice.new_network,
                }))
                .await?;
        }
        match page.last() {
            Some(last) if page.len() as u64 >= PAGE => after = Some(last.id),
            _ => break,
        }
    }
    tell(&archive);
    archive.begin("audit.jsonl", Some("audit_entry")).await?;
    let mut after = 0;
    loop {
        let page = scope
            .audit_entries(&AuditFilter::default(), after, PAGE)
            .await?;
        for entry in &page {
            archive.line(&audit_json(entry)).await?;
        }
        tell(&archive);
        match page.last() {
            Some(last) if page.len() as u64 >= PAGE => after = last.seq,
            _ => break,
        }
    }
    let done = archive.finish(manifest(request)).await?;
    progress(ExportProgress {
        rows: done.1.rows,
        total: done.1.rows,
    });
    Ok(done)
}
