//! Encrypted, verifiable backups of whole SQLite databases (P11).
//!
//! A backup file is, in order:
//!
//! - 14 bytes in the clear: `BWBACKUP`, the format version (u16,
//!   big-endian) and the version of the master key the backup key was
//!   derived from (u32, big-endian), so a backup made before a key
//!   rotation still restores while that version is in the ring;
//! - a stream in Tink's AES-GCM-HKDF streaming layout
//!   ([`bookwarden_crypto::stream`], 1 MiB segments) under the backup key
//!   ([`MasterKeyRing::backup_key`]), those 14 bytes its associated data;
//! - inside it, a tar archive: each database as `databases/NAME.db` (a
//!   `VACUUM INTO` copy, see [`bookwarden_persistence::System::copy_sqlite`])
//!   and, last, `manifest.json`: the format, when and by which version it was
//!   made, and per database its role, size, SHA-256, the migrations
//!   applied and the rows of every table.
//!
//! A backup holds either the data databases (every region) or the key
//! store, never both: the key store is backed up apart, kept apart and
//! for a shorter time, so that a business whose data key was destroyed
//! (erased) stays unreadable in every backup of the data.
//!
//! Verification decrypts the whole file (the last segment too, so a file
//! cut after the archive's end is refused), checks every size and
//! checksum against the manifest, then opens each copy, runs SQLite's
//! integrity check and compares the row counts. A restore is a verification
//! into the target's own folder, then a rename into place; it refuses a
//! target that exists and a backup whose schema is newer than this build,
//! and migrates one that is older.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bookwarden_crypto::digest::Sha256;
use bookwarden_crypto::stream::{BACKUP_SEGMENT_SIZE, StreamingAead};
use bookwarden_crypto::vault::{KeyRingError, MasterKeyRing, MasterKeyVersion};
use bookwarden_domain::jiff::Timestamp;
use bookwarden_domain::tenant::Region;
use bookwarden_persistence::{
    DatabaseRole, FileSummary, Integrity, StoreError, inspect_sqlite_file, known_migrations,
    sqlite_file,
};
use serde_json::{Value, json};

use crate::App;
use crate::config::Config;

/// The first bytes of every backup file.
pub const BACKUP_MAGIC: [u8; 8] = *b"BWBACKUP";
/// The version of the format this build writes and reads.
pub const BACKUP_FORMAT: u16 = 1;
/// The format's name in the manifest.
const FORMAT_NAME: &str = "bookwarden-backup";
/// The clear header: magic, format, master key version.
const HEADER_LEN: usize = 14;
/// The largest manifest read.
const MAX_MANIFEST: u64 = 4 << 20;

/// What a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupContent {
    /// Every region's data database.
    Data,
    /// The key store.
    KeyStore,
}

/// Why a backup, verification or restore failed. Nothing here quotes a
/// key or a row.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file could not be read or written (including a stream segment
    /// that did not authenticate: modified, cut, or the wrong key).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file is not a backup of this format.
    #[error("not a Bookwarden backup (it does not begin with BWBACKUP)")]
    NotABackup,
    /// The file is in a format this build does not read.
    #[error(
        "the backup is in format {0}; this build reads format {BACKUP_FORMAT} (a newer \
         format needs a newer version)"
    )]
    OtherFormat(u16),
    /// The master key the backup was made under is not configured.
    #[error(
        "the backup was made under master key version {0}, which is not in the key ring: \
         configure that key (it may be retired, not primary)"
    )]
    UnknownMasterKey(u32),
    /// The key ring refused.
    #[error(transparent)]
    Keys(#[from] KeyRingError),
    /// The archive does not match its manifest, or holds what it should not.
    #[error("the backup is inconsistent: {0}")]
    Inconsistent(String),
    /// The backup's schema is newer than this build's.
    #[error(
        "the backup's database {database} has migration {migration}, which this build does not \
         know: restore it with the version that made it ({made_by}) or a newer one"
    )]
    NewerSchema {
        /// The database.
        database: String,
        /// The unknown migration.
        migration: String,
        /// The version that made the backup.
        made_by: String,
    },
    /// What this build cannot do (yet), said plainly.
    #[error("{0}")]
    Unsupported(String),
    /// A restore target is in the way.
    #[error(
        "{0} already exists: a restore writes only into an empty target; move the current \
         database (and its -wal and -shm files) away first"
    )]
    TargetExists(PathBuf),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// One database in a backup, as its manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupFile {
    /// The name inside the archive (`databases/NAME.db`).
    pub name: String,
    /// Which database it is a copy of.
    pub role: DatabaseRole,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// What it holds.
    pub summary: FileSummary,
}

