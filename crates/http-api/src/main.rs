//! The `bookwarden` binary: `serve` runs the platform (by default on an
//! embedded SQLite file in `./bookwarden-data`, no setup), `migrate`
//! prepares databases, `keys` makes and rotates master keys, `tenant`
//! creates a business, changes its plan or status, reports its privileged
//! accounts or sets a legal hold, `audit verify` checks the audit chains
//! and `audit purge` applies their retention, `export` and `erase` serve
//! data rights, `backup` and `restore` make, check and restore encrypted
//! backups, `openapi` and
//! `settings` print the API description and the settings table.

use std::io::{BufRead as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use bookwarden_app::backup::{BackupContent, BackupManifest, restore_backup, verify_backup};
use bookwarden_app::config::KeySource;
use bookwarden_app::keys::MasterKeyRing;
use bookwarden_app::{
    App, ChainStatus, ClientInfo, ErasureStep, SecretString, Signup, SystemClock, TenantChange,
    keys,
};
use bookwarden_domain::id::CustomerId;
use bookwarden_domain::tenant::{Plan, TenantStatus};
use bookwarden_http_api::config::{Config, FileConfig};
use bookwarden_http_api::telemetry::{self, Output};
use bookwarden_http_api::{Listen, chain_break, start, tls_config};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bookwarden: multi-tenant appointment booking that keeps every business's
/// data sealed off from every other.
///
/// Settings come from built-in defaults, then the file given by --config
/// (TOML), then BOOKWARDEN_* environment variables, then these flags. See
/// docs/OPERATIONS.md for every setting.
#[derive(Parser)]
#[command(name = "bookwarden", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. With no configuration it keeps everything in
    /// ./bookwarden-data (an SQLite database and a development master key).
    Serve(Common),
    /// Bring every configured database to the newest schema. On PostgreSQL,
    /// run it with the schema owner's URL and --app-role.
    Migrate {
        #[command(flatten)]
        common: Common,
        /// PostgreSQL: the role the server connects as; it gets read and
        /// write on the tables and owns nothing, so row-level security
        /// binds it.
        #[arg(long)]
        app_role: Option<String>,
    },
    /// Make or rotate master keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage businesses (tenants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Check the audit chains.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Export everything stored about one customer (--customer), or every
    /// row a business owns but its secrets, as a tar archive of JSON
    /// documents with a manifest (see docs/API.md, "Data rights").
    Export {
        #[command(flatten)]
        common: Common,
        /// The business's slug.
        #[arg(long)]
        slug: String,
        /// Only this customer (their id).
        #[arg(long)]
        customer: Option<String>,
        /// The archive to write; it must not exist yet.
        #[arg(long)]
        out: PathBuf,
    },
    /// Erase data (data rights, P10).
    #[command(subcommand)]
    Erase(EraseCommand),
    /// Write an encrypted backup of every region's SQLite database (or,
    /// with --key-store, of the key store alone) while the server keeps
    /// serving; `backup verify FILE` checks one. The backup is encrypted
    /// under a key derived from the primary master key; keep the key store's
    /// backups apart from the data's (docs/OPERATIONS.md, "Backing up and
    /// restoring").
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        verify: Option<BackupCommand>,
        #[command(flatten)]
        common: Common,
        /// The backup file to write; it must not exist yet.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Back up the key store (the businesses' wrapped data keys)
        /// instead of the data.
        #[arg(long)]
        key_store: bool,
    },
    /// Restore a backup into databases that do not exist yet (the ones the
    /// configuration names): it is verified in full first, then moved into
    /// place and migrated if an older version made it. Refused when a
    /// target exists or the backup's schema is newer than this build.
    Restore {
        #[command(flatten)]
        common: Common,
        /// The backup file.
        file: PathBuf,
    },
    /// Print the OpenAPI document (as served at /openapi.json).
    Openapi,
    /// Print every setting (TOML key, environment variable, default and
    /// meaning) as the Markdown table in docs/OPERATIONS.md.
    Settings,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new master key as VERSION:BASE64, for master_keys or
    /// master_keys_file. Keep it secret; lose it and sealed data is lost.
    Generate {
        /// The version number of the new key (one higher than the newest).
        #[arg(long, default_value_t = 1)]
        version: u32,
    },
    /// Rewrap every tenant's data key under the primary master key (after
    /// adding a new key and making it primary). Safe to rerun; the server
    /// may keep running.
    Rotate(Common),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a business and its owner. The owner's password is read from
    /// the first line of standard input, never from the command line.
    Create {
        #[command(flatten)]
        common: Common,
        /// The business's name.
        #[arg(long)]
        name: String,
        /// Its slug: lowercase letters, digits and hyphens.
        #[arg(long)]
        slug: String,
        /// Its IANA time zone, such as Europe/Berlin.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// The region its data lives in (one of the configured
        /// databases); the default region when left out.
        #[arg(long)]
        region: Option<String>,
        /// The owner's email.
        #[arg(long)]
        owner_email: String,
        /// The owner's name.
        #[arg(long)]
        owner_name: String,
    },
    /// Move a business to another plan (free, pro or enterprise). A plan
    /// without calendar connections (free) disconnects every calendar.
    Plan {
        #[command(flatten)]
        common: Common,
        /// The business's slug.
        #[arg(long)]
        slug: String,
        /// The new plan.
        #[arg(long)]
        plan: String,
    },
    /// List a business's owners and admins with their two-factor state and
    /// last sign-in, for a periodic review of privileged access.
    Report {
        #[command(flatten)]
        common: Common,
        /// The business's slug.
        #[arg(long)]
        slug: String,
    },
    /// Set (on) or lift (off) a legal hold on a business: while it is on,
    /// nothing of the business is erased and audit retention is paused.
    LegalHold {
        #[command(flatten)]
        common: Common,
        /// The business's slug.
        #[arg(long)]
        slug: String,
        /// on or off.
        state: String,
    },
    /// Suspend, reactivate or cancel a business (suspended, active or
    /// cancelled; cancelled is final). Suspending or cancelling
    /// disconnects every calendar.
    Status {
        #[command(flatten)]
        common: Common,
        /// The business's slug.
        #[arg(long)]
        slug: String,
        /// The new status.
        #[arg(long)]
        status: String,
    },
}

