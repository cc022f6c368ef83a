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
    DatabaseRole, FileSummary, StoreError, inspect_sqlite_file, known_migrations,
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
    /// The file was written by a newer format.
    #[error("the backup is in format {0}, newer than this build reads ({BACKUP_FORMAT})")]
    NewerFormat(u16),
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

/// A folder for plaintext copies, in `parent` (beside the databases, so
/// as protected as they are), removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path) -> Result<Self, BackupError> {
        let name = format!(
            ".bookwarden-backup-{}",
            hex(&bookwarden_crypto::digest::sha256(
                format!("{}-{}", std::process::id(), Timestamp::now()).as_bytes(),
            ))
            .get(..16)
            .unwrap_or("scratch")
        );
        let path = parent.join(name);
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .recursive(true)
            .create(&path)
            .map_err(io_error(format!("cannot make {}", path.display())))?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
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
                         (docs/OPERATIONS.md, \"Backups\"); this command copies SQLite databases"
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
        let scratch = Scratch::new(&self.config().data_dir)?;
        let mut copies = Vec::new();
        for (n, role) in roles.into_iter().enumerate() {
            let path = scratch.0.join(format!("{n}.db"));
            system.copy_sqlite(&role, &path).await?;
            let summary = inspect_sqlite_file(&path).await?;
            let name = match &role {
                DatabaseRole::Region(region) => format!("databases/{region}.db"),
                DatabaseRole::KeyStore => "databases/keys.db".to_owned(),
            };
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
    let partial = out.with_extension("partial");
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .map_err(io_error(format!("cannot create {}", partial.display())))?;
    if out.exists() {
        let _ = fs::remove_file(&partial);
        return Err(BackupError::TargetExists(out.to_owned()));
    }
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
    match result {
        Ok(manifest) => {
            fs::rename(&partial, out).map_err(io_error(format!(
                "cannot name the backup {}",
                out.display()
            )))?;
            Ok(manifest)
        }
        Err(error) => {
            let _ = fs::remove_file(&partial);
            Err(error)
        }
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
    reader
        .read_exact(&mut clear)
        .map_err(|_too_short| BackupError::NotABackup)?;
    let [m0, m1, m2, m3, m4, m5, m6, m7, f0, f1, v0, v1, v2, v3] = clear;
    if [m0, m1, m2, m3, m4, m5, m6, m7] != BACKUP_MAGIC {
        return Err(BackupError::NotABackup);
    }
    let format = u16::from_be_bytes([f0, f1]);
    if format != BACKUP_FORMAT {
        return Err(BackupError::NewerFormat(format));
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
        let mut target = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error(format!("cannot create {}", path.display())))?;
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
        let found = inspect_sqlite_file(path).await?;
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

/// Where `url` (`sqlite://PATH[?options]`) keeps its file.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Restores the backup at `file` into the databases `config` names, none
/// of which may exist yet: verifies it in full beside each target, moves
/// each database into place, and migrates any that an older version made.
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
    fs::create_dir_all(&config.data_dir).map_err(io_error(format!(
        "cannot make {}",
        config.data_dir.display()
    )))?;
    let scratch = Scratch::new(&config.data_dir)?;
    let opened = open_backup(keys, file)?;
    let unpacked = {
        let into = scratch.0.clone();
        tokio::task::spawn_blocking(move || unpack(opened, &into, &progress))
            .await
            .map_err(|e| BackupError::Unsupported(format!("the restore task stopped: {e}")))??
    };
    check(&unpacked).await?;
    let mut moves = Vec::new();
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
        let target = sqlite_path(url).ok_or_else(|| {
            BackupError::Unsupported(format!(
                "{} is restored into an SQLite file; its configured database is not one",
                listed.name
            ))
        })?;
        for existing in [
            target.clone(),
            with_suffix(&target, "-wal"),
            with_suffix(&target, "-shm"),
        ] {
            if existing.exists() {
                return Err(BackupError::TargetExists(existing));
            }
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
    for (from, to, ..) in &moves {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)
                .map_err(io_error(format!("cannot make {}", parent.display())))?;
        }
        // Same file system when the target is in the data folder; else a copy.
        if fs::rename(from, to).is_err() {
            fs::copy(from, to).map_err(io_error(format!("cannot write {}", to.display())))?;
        }
    }
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

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