/// A backup's manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupManifest {
    /// When it was made.
    pub created_at: Timestamp,
    /// The Bookwarden version that made it.
    pub made_by: String,
    /// The master key version its key derives from.
    pub master_key_version: u32,
    /// The databases in it.
    pub files: Vec<BackupFile>,
}

impl BackupManifest {
    fn to_json(&self) -> Value {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "database": role_name(&f.role),
                    "bytes": f.bytes,
                    "sha256": f.sha256,
                    "migrations": f.summary.migrations,
                    "rows": f.summary.rows,
                })
            })
            .collect();
        json!({
            "format": FORMAT_NAME,
            "version": BACKUP_FORMAT,
            "created_at": self.created_at.to_string(),
            "made_by": self.made_by,
            "master_key_version": self.master_key_version,
            "files": files,
        })
    }

    fn from_json(value: &Value) -> Result<Self, BackupError> {
        let bad = |what: &str| {
            BackupError::Inconsistent(format!("the manifest's {what} is missing or malformed"))
        };
        if value.get("format").and_then(Value::as_str) != Some(FORMAT_NAME) {
            return Err(bad("format"));
        }
        let text = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(key))
        };
        let number =
            |v: &Value, key: &str| v.get(key).and_then(Value::as_u64).ok_or_else(|| bad(key));
        let created_at = text(value, "created_at")?
            .parse()
            .map_err(|_unparsable| bad("created_at"))?;
        let master_key_version = u32::try_from(number(value, "master_key_version")?)
            .map_err(|_too_large| bad("master_key_version"))?;
        let mut files = Vec::new();
        for file in value
            .get("files")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("files"))?
        {
            let migrations = file
                .get("migrations")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("migrations"))?
                .iter()
                .map(|m| {
                    m.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad("migrations"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let rows = file
                .get("rows")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("rows"))?
                .iter()
                .map(|(table, n)| {
                    n.as_u64()
                        .map(|n| (table.clone(), n))
                        .ok_or_else(|| bad("rows"))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            files.push(BackupFile {
                name: text(file, "name")?,
                role: parse_role(&text(file, "database")?).ok_or_else(|| bad("database"))?,
                bytes: number(file, "bytes")?,
                sha256: text(file, "sha256")?,
                summary: FileSummary { migrations, rows },
            });
        }
        Ok(Self {
            created_at,
            made_by: text(value, "made_by")?,
            master_key_version,
            files,
        })
    }
}

fn role_name(role: &DatabaseRole) -> String {
    match role {
        DatabaseRole::Region(region) => format!("region:{region}"),
        DatabaseRole::KeyStore => "key_store".to_owned(),
    }
}

/// Where a database of `role` lies in the archive.
fn archive_name(role: &DatabaseRole) -> String {
    match role {
        DatabaseRole::Region(region) => format!("databases/{region}.db"),
        DatabaseRole::KeyStore => "databases/keys.db".to_owned(),
    }
}

/// Refuses a manifest that lists a database twice, names one other than
/// its role says, or mixes the data with the key store.
fn check_shape(manifest: &BackupManifest) -> Result<(), BackupError> {
    let mut roles = Vec::new();
    for file in &manifest.files {
        if file.name != archive_name(&file.role) {
            return Err(BackupError::Inconsistent(format!(
                "{} is listed as {}",
                file.name,
                role_name(&file.role)
            )));
        }
        if roles.contains(&&file.role) {
            return Err(BackupError::Inconsistent(format!(
                "{} is listed twice",
                role_name(&file.role)
            )));
        }
        roles.push(&file.role);
    }
    let keys = roles
        .iter()
        .filter(|r| ***r == DatabaseRole::KeyStore)
        .count();
    if roles.is_empty() || (keys > 0 && roles.len() > 1) {
        return Err(BackupError::Inconsistent(
            "a backup holds either the data databases or the key store".to_owned(),
        ));
    }
    Ok(())
}

fn parse_role(name: &str) -> Option<DatabaseRole> {
    match name.strip_prefix("region:") {
        Some(region) => Region::parse(region).ok().map(DatabaseRole::Region),
        None => (name == "key_store").then_some(DatabaseRole::KeyStore),
    }
}

fn header(master: MasterKeyVersion) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    let (magic, rest) = header.split_at_mut(BACKUP_MAGIC.len());
    magic.copy_from_slice(&BACKUP_MAGIC);
    let (format, version) = rest.split_at_mut(2);
    format.copy_from_slice(&BACKUP_FORMAT.to_be_bytes());
    version.copy_from_slice(&master.get().to_be_bytes());
    header
}