#[derive(Subcommand)]
enum EraseCommand {
    /// Erase a customer: name, email, phone and intake answers are deleted,
    /// their bookings stay as anonymous time blocks, their manage links
    /// stop working. Asks for the customer id again unless --yes; refused
    /// under a legal hold; audited.
    Customer {
        #[command(flatten)]
        common: Common,
        /// The business's slug.
        #[arg(long)]
        slug: String,
        /// The customer's id.
        #[arg(long)]
        customer: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Erase a whole business: its data key is destroyed first (so every
    /// secret sealed for it is unreadable, in every backup of the data
    /// too), then every row it owns, in batches; a tombstone with its id
    /// and the times stays, and its slug is free again after 30 days.
    /// Asks for the slug again unless --yes; refused under a legal hold.
    /// Rerun it with the same slug to complete an erasure that stopped.
    Business {
        #[command(flatten)]
        common: Common,
        /// The business's slug.
        #[arg(long)]
        slug: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Decrypt a backup in full, check every checksum, unpack its
    /// databases into a scratch folder of the data directory, run SQLite's
    /// integrity check on each and compare its rows with the manifest.
    /// Exits non-zero unless all of it holds; writes nothing else.
    Verify {
        #[command(flatten)]
        common: Common,
        /// The backup file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify every business's audit chain (or one's) from where retention
    /// purging stopped to its newest entry, and name the first broken link
    /// of each: edited, removed, reordered, truncated or anchor_forged.
    /// Exits non-zero when any chain is broken or cannot be checked.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Only this business (its slug).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove the audit entries past their retention (30, 90 or 180 days
    /// by severity), oldest first, stopping at the first one still kept;
    /// `serve` does the same every hour. Each purge is itself audited, and
    /// the chain still verifies afterwards.
    Purge {
        #[command(flatten)]
        common: Common,
        /// Only this business (its slug).
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Args)]
struct Common {
    /// A TOML configuration file.
    #[arg(long, env = "BOOKWARDEN_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Folder for the embedded database and the development key
    /// [default: ./bookwarden-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn load(common: &Common) -> Result<Config, String> {
    let mut file = match &common.config {
        Some(path) => FileConfig::read(path).map_err(|e| chain(&e))?,
        None => FileConfig::default(),
    };
    file.apply_env(std::env::vars()).map_err(|e| chain(&e))?;
    if let Some(listen) = &common.listen {
        file.listen = Some(listen.clone());
    }
    if let Some(dir) = &common.data_dir {
        file.data_dir = Some(dir.clone());
    }
    Config::from_file_config(file).map_err(|e| chain(&e))
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// How often the server purges audit entries past their retention.
const AUDIT_PURGE_TICK: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// How often the server looks for calendar connections due a sync.
const CALENDAR_SYNC_TICK: std::time::Duration = std::time::Duration::from_secs(30);

fn say(line: &str) {
    let _ignored = writeln!(std::io::stderr(), "{line}");
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(common) => serve(&common).await,
        Command::Migrate { common, app_role } => migrate(&common, app_role.as_deref()).await,
        Command::Keys(KeysCommand::Generate { version }) => generate(version),
        Command::Openapi => write!(std::io::stdout(), "{}", bookwarden_http_api::openapi_json())
            .map_err(|e| e.to_string()),
        Command::Settings => write!(
            std::io::stdout(),
            "{}",
            bookwarden_http_api::config::settings_table()
        )
        .map_err(|e| e.to_string()),
        Command::Keys(KeysCommand::Rotate(common)) => rotate(&common).await,
        Command::Tenant(TenantCommand::Create {
            common,
            name,
            slug,
            time_zone,
            region,
            owner_email,
            owner_name,
        }) => {
            let business = NewBusiness {
                name,
                slug,
                time_zone,
                region,
            };
            create_tenant(&common, business, owner_email, owner_name).await
        }
        Command::Tenant(TenantCommand::Plan { common, slug, plan }) => match Plan::parse(&plan) {
            Ok(plan) => change_tenant(&common, &slug, TenantChange::Plan(plan)).await,
            Err(e) => Err(e.to_string()),
        },
        Command::Tenant(TenantCommand::Status {
            common,
            slug,
            status,
        }) => match TenantStatus::parse(&status) {
            Ok(status) => change_tenant(&common, &slug, TenantChange::Status(status)).await,
            Err(e) => Err(e.to_string()),
        },
        Command::Tenant(TenantCommand::Report { common, slug }) => {
            privileged_report(&common, &slug).await
        }
        Command::Audit(AuditCommand::Verify { common, tenant }) => {
            verify_audit(&common, tenant.as_deref()).await
        }
        Command::Audit(AuditCommand::Purge { common, tenant }) => {
            purge_audit(&common, tenant.as_deref()).await
        }
        Command::Export {
            common,
            slug,
            customer,
            out,
        } => export(&common, &slug, customer.as_deref(), &out).await,
        Command::Erase(EraseCommand::Customer {
            common,
            slug,
            customer,
            yes,
        }) => erase_customer(&common, &slug, &customer, yes).await,
        Command::Backup {
            verify: Some(BackupCommand::Verify { common, file }),
            ..
        } => verify(&common, &file).await,
        Command::Backup {
            verify: None,
            common,
            out: Some(out),
            key_store,
        } => backup(&common, &out, key_store).await,
        Command::Backup { out: None, .. } => Err(
            "say where the backup goes (--out FILE), or verify one (backup verify FILE)".to_owned(),
        ),
        Command::Restore { common, file } => restore(&common, &file).await,
        Command::Erase(EraseCommand::Business { common, slug, yes }) => {
            erase_business(&common, &slug, yes).await
        }
        Command::Tenant(TenantCommand::LegalHold {
            common,
            slug,
            state,
        }) => match state.as_str() {
            "on" => legal_hold(&common, &slug, true).await,
            "off" => legal_hold(&common, &slug, false).await,
            _ => Err("the legal hold state is on or off".to_owned()),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say(&format!("error: {message}"));
            ExitCode::FAILURE
        }
    }
}

async fn open(common: &Common, output: Output) -> Result<(App, Config), String> {
    let config = load(common)?;
    telemetry::init(config.log_format, &config.log_filter, output)?;
    let (app, startup) = App::open(config.app.clone(), Arc::new(SystemClock))
        .await
        .map_err(|e| chain(&e))?;
    if let Some(made) = startup.development_key {
        let path = config.app.data_dir.join("master.key");
        let verb = if made { "GENERATED" } else { "USING" };
        let warning = format!(
            "WARNING: {verb} A DEVELOPMENT MASTER KEY at {} (mode 0600). Production must supply \
             its own master keys (master_keys or master_keys_file; see docs/OPERATIONS.md).",
            path.display()
        );
        say(&warning);
        tracing::warn!("{warning}");
    }
    Ok((app, config))
}

async fn serve(common: &Common) -> Result<(), String> {
    let (app, config) = open(common, Output::Stdout).await?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_config(cert, key).map_err(|e| chain(&e))?),
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    if config.app.key_store.is_none() {
        tracing::warn!(
            "no key_store is configured: the businesses' data keys are kept in the data \
             databases, so a backup of them holds the keys and erasing a business cannot reach \
             its secrets in that backup (docs/OPERATIONS.md)"
        );
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %config.listen, %scheme, "bookwarden is listening");
    if tls.is_none() && !config.behind_proxy && !config.listen.ip().is_loopback() {
        tracing::warn!(
            "serving plain HTTP on a non-loopback address: configure tls_cert/tls_key or put \
             an HTTPS proxy in front and set behind_proxy (docs/OPERATIONS.md)"
        );
    }
    let app = Arc::new(app);
    let server = start(app.clone(), Listen { listener, tls }, &config).map_err(|e| chain(&e))?;
    // Calendar sync runs beside the workers and stops with the server.
    let sync = tokio::spawn(app.clone().run_calendar_sync(CALENDAR_SYNC_TICK));
    // So does the audit retention purge, once an hour.
    let purge = tokio::spawn(app.clone().run_audit_purge(AUDIT_PURGE_TICK));
    // And the scheduled backups, where configured.
    let backups = tokio::spawn(app.run_backups());
    let stopped = server.await;
    sync.abort();
    purge.abort();
    backups.abort();
    stopped.map_err(|e| chain(&e))?;
    tracing::info!("bookwarden stopped");
    Ok(())
}

async fn migrate(common: &Common, app_role: Option<&str>) -> Result<(), String> {
    let config = load(common)?;
    telemetry::init(config.log_format, &config.log_filter, Output::Stderr)?;
    bookwarden_app::migrate(&config.app, app_role)
        .await
        .map_err(|e| chain(&e))?;
    say(&format!(
        "migrated {} database(s)",
        config.app.databases.len()
    ));
    Ok(())
}

fn generate(version: u32) -> Result<(), String> {
    let entry = keys::generate_entry(version).map_err(|e| chain(&e))?;
    writeln!(std::io::stdout(), "{}", entry.expose_secret()).map_err(|e| e.to_string())
}

async fn rotate(common: &Common) -> Result<(), String> {
    let (app, _) = open(common, Output::Stderr).await?;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} rewrapping tenant keys {pos}/{len} {elapsed_precise}",
    ) {
        bar.set_style(style);
    }
    let summary = keys::rotate(app.store(), app.keys(), |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await;
    bar.finish_and_clear();
    let summary = summary.map_err(|e| chain(&e))?;
    say(&format!(
        "done: {} tenant(s), {} rewrapped, {} already current, {} without a key",
        summary.rewrapped + summary.current + summary.without_key,
        summary.rewrapped,
        summary.current,
        summary.without_key
    ));
    Ok(())
}

/// A business to create at the command line.
struct NewBusiness {
    name: String,
    slug: String,
    time_zone: String,
    region: Option<String>,
}

async fn create_tenant(
    common: &Common,
    business: NewBusiness,
    email: String,
    owner_name: String,
) -> Result<(), String> {
    let NewBusiness {
        name,
        slug,
        time_zone,
        region,
    } = business;
    let (app, _) = open(common, Output::Stderr).await?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = SecretString::new(line.trim_end_matches(['\r', '\n']).to_owned());
    line.clear();
    let done = app
        .signup(Signup {
            tenant_name: name,
            region,
            slug,
            time_zone,
            email,
            name: owner_name,
            password,
            client: ClientInfo::default(),
        })
        .await
        .map_err(|e| chain(&e))?;
    writeln!(
        std::io::stdout(),
        "tenant {} owner {}",
        done.tenant,
        done.user
    )
    .map_err(|e| e.to_string())
}

async fn change_tenant(common: &Common, slug: &str, change: TenantChange) -> Result<(), String> {
    let (app, _) = open(common, Output::Stderr).await?;
    let done = app
        .change_tenant(slug, change)
        .await
        .map_err(|e| chain(&e))?;
    say(&format!(
        "changed {slug}; {} calendar connection(s) disconnected",
        done.calendars_disconnected
    ));
    Ok(())
}

async fn verify_audit(common: &Common, slug: Option<&str>) -> Result<(), String> {
    let (app, _) = open(common, Output::Stderr).await?;
    let mut out = std::io::stdout().lock();
    let verdicts = app
        .verify_audit_chains(slug, |slug, verdict| {
            let line = match verdict {
                Ok(ChainStatus::Intact { entries }) => format!("{slug}: intact, {entries} entries"),
                Ok(ChainStatus::Broken { seq, reason }) => {
                    format!("{slug}: BROKEN at entry {seq}: {}", chain_break(*reason))
                }
                Err(error) => format!("{slug}: NOT CHECKED: {error}"),
            };
            let _ignored = writeln!(out, "{line}");
        })
        .await
        .map_err(|e| chain(&e))?;
    let broken = verdicts
        .iter()
        .filter(|v| !matches!(v, Ok(ChainStatus::Intact { .. })))
        .count();
    if broken > 0 {
        return Err(format!(
            "{broken} of {} audit chain(s) are broken or could not be checked",
            verdicts.len()
        ));
    }
    say(&format!("{} audit chain(s) verified", verdicts.len()));
    Ok(())
}

async fn purge_audit(common: &Common, slug: Option<&str>) -> Result<(), String> {
    let (app, _) = open(common, Output::Stderr).await?;
    let removed = app.purge_audit(slug).await.map_err(|e| chain(&e))?;
    say(&format!("{removed} expired audit entries removed"));
    Ok(())
}

async fn privileged_report(common: &Common, slug: &str) -> Result<(), String> {
    let (app, _) = open(common, Output::Stderr).await?;
    let accounts = app.privileged_report(slug).await.map_err(|e| chain(&e))?;
    let mut out = std::io::stdout().lock();
    for account in &accounts {
        let last = account
            .last_login_at
            .map_or_else(|| "never".to_owned(), |at| at.to_string());
        writeln!(
            out,
            "{}\t{}\t{}\ttwo-factor {}\tlast sign-in {last}",
            account.role.as_str(),
            account.email,
            if account.active { "active" } else { "disabled" },
            if account.totp_enabled { "on" } else { "off" },
        )
        .map_err(|e| e.to_string())?;
    }
    say(&format!(
        "{} privileged account(s) in {slug}",
        accounts.len()
    ));
    Ok(())
}

async fn export(
    common: &Common,
    slug: &str,
    customer: Option<&str>,
    out: &std::path::Path,
) -> Result<(), String> {
    let customer = customer
        .map(|c| {
            c.parse::<CustomerId>()
                .map_err(|_malformed| "not a customer id".to_owned())
        })
        .transpose()?;
    if out.exists() {
        return Err(format!("{}: the file exists", out.display()));
    }
    let (app, _) = open(common, Output::Stderr).await?;
    // Written beside its destination under a temporary name (owner-only
    // from the first byte: personal data) and given its name only once
    // whole, so an export cut short (an error, Ctrl-C, a crash) never
    // leaves a file that looks like a complete archive.
    let folder = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    let partial = tempfile::Builder::new()
        .prefix(".bookwarden-export-")
        .tempfile_in(folder)
        .map_err(|e| format!("{}: {e}", folder.display()))?;
    let file = partial
        .as_file()
        .try_clone()
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let writer = tokio::io::BufWriter::new(tokio::fs::File::from_std(file));
    let outcome = match customer {
        Some(customer) => app.export_customer_at(slug, customer, writer).await,
        None => {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed_precise}")
            {
                bar.set_style(style);
            }
            let outcome = app
                .export_tenant_at(slug, writer, &mut |progress| {
                    bar.set_length(progress.total);
                    bar.set_position(progress.rows);
                })
                .await;
            bar.finish_and_clear();
            outcome
        }
    };
    match outcome {
        Ok((written, summary)) => {
            written
                .into_inner()
                .sync_all()
                .await
                .map_err(|e| format!("{}: {e}", out.display()))?;
            partial
                .persist_noclobber(out)
                .map_err(|e| format!("{}: {}", out.display(), e.error))?;
            say(&format!(
                "wrote {} ({} rows, {} bytes); manifest SHA-256 {}",
                out.display(),
                summary.rows,
                summary.bytes,
                summary.manifest_sha256
            ));
            Ok(())
        }
        // The temporary file goes with `partial`.
        Err(error) => Err(chain(&error)),
    }
}

async fn erase_customer(
    common: &Common,
    slug: &str,
    customer: &str,
    yes: bool,
) -> Result<(), String> {
    let id = customer
        .parse::<CustomerId>()
        .map_err(|_malformed| "not a customer id".to_owned())?;
    if !yes {
        say(&format!(
            "This erases customer {id} of {slug} for good: their name, email, phone and intake \
             answers. Type the customer id again to confirm:"
        ));
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim() != customer {
            return Err("not confirmed; nothing was erased".to_owned());
        }
    }
    let (app, _) = open(common, Output::Stderr).await?;
    let bookings = app
        .erase_customer_at(slug, id)
        .await
        .map_err(|e| chain(&e))?;
    say(&format!(
        "erased customer {id}; {bookings} booking(s) kept as anonymous time blocks"
    ));
    Ok(())
}

async fn erase_business(common: &Common, slug: &str, yes: bool) -> Result<(), String> {
    if !yes {
        say(&format!(
            "This erases the business {slug} for good: its data key, every booking, customer, \
             account and audit entry. Type the slug again to confirm:"
        ));
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        if line.trim() != slug {
            return Err("not confirmed; nothing was erased".to_owned());
        }
    }
    let (app, _) = open(common, Output::Stderr).await?;
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {pos} rows {elapsed_precise}")
    {
        bar.set_style(style);
    }
    let rows = app
        .erase_tenant_at(slug, |step| match step {
            ErasureStep::Marked => bar.set_message("marked;"),
            ErasureStep::KeyDestroyed => bar.set_message("data key destroyed; deleting"),
            ErasureStep::Deleted(rows) => bar.inc(rows),
            ErasureStep::Done { .. } => bar.set_message("done;"),
        })
        .await;
    bar.finish_and_clear();
    let rows = rows.map_err(|e| chain(&e))?;
    say(&format!(
        "erased business {slug}: data key destroyed, {rows} row(s) deleted; its slug is free \
         again after {} days",
        bookwarden_domain::tenant::TenantSlug::QUARANTINE_DAYS
    ));
    Ok(())
}

async fn legal_hold(common: &Common, slug: &str, on: bool) -> Result<(), String> {
    let (app, _) = open(common, Output::Stderr).await?;
    app.set_legal_hold(slug, on).await.map_err(|e| chain(&e))?;
    say(&format!(
        "legal hold on {slug} is {}",
        if on { "on" } else { "off" }
    ));
    Ok(())
}

/// A progress bar of bytes on standard error.
fn byte_bar(what: &'static str) -> (ProgressBar, Arc<dyn Fn(u64) + Send + Sync>) {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{bytes}} ({{bytes_per_sec}}) {{elapsed_precise}}"
    )) {
        bar.set_style(style);
    }
    let ticker = bar.clone();
    (bar, Arc::new(move |n| ticker.inc(n)))
}