fn stream(keys: &MasterKeyRing, master: MasterKeyVersion) -> Result<StreamingAead, BackupError> {
    let key = keys.backup_key(master)?;
    StreamingAead::new(key, BACKUP_SEGMENT_SIZE)
        .map_err(|e| BackupError::Unsupported(e.to_string()))
}

/// Counts and hashes what passes through.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        self.hash.update(read);
        self.bytes += n as u64;
        (self.progress)(n as u64);
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// The start of a scratch folder's name; the process id follows.
const SCRATCH_PREFIX: &str = ".bookwarden-backup-";

/// Makes `path` and its missing parents, owner-only.
fn private_dir(path: &Path) -> Result<(), BackupError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(io_error(format!("cannot make {}", path.display())))
}

/// Opens a new file that only its owner may read.
fn private_file(path: &Path) -> Result<File, BackupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(io_error(format!("cannot create {}", path.display())))
}

/// A folder for plaintext copies, in `parent` (beside the databases, so
/// as protected as they are; owner-only), removed when dropped. Folders
/// that a process which has died left behind are removed first.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path) -> Result<Self, BackupError> {
        private_dir(parent)?;
        remove_abandoned(parent);
        let path = parent.join(format!(
            "{SCRATCH_PREFIX}{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        ));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        // Not recursive: a folder already there is refused, not reused.
        builder
            .create(&path)
            .map_err(io_error(format!("cannot make {}", path.display())))?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_dir_all(&self.0) {
            tracing::warn!(
                folder = %self.0.display(),
                %error,
                "a backup's scratch folder of plaintext copies could not be removed; remove it"
            );
        }
    }
}

/// Removes the scratch folders in `parent` of processes that are gone (a
/// crash or a kill during a backup left plaintext copies there). Where
/// the system does not say which processes run (no `/proc`), none is
/// removed.
fn remove_abandoned(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && let Err(error) = fs::remove_dir_all(entry.path())
        {
            tracing::warn!(
                folder = %entry.path().display(),
                %error,
                "an abandoned backup scratch folder could not be removed"
            );
        }
    }
}

impl App {
    /// Writes an encrypted backup of `content` to `out` (which must not
    /// exist) while the server keeps serving; `progress` hears of every
    /// byte of the copies as it is encrypted. The plaintext copies live in
    /// a folder of the data directory only while the backup is written.
    ///
    /// # Errors
    /// [`BackupError::Unsupported`] for a database on PostgreSQL (use
    /// its point-in-time recovery, docs/OPERATIONS.md) or a key-store
    /// backup with no key store; I/O and database errors.
    pub async fn backup(
        &self,
        content: BackupContent,
        out: &Path,
        progress: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<BackupManifest, BackupError> {
        let system = self.store().system();
        let roles: Vec<DatabaseRole> = match content {
            BackupContent::Data => {
                let regions = system.regions();
                if let Some((region, _)) = regions.iter().find(|(_, sqlite)| !sqlite) {
                    return Err(BackupError::Unsupported(format!(
                        "region {region} is on PostgreSQL: back it up with PostgreSQL's own tools \
                         (docs/OPERATIONS.md, section 10); this command copies SQLite databases"
                    )));
                }
                regions
                    .into_iter()
                    .map(|(region, _)| DatabaseRole::Region(region))
                    .collect()
            }
            BackupContent::KeyStore => match system.key_store() {
                Some(true) => vec![DatabaseRole::KeyStore],
                Some(false) => {
                    return Err(BackupError::Unsupported(
                        "the key store is on PostgreSQL: back it up with PostgreSQL's own tools"
                            .to_owned(),
                    ));
                }
                None => {
                    return Err(BackupError::Unsupported(
                        "no key store is configured: the data keys are in the data databases \
                         and in their backups"
                            .to_owned(),
                    ));
                }
            },
        };
        if out.exists() {
            return Err(BackupError::TargetExists(out.to_owned()));
        }
        let scratch = Scratch::new(&self.config().data_dir)?;
        let mut copies = Vec::new();
        for (n, role) in roles.into_iter().enumerate() {
            let path = scratch.0.join(format!("{n}.db"));
            system.copy_sqlite(&role, &path).await?;
            // SQLite wrote the copy itself; verification checks it.
            let summary = inspect_sqlite_file(&path, Integrity::Skip).await?;
            let name = archive_name(&role);
            copies.push((name, role, summary, path));
        }
        let master = self.keys().primary_version();
        let aead = stream(self.keys(), master)?;
        let out = out.to_owned();
        let made_by = env!("CARGO_PKG_VERSION").to_owned();
        let created_at = self.now();
        let written = tokio::task::spawn_blocking(move || {
            write_archive(&aead, master, &out, copies, created_at, made_by, progress)
        })
        .await
        .map_err(|e| BackupError::Unsupported(format!("the backup task stopped: {e}")))?;
        drop(scratch);
        written
    }
}

fn write_archive(
    aead: &StreamingAead,
    master: MasterKeyVersion,
    out: &Path,
    copies: Vec<(String, DatabaseRole, FileSummary, PathBuf)>,
    created_at: Timestamp,
    made_by: String,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<BackupManifest, BackupError> {
    let partial = with_suffix(out, ".partial");
    let file = private_file(&partial)?;
    let result = (|| {
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let header = header(master);
        writer
            .write_all(&header)
            .map_err(io_error("cannot write the backup"))?;
        let encrypter = aead
            .encrypter(&header, writer)
            .map_err(io_error("cannot write the backup"))?;
        let mut archive = tar::Builder::new(encrypter);
        let mut files = Vec::new();
        for (name, role, summary, path) in copies {
            let copy = File::open(&path).map_err(io_error("cannot read a database copy"))?;
            let size = copy
                .metadata()
                .map_err(io_error("cannot read a database copy"))?
                .len();
            let mut entry = tar::Header::new_ustar();
            entry.set_size(size);
            entry.set_mode(0o600);
            entry.set_mtime(u64::try_from(created_at.as_second()).unwrap_or(0));
            let mut hashing = Hashing {
                inner: BufReader::with_capacity(1 << 20, copy),
                hash: Sha256::new(),
                bytes: 0,
                progress: Arc::clone(&progress),
            };
            archive
                .append_data(&mut entry, &name, &mut hashing)
                .map_err(io_error("cannot write the backup"))?;
            files.push(BackupFile {
                name,
                role,
                bytes: hashing.bytes,
                sha256: hex(&hashing.hash.finish()),
                summary,
            });
        }
        let manifest = BackupManifest {
            created_at,
            made_by,
            master_key_version: master.get(),
            files,
        };
        let text = serde_json::to_vec_pretty(&manifest.to_json())
            .map_err(|e| BackupError::Unsupported(e.to_string()))?;
        let mut entry = tar::Header::new_ustar();
        entry.set_size(text.len() as u64);
        entry.set_mode(0o600);
        entry.set_mtime(u64::try_from(created_at.as_second()).unwrap_or(0));
        archive
            .append_data(&mut entry, "manifest.json", text.as_slice())
            .map_err(io_error("cannot write the backup"))?;
        let writer = archive
            .into_inner()
            .and_then(bookwarden_crypto::stream::Encrypter::finish)
            .map_err(io_error("cannot write the backup"))?;
        let file = writer.into_inner().map_err(|e| BackupError::Io {
            what: "cannot write the backup".to_owned(),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(io_error("cannot sync the backup"))?;
        Ok(manifest)
    })();
    match result.and_then(|manifest| place(&partial, out).map(|()| manifest)) {
        Ok(manifest) => Ok(manifest),
        Err(error) => {
            let _ = fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// Gives the complete file at `from` the name `to`, never replacing a
/// file of that name (a link, then the old name removed); where the file
/// system has no links, a rename once `to` is seen free.
fn place(from: &Path, to: &Path) -> Result<(), BackupError> {
    match fs::hard_link(from, to) {
        Ok(()) => {
            let _ = fs::remove_file(from);
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            Err(BackupError::TargetExists(to.to_owned()))
        }
        Err(_no_links) if !to.exists() => {
            fs::rename(from, to).map_err(io_error(format!("cannot write {}", to.display())))
        }
        Err(_no_links) => Err(BackupError::TargetExists(to.to_owned())),
    }
}

/// A verified backup: its manifest and where its databases were unpacked.
struct Unpacked {
    manifest: BackupManifest,
    files: Vec<(BackupFile, PathBuf)>,
}

/// An opened backup: its key, clear header and the rest of the file.
struct Opened {
    aead: StreamingAead,
    clear: [u8; HEADER_LEN],
    version: u32,
    reader: BufReader<File>,
}

/// Opens the backup at `file` and finds its key in `keys`.
fn open_backup(keys: &MasterKeyRing, file: &Path) -> Result<Opened, BackupError> {
    let mut reader = BufReader::with_capacity(
        1 << 20,
        File::open(file).map_err(io_error(format!("cannot open {}", file.display())))?,
    );
    let mut clear = [0u8; HEADER_LEN];
    // A file shorter than the header is no backup either.
    reader.read_exact(&mut clear).map_err(|error| {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            BackupError::NotABackup
        } else {
            BackupError::Io {
                what: format!("cannot read {}", file.display()),
                source: error,
            }
        }
    })?;
    let [m0, m1, m2, m3, m4, m5, m6, m7, f0, f1, v0, v1, v2, v3] = clear;
    if [m0, m1, m2, m3, m4, m5, m6, m7] != BACKUP_MAGIC {
        return Err(BackupError::NotABackup);
    }
    let format = u16::from_be_bytes([f0, f1]);
    if format != BACKUP_FORMAT {
        return Err(BackupError::OtherFormat(format));
    }
    let version = u32::from_be_bytes([v0, v1, v2, v3]);
    let master = MasterKeyVersion::new(version).map_err(|_zero| BackupError::NotABackup)?;
    if !keys.versions().contains(&master) {
        return Err(BackupError::UnknownMasterKey(version));
    }
    Ok(Opened {
        aead: stream(keys, master)?,
        clear,
        version,
        reader,
    })
}

/// Decrypts and checks an opened backup, unpacking its databases into
/// `into`.
fn unpack(
    opened: Opened,
    into: &Path,
    progress: &Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<Unpacked, BackupError> {
    let Opened {
        aead,
        clear,
        version,
        reader,
    } = opened;
    let decrypter = aead
        .decrypter(&clear, reader)
        .map_err(io_error("cannot decrypt the backup"))?;
    let mut archive = tar::Archive::new(decrypter);
    let mut seen: Vec<(String, u64, String, PathBuf)> = Vec::new();
    let mut manifest = None;
    for (n, entry) in archive
        .entries()
        .map_err(io_error("cannot decrypt the backup"))?
        .enumerate()
    {
        let mut entry = entry.map_err(io_error("cannot decrypt the backup"))?;
        let name = entry
            .path()
            .map_err(io_error("cannot read the backup"))?
            .to_string_lossy()
            .into_owned();
        if manifest.is_some() {
            return Err(BackupError::Inconsistent(format!(
                "{name} follows the manifest"
            )));
        }
        if name == "manifest.json" {
            let mut text = Vec::new();
            entry
                .by_ref()
                .take(MAX_MANIFEST)
                .read_to_end(&mut text)
                .map_err(io_error("cannot decrypt the backup"))?;
            let value: Value = serde_json::from_slice(&text).map_err(|_not_json| {
                BackupError::Inconsistent("the manifest is not JSON".to_owned())
            })?;
            manifest = Some(BackupManifest::from_json(&value)?);
            continue;
        }
        let valid = name
            .strip_prefix("databases/")
            .and_then(|rest| rest.strip_suffix(".db"))
            .is_some_and(|stem| {
                !stem.is_empty()
                    && stem
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid || seen.iter().any(|(s, ..)| *s == name) {
            return Err(BackupError::Inconsistent(format!(
                "unexpected entry {name:?}"
            )));
        }
        let path = into.join(format!("{n}.db"));
        let mut target = private_file(&path)?;
        let mut hashing = Hashing {
            inner: &mut entry,
            hash: Sha256::new(),
            bytes: 0,
            progress: Arc::clone(progress),
        };
        io::copy(&mut hashing, &mut target).map_err(io_error("cannot decrypt the backup"))?;
        target
            .sync_all()
            .map_err(io_error("cannot write a restored database"))?;
        let (bytes, sha) = (hashing.bytes, hex(&hashing.hash.finish()));
        seen.push((name, bytes, sha, path));
    }
    // The archive ends before the stream does: read the rest, so the last
    // segment is authenticated too (a file cut after the archive is not a
    // whole backup).
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(io_error("cannot decrypt the backup"))?;
    let manifest = manifest.ok_or_else(|| BackupError::Inconsistent("no manifest".to_owned()))?;
    check_shape(&manifest)?;
    if manifest.master_key_version != version {
        return Err(BackupError::Inconsistent(
            "the manifest names another master key".to_owned(),
        ));
    }
    if manifest.files.len() != seen.len() {
        return Err(BackupError::Inconsistent(format!(
            "the manifest lists {} databases, the archive holds {}",
            manifest.files.len(),
            seen.len()
        )));
    }
    let mut files = Vec::new();
    for listed in &manifest.files {
        let Some((_, bytes, sha, path)) = seen.iter().find(|(name, ..)| *name == listed.name)
        else {
            return Err(BackupError::Inconsistent(format!(
                "{} is missing",
                listed.name
            )));
        };
        if *bytes != listed.bytes || *sha != listed.sha256 {
            return Err(BackupError::Inconsistent(format!(
                "{} does not match its checksum",
                listed.name
            )));
        }
        files.push((listed.clone(), path.clone()));
    }
    Ok(Unpacked { manifest, files })
}

/// Opens each unpacked database and compares it with the manifest.
async fn check(unpacked: &Unpacked) -> Result<(), BackupError> {
    for (listed, path) in &unpacked.files {
        let found = inspect_sqlite_file(path, Integrity::Check).await?;
        if found != listed.summary {
            return Err(BackupError::Inconsistent(format!(
                "{} does not hold the rows its manifest lists",
                listed.name
            )));
        }
    }
    Ok(())
}

/// Verifies the backup at `file` under `keys`: decrypts all of it, checks
/// every checksum, unpacks every database into a scratch folder in
/// `scratch_parent` (removed afterwards), runs SQLite's integrity check on
/// each and compares its rows with the manifest.
///
/// # Errors
/// The first thing that does not hold, as a [`BackupError`].
pub async fn verify_backup(
    keys: &MasterKeyRing,
    file: &Path,
    scratch_parent: &Path,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<BackupManifest, BackupError> {
    let scratch = Scratch::new(scratch_parent)?;
    let opened = open_backup(keys, file)?;
    let unpacked = {
        let into = scratch.0.clone();
        tokio::task::spawn_blocking(move || unpack(opened, &into, &progress))
            .await
            .map_err(|e| BackupError::Unsupported(format!("the verify task stopped: {e}")))??
    };
    check(&unpacked).await?;
    drop(scratch);
    Ok(unpacked.manifest)
}

/// Restores the backup at `file` into the databases `config` names, none
/// of which may exist yet: verifies it in full in the data folder, puts
/// every database into place or none (never over a file), and migrates
/// any that an older version made.
///
/// # Errors
/// [`BackupError::TargetExists`], [`BackupError::NewerSchema`], or any
/// verification failure; nothing is moved into place unless every
/// database verified.
pub async fn restore_backup(
    config: &Config,
    keys: &MasterKeyRing,
    file: &Path,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<BackupManifest, BackupError> {
    let scratch = Scratch::new(&config.data_dir)?;
    let opened = open_backup(keys, file)?;
    let unpacked = {
        let into = scratch.0.clone();
        tokio::task::spawn_blocking(move || unpack(opened, &into, &progress))
            .await
            .map_err(|e| BackupError::Unsupported(format!("the restore task stopped: {e}")))??
    };
    check(&unpacked).await?;
    let mut moves: Vec<(PathBuf, PathBuf, DatabaseRole, String)> = Vec::new();
    for (listed, path) in &unpacked.files {
        let url = match &listed.role {
            DatabaseRole::Region(region) => config.databases.get(region).ok_or_else(|| {
                BackupError::Unsupported(format!(
                    "the backup holds region {region}, which the configuration does not name"
                ))
            })?,
            DatabaseRole::KeyStore => config.key_store.as_ref().ok_or_else(|| {
                BackupError::Unsupported(
                    "the backup is of a key store, and none is configured".to_owned(),
                )
            })?,
        };
        let target = sqlite_file(url).ok_or_else(|| {
            BackupError::Unsupported(format!(
                "{} is restored into an SQLite file; its configured database is not one",
                listed.name
            ))
        })?;
        // A database's own files; a journal left beside would be rolled
        // back into the restored one.
        for existing in [
            target.clone(),
            with_suffix(&target, "-wal"),
            with_suffix(&target, "-shm"),
            with_suffix(&target, "-journal"),
        ] {
            if existing.exists() {
                return Err(BackupError::TargetExists(existing));
            }
        }
        if moves.iter().any(|(_, other, ..)| *other == target) {
            return Err(BackupError::Unsupported(format!(
                "two databases of the backup would be restored into {}",
                target.display()
            )));
        }
        let known = known_migrations(&listed.role);
        if let Some(unknown) = listed
            .summary
            .migrations
            .iter()
            .find(|m| !known.contains(m))
        {
            return Err(BackupError::NewerSchema {
                database: listed.name.clone(),
                migration: unknown.clone(),
                made_by: unpacked.manifest.made_by.clone(),
            });
        }
        moves.push((path.clone(), target, listed.role.clone(), url.clone()));
    }
    place_all(&moves)?;
    drop(scratch);
    for (_, _, role, url) in &moves {
        match role {
            DatabaseRole::Region(_) => {
                bookwarden_persistence::migrate_in(url, &config.postgres_placement).await?;
            }
            DatabaseRole::KeyStore => {
                bookwarden_persistence::migrate_key_store(url, &config.postgres_placement).await?;
            }
        }
    }
    Ok(unpacked.manifest)
}

/// Puts each verified copy at its target: first every copy beside its
/// target (a rename, or a copy to another file system), then each linked
/// to its name, which refuses a file that appeared there meanwhile. On any
/// failure, what this placed is removed again.
fn place_all(moves: &[(PathBuf, PathBuf, DatabaseRole, String)]) -> Result<(), BackupError> {
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    let mut placed: Vec<&Path> = Vec::new();
    let result = (|| {
        for (from, to, ..) in moves {
            if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
                private_dir(parent)?;
            }
            let beside = with_suffix(to, &format!(".restoring-{}", std::process::id()));
            if beside.exists() {
                return Err(BackupError::TargetExists(beside));
            }
            if fs::rename(from, &beside).is_err() {
                let mut target = private_file(&beside)?;
                staged.push((beside.clone(), to));
                let mut source =
                    File::open(from).map_err(io_error("cannot read a restored database"))?;
                io::copy(&mut source, &mut target)
                    .and_then(|_| target.sync_all())
                    .map_err(io_error(format!("cannot write {}", beside.display())))?;
            } else {
                staged.push((beside, to));
            }
        }
        for (beside, to) in &staged {
            place(beside, to)?;
            placed.push(to);
        }
        Ok(())
    })();
    if result.is_err() {
        for (beside, _) in &staged {
            let _ = fs::remove_file(beside);
        }
        for to in placed {
            let _ = fs::remove_file(to);
        }
    }
    result
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Backups `serve` makes on a schedule: the data every `every` into
/// `dir`, the key store (when one is configured on SQLite) into
/// `key_store_dir`, each keeping its newest `keep` files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSchedule {
    /// Where the data backups go.
    pub dir: PathBuf,
    /// Where the key store's backups go, apart from the data's; `None`:
    /// the schedule does not back the key store up.
    pub key_store_dir: Option<PathBuf>,
    /// How often.
    pub every: std::time::Duration,
    /// How many backups of each kind are kept; older ones are removed.
    pub keep: usize,
    /// Readiness fails once the last good data backup is older than this
    /// (the recovery point objective the schedule must meet).
    pub max_age: std::time::Duration,
}

/// What the backup schedule last did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupState {
    /// When the app opened.
    pub since: Option<Timestamp>,
    /// When the last good data backup was made.
    pub last_success: Option<Timestamp>,
    /// Its size in bytes.
    pub last_bytes: u64,
    /// How long it took.
    pub last_duration: std::time::Duration,
    /// Scheduled backups (of either kind) that failed since the app opened.
    pub failures: u64,
}

impl BackupState {
    pub(crate) fn since(now: Timestamp) -> Self {
        Self {
            since: Some(now),
            ..Self::default()
        }
    }
}

/// The file name of a scheduled backup made at `at`: sorts by time.
fn scheduled_name(prefix: &str, at: Timestamp) -> String {
    format!("{prefix}{}.bwb", at.strftime("%Y%m%dT%H%M%S%.6fZ"))
}

/// Removes all but the newest `keep` of the scheduled backups named
/// `prefix...` in `dir`.
fn prune(dir: &Path, prefix: &str, keep: usize) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with(prefix) && n.ends_with(".bwb"))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut removed = 0;
    for old in names.iter().skip(keep.max(1)) {
        match fs::remove_file(dir.join(old)) {
            Ok(()) => removed += 1,
            Err(error) => tracing::warn!(file = %old, %error, "an old backup could not be removed"),
        }
    }
    removed
}

impl App {
    /// Makes a scheduled backup every [`BackupSchedule::every`] (the first
    /// at once) until the task is dropped; does nothing without a
    /// schedule.
    pub async fn run_backups(self: Arc<Self>) {
        let Some(every) = self.config().backups.as_ref().map(|s| s.every) else {
            return;
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.backup_round().await;
        }
    }

    /// One round of the schedule: the data, then the key store, each
    /// into its folder, the oldest beyond the kept number removed. A
    /// failure is logged and counted, and the next round tries again.
    pub async fn backup_round(&self) {
        let Some(schedule) = self.config().backups.clone() else {
            return;
        };
        let mut rounds = vec![(
            BackupContent::Data,
            "bookwarden-data-",
            schedule.dir.clone(),
        )];
        if let (Some(dir), Some(true)) =
            (&schedule.key_store_dir, self.store().system().key_store())
        {
            rounds.push((BackupContent::KeyStore, "bookwarden-keys-", dir.clone()));
        }
        for (content, prefix, dir) in rounds {
            let label = match content {
                BackupContent::Data => "data",
                BackupContent::KeyStore => "key_store",
            };
            let started = std::time::Instant::now();
            let at = self.now();
            let out = dir.join(scheduled_name(prefix, at));
            let made = match private_dir(&dir) {
                Ok(()) => self.backup(content, &out, Arc::new(|_| {})).await,
                Err(error) => Err(error),
            };
            let took = started.elapsed();
            match made {
                Ok(_) => {
                    let bytes = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
                    let removed = prune(&dir, prefix, schedule.keep);
                    metrics::gauge!("backup_last_success_timestamp_seconds", "content" => label)
                        .set(at.as_millisecond() as f64 / 1000.0);
                    metrics::gauge!("backup_size_bytes", "content" => label).set(bytes as f64);
                    metrics::gauge!("backup_duration_seconds", "content" => label)
                        .set(took.as_secs_f64());
                    tracing::info!(file = %out.display(), bytes, seconds = took.as_secs_f64(), removed, "scheduled backup written");
                    if content == BackupContent::Data {
                        let mut state = self.backup_state();
                        state.last_success = Some(at);
                        state.last_bytes = bytes;
                        state.last_duration = took;
                    }
                }
                Err(error) => {
                    metrics::counter!("backup_failures_total", "content" => label).increment(1);
                    tracing::warn!(%error, content = label, "scheduled backup failed; the next round tries again");
                    self.backup_state().failures += 1;
                }
            }
        }
    }

    fn backup_state(&self) -> std::sync::MutexGuard<'_, BackupState> {
        self.backups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the backup schedule last did.
    pub fn backup_status(&self) -> BackupState {
        self.backup_state().clone()
    }

    /// Why the backups do not meet the schedule's recovery point, if they
    /// do not: the last good data backup (or, before the first, the
    /// app's start) is older than [`BackupSchedule::max_age`]. `None`
    /// without a schedule.
    pub fn backup_overdue(&self) -> Option<String> {
        let max_age = self.config().backups.as_ref()?.max_age;
        let state = self.backup_status();
        let since = state.last_success.or(state.since)?;
        let age = self.now().duration_since(since);
        let limit = bookwarden_domain::jiff::SignedDuration::try_from(max_age).ok()?;
        (age > limit).then(|| match state.last_success {
            Some(at) => format!("the last good backup was made at {at}, longer ago than the schedule allows"),
            None => "no backup has succeeded since the server started, longer ago than the schedule allows".to_owned(),
        })
    }
}