fn describe(manifest: &BackupManifest) -> String {
    manifest
        .files
        .iter()
        .map(|f| {
            let rows: u64 = f.summary.rows.values().sum();
            format!("{} ({} bytes, {rows} rows)", f.name, f.bytes)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn backup(common: &Common, out: &std::path::Path, key_store: bool) -> Result<(), String> {
    let (app, _) = open(common, Output::Stderr).await?;
    let content = if key_store {
        BackupContent::KeyStore
    } else {
        BackupContent::Data
    };
    let (bar, progress) = byte_bar("encrypting");
    let made = app.backup(content, out, progress).await;
    bar.finish_and_clear();
    let manifest = made.map_err(|e| chain(&e))?;
    say(&format!(
        "wrote {} under master key version {}: {}",
        out.display(),
        manifest.master_key_version,
        describe(&manifest)
    ));
    Ok(())
}

/// The master keys for reading a backup, without making a development key
/// where there is none (it could not open a backup made elsewhere).
fn backup_keys(config: &Config) -> Result<MasterKeyRing, String> {
    if let KeySource::Development(path) = &config.app.keys
        && !path.exists()
    {
        return Err(format!(
            "no master key at {}: copy there the master key of the server that made the backup, \
             or configure master_keys",
            path.display()
        ));
    }
    Ok(keys::load(&config.app.keys, config.app.primary_key)
        .map_err(|e| chain(&e))?
        .ring)
}

async fn verify(common: &Common, file: &std::path::Path) -> Result<(), String> {
    let config = load(common)?;
    let keys = backup_keys(&config)?;
    let (bar, progress) = byte_bar("verifying");
    let checked = verify_backup(&keys, file, &config.app.data_dir, progress).await;
    bar.finish_and_clear();
    let manifest = checked.map_err(|e| format!("FAILED: {}", chain(&e)))?;
    say(&format!(
        "PASSED: {} made {} by {}; {}",
        file.display(),
        manifest.created_at,
        manifest.made_by,
        describe(&manifest)
    ));
    Ok(())
}

async fn restore(common: &Common, file: &std::path::Path) -> Result<(), String> {
    let config = load(common)?;
    let keys = backup_keys(&config)?;
    let (bar, progress) = byte_bar("restoring");
    let restored = restore_backup(&config.app, &keys, file, progress).await;
    bar.finish_and_clear();
    let manifest = restored.map_err(|e| chain(&e))?;
    say(&format!(
        "restored {} (made {}): {}",
        file.display(),
        manifest.created_at,
        describe(&manifest)
    ));
    Ok(())
}
