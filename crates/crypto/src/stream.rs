//! Streaming authenticated encryption for files too large to hold in
//! memory (backups, promise P11), in Tink's published AES-GCM-HKDF
//! streaming layout rather than a format of our own, so an independent
//! implementation (Tink itself) can decrypt what this writes.
//!
//! The layout, with a 32-byte key, HKDF-SHA256 and a ciphertext segment
//! size `S` ([`BACKUP_SEGMENT_SIZE`] for backups, Tink's
//! `AES256_GCM_HKDF_1MB` template):
//!
//! - a header of 40 bytes: its own length (`0x28`), a random 32-byte salt
//!   and a random 7-byte nonce prefix;
//! - a key derived for this stream alone: HKDF-SHA256 of the stream key
//!   with the header's salt, the caller's associated data as `info`;
//! - segments, each AES-256-GCM under the derived key with the nonce
//!   `prefix || segment index (u32, big-endian) || last-segment flag`:
//!   the first holds `S - 40 - 16` bytes of plaintext, the others `S - 16`,
//!   the last one fewer (an empty stream is one empty last segment).
//!
//! The index in every nonce refuses reordered or dropped segments, the
//! flag a stream cut at a segment boundary, the per-stream key segments
//! spliced in from another stream, and the associated data (bound into
//! the key) a stream moved to another context. Nothing of a plaintext is
//! handed out before its segment has authenticated; a reader that stops
//! early has seen only authenticated bytes, and only a reader that reached
//! the end has seen the whole stream.

use std::fmt;
use std::io::{self, Read, Write};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::kdf::hkdf_sha256_key;
use crate::rng::{self, RandomnessError};

/// The ciphertext segment size of backups: 1 MiB, as Tink's
/// `AES256_GCM_HKDF_1MB` template.
pub const BACKUP_SEGMENT_SIZE: usize = 1 << 20;

const KEY_LEN: usize = 32;
const NONCE_PREFIX_LEN: usize = 7;
const TAG_LEN: usize = 16;
/// The header: its length byte, the salt and the nonce prefix.
const HEADER_LEN: usize = 1 + KEY_LEN + NONCE_PREFIX_LEN;
/// The largest segment size accepted (Tink's limit is `i32::MAX`; no
/// caller here needs more than a few MiB, and a reader allocates one).
const MAX_SEGMENT_SIZE: usize = 64 << 20;

/// Why a stream could not be encrypted or decrypted. Inside the
/// [`io::Error`]s of [`Encrypter`] and [`Decrypter`] (kind
/// [`io::ErrorKind::InvalidData`], or `Other` for randomness), beside the
/// underlying reader's or writer's own errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The segment size is out of range.
    #[error(
        "a ciphertext segment is between {min} and {MAX_SEGMENT_SIZE} bytes, not {0}",
        min = HEADER_LEN + TAG_LEN + 1
    )]
    SegmentSize(usize),
    /// The stream does not begin with this layout's header (not an
    /// encrypted stream, or another key size).
    #[error("the stream does not begin with an AES-GCM-HKDF streaming header")]
    Header,
    /// A segment did not authenticate: modified, reordered, spliced from
    /// another stream, cut short, or the wrong key or associated data.
    #[error(
        "segment {0} of the stream did not authenticate (modified, truncated or the wrong key)"
    )]
    Segment(u32),
    /// More than 2^32 segments.
    #[error("the stream is longer than 2^32 segments")]
    TooLong,
    /// An earlier write or read of this stream failed; it is not used
    /// again (a segment sealed twice would reuse its nonce).
    #[error("the stream failed earlier and cannot go on")]
    Failed,
    /// `ring` refused the derived key (cannot happen for 32 bytes).
    #[error("the derived stream key was refused")]
    Key(#[source] ring::error::Unspecified),
    /// `ring` refused to seal a segment (cannot happen below GCM's limit).
    #[error("a segment could not be sealed")]
    Seal(#[source] ring::error::Unspecified),
    /// The key derivation failed (cannot happen for a 32-byte key).
    #[error("the stream key could not be derived")]
    Derive(#[source] crate::KdfError),
    /// The operating system gave no randomness for the salt.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

impl From<StreamError> for io::Error {
    fn from(error: StreamError) -> Self {
        let kind = match error {
            StreamError::Randomness(_) => io::ErrorKind::Other,
            _ => io::ErrorKind::InvalidData,
        };
        Self::new(kind, error)
    }
}

/// A 256-bit stream key: the input to each stream's derivation. Zeroized
/// on drop; `Debug` shows nothing of it.
pub struct StreamKey(Zeroizing<[u8; KEY_LEN]>);

impl StreamKey {
    /// A key from its 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A key from bytes that are wiped wherever they go.
    pub(crate) fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(..)")
    }
}

/// AES-GCM-HKDF streaming encryption under one key and segment size.
#[derive(Debug)]
pub struct StreamingAead {
    key: StreamKey,
    segment_size: usize,
}

impl StreamingAead {
    /// Streams under `key` in segments of `segment_size` ciphertext bytes
    /// (the decrypter must be given the same size: the stream does not
    /// record it).
    ///
    /// # Errors
    /// [`StreamError::SegmentSize`] unless `segment_size` is more than 56
    /// bytes (header and tag) and at most 64 MiB.
    pub fn new(key: StreamKey, segment_size: usize) -> Result<Self, StreamError> {
        if segment_size <= HEADER_LEN + TAG_LEN || segment_size > MAX_SEGMENT_SIZE {
            return Err(StreamError::SegmentSize(segment_size));
        }
        Ok(Self { key, segment_size })
    }

    /// Encrypts everything written to the returned writer into `out`,
    /// bound to `associated_data`. Call [`Encrypter::finish`] at the end:
    /// a stream dropped without it lacks its last segment, and every
    /// decryption of it fails at the end.
    ///
    /// # Errors
    /// No randomness for the header, or `out` refused the header.
    pub fn encrypter<W: Write>(&self, associated_data: &[u8], out: W) -> io::Result<Encrypter<W>> {
        let salt = rng::array::<KEY_LEN>().map_err(|e| io::Error::from(StreamError::from(e)))?;
        let prefix =
            rng::array::<NONCE_PREFIX_LEN>().map_err(|e| io::Error::from(StreamError::from(e)))?;
        self.encrypter_with(associated_data, out, salt, prefix)
    }

    fn encrypter_with<W: Write>(
        &self,
        associated_data: &[u8],
        mut out: W,
        salt: [u8; KEY_LEN],
        prefix: [u8; NONCE_PREFIX_LEN],
    ) -> io::Result<Encrypter<W>> {
        let key = derive(&self.key, &salt, associated_data)?;
        let mut header = [0u8; HEADER_LEN];
        let (length, rest) = header.split_at_mut(1);
        let (salt_out, prefix_out) = rest.split_at_mut(KEY_LEN);
        length.fill(HEADER_LEN as u8);
        salt_out.copy_from_slice(&salt);
        prefix_out.copy_from_slice(&prefix);
        out.write_all(&header)?;
        Ok(Encrypter {
            out,
            key,
            prefix,
            index: 0,
            buffer: Zeroizing::new(Vec::with_capacity(self.segment_size)),
            segment_size: self.segment_size,
            failed: false,
        })
    }

    /// Decrypts the stream `input`, which must have been written with the
    /// same key, segment size and `associated_data`. Reads return only
    /// authenticated plaintext, and an error (kind `InvalidData`) at the
    /// first segment that does not authenticate.
    ///
    /// # Errors
    /// `input` could not be read, or does not begin with the header.
    pub fn decrypter<R: Read>(
        &self,
        associated_data: &[u8],
        mut input: R,
    ) -> io::Result<Decrypter<R>> {
        let mut header = [0u8; HEADER_LEN];
        input.read_exact(&mut header).map_err(|error| {
            if error.kind() == io::ErrorKind::UnexpectedEof {
                StreamError::Header.into()
            } else {
                error
            }
        })?;
        let (Some(&length), Some(salt), Some(prefix)) = (
            header.first(),
            header
                .get(1..=KEY_LEN)
                .and_then(|s| <[u8; KEY_LEN]>::try_from(s).ok()),
            header
                .get(1 + KEY_LEN..)
                .and_then(|s| <[u8; NONCE_PREFIX_LEN]>::try_from(s).ok()),
        ) else {
            return Err(StreamError::Header.into());
        };
        if usize::from(length) != HEADER_LEN {
            return Err(StreamError::Header.into());
        }
        Ok(Decrypter {
            input,
            key: derive(&self.key, &salt, associated_data)?,
            prefix,
            index: 0,
            segment_size: self.segment_size,
            pending: Vec::with_capacity(self.segment_size.saturating_add(1)),
            plaintext: Zeroizing::new(Vec::with_capacity(self.segment_size)),
            position: 0,
            done: false,
            failed: false,
        })
    }
}

fn derive(
    key: &StreamKey,
    salt: &[u8],
    associated_data: &[u8],
) -> Result<LessSafeKey, StreamError> {
    let derived =
        hkdf_sha256_key(salt, key.0.as_slice(), associated_data).map_err(StreamError::Derive)?;
    UnboundKey::new(&AES_256_GCM, derived.as_slice())
        .map(LessSafeKey::new)
        .map_err(StreamError::Key)
}

fn nonce(prefix: &[u8; NONCE_PREFIX_LEN], index: u32, last: bool) -> Nonce {
    let mut nonce = [0u8; 12];
    let (head, tail) = nonce.split_at_mut(NONCE_PREFIX_LEN);
    head.copy_from_slice(prefix);
    let (counter, flag) = tail.split_at_mut(4);
    counter.copy_from_slice(&index.to_be_bytes());
    flag.fill(u8::from(last));
    // Unique: the derived key is this stream's alone (a fresh random salt)
    // and each index is sealed once.
    Nonce::assume_unique_for_key(nonce)
}

/// Plaintext bytes of segment `index` for a ciphertext segment size.
fn plaintext_len(segment_size: usize, index: u32) -> usize {
    let overhead = if index == 0 {
        HEADER_LEN + TAG_LEN
    } else {
        TAG_LEN
    };
    segment_size.saturating_sub(overhead)
}

/// Encrypts what is written to it, segment by segment.
pub struct Encrypter<W: Write> {
    out: W,
    key: LessSafeKey,
    prefix: [u8; NONCE_PREFIX_LEN],
    index: u32,
    /// The current segment's plaintext (sealed in place).
    buffer: Zeroizing<Vec<u8>>,
    segment_size: usize,
    /// Set while a segment is being sealed and written, and left set when
    /// that fails: the buffer then holds a sealed segment, and sealing it
    /// again under the same nonce would give its plaintext away.
    failed: bool,
}

impl<W: Write> fmt::Debug for Encrypter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encrypter")
            .field("segment", &self.index)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Encrypter<W> {
    fn seal(&mut self, last: bool) -> io::Result<()> {
        if self.failed {
            return Err(StreamError::Failed.into());
        }
        if !last && self.index == u32::MAX {
            return Err(StreamError::TooLong.into());
        }
        self.failed = true;
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(&self.prefix, self.index, last),
                Aad::empty(),
                self.buffer.as_mut_slice(),
            )
            .map_err(StreamError::Seal)?;
        self.out.write_all(&self.buffer)?;
        self.out.write_all(tag.as_ref())?;
        self.buffer.clear();
        if !last {
            self.index = self.index.saturating_add(1);
        }
        self.failed = false;
        Ok(())
    }

    /// Seals the last segment and returns the writer, flushed.
    ///
    /// # Errors
    /// The writer refused the last segment or the flush.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Encrypter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(StreamError::Failed.into());
        }
        let written = data.len();
        while !data.is_empty() {
            let capacity = plaintext_len(self.segment_size, self.index);
            // A full segment is sealed only once more plaintext follows:
            // the last one is sealed by `finish`, with its flag set.
            if self.buffer.len() >= capacity {
                self.seal(false)?;
                continue;
            }
            let take = (capacity - self.buffer.len()).min(data.len());
            let (now, later) = data.split_at(take);
            self.buffer.extend_from_slice(now);
            data = later;
        }
        Ok(written)
    }

    /// Flushes the writer below; the current segment stays open (a
    /// segment is sealed only when full or finished).
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Decrypts a stream, segment by segment.
pub struct Decrypter<R: Read> {
    input: R,
    key: LessSafeKey,
    prefix: [u8; NONCE_PREFIX_LEN],
    index: u32,
    segment_size: usize,
    /// Ciphertext read ahead (a segment and one byte more: a segment is
    /// the last when nothing follows it).
    pending: Vec<u8>,
    /// The current segment's plaintext, and how much of it was read.
    plaintext: Zeroizing<Vec<u8>>,
    position: usize,
    done: bool,
    /// A segment did not authenticate (or could not be read): nothing
    /// after it is read, even if asked again.
    failed: bool,
}

impl<R: Read> fmt::Debug for Decrypter<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypter")
            .field("segment", &self.index)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Decrypter<R> {
    /// Reads and opens the next segment into `plaintext`.
    fn next_segment(&mut self) -> io::Result<()> {
        let expected = plaintext_len(self.segment_size, self.index) + TAG_LEN;
        // Read up to one byte past the segment: if it is there, more follows.
        let wanted = expected + 1;
        while self.pending.len() < wanted {
            let start = self.pending.len();
            self.pending.resize(wanted, 0);
            let read = loop {
                match self
                    .input
                    .read(self.pending.get_mut(start..).unwrap_or_default())
                {
                    Ok(n) => break n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        self.pending.truncate(start);
                        return Err(error);
                    }
                }
            };
            self.pending.truncate(start + read);
            if read == 0 {
                break;
            }
        }
        let last = self.pending.len() <= expected;
        let length = self.pending.len().min(expected);
        if length < TAG_LEN || (!last && self.index == u32::MAX) {
            return Err(StreamError::Segment(self.index).into());
        }
        self.plaintext.clear();
        self.plaintext
            .extend_from_slice(self.pending.get(..length).unwrap_or_default());
        self.pending.drain(..length);
        let opened = self
            .key
            .open_in_place(
                nonce(&self.prefix, self.index, last),
                Aad::empty(),
                self.plaintext.as_mut_slice(),
            )
            .map(|plain| plain.len());
        let Ok(opened) = opened else {
            self.plaintext.clear();
            return Err(StreamError::Segment(self.index).into());
        };
        self.plaintext.truncate(opened);
        self.position = 0;
        if last {
            self.done = true;
        } else {
            self.index += 1;
        }
        Ok(())
    }
}

impl<R: Read> Read for Decrypter<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let available = self.plaintext.get(self.position..).unwrap_or_default();
            if !available.is_empty() || out.is_empty() {
                let n = available.len().min(out.len());
                out.get_mut(..n)
                    .unwrap_or_default()
                    .copy_from_slice(available.get(..n).unwrap_or_default());
                self.position += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            if self.failed {
                return Err(StreamError::Failed.into());
            }
            if let Err(error) = self.next_segment() {
                self.failed = true;
                return Err(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::{StreamKey, StreamingAead};

    fn key() -> StreamKey {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        StreamKey::from_bytes(bytes)
    }

    fn salt_and_prefix() -> ([u8; 32], [u8; 7]) {
        let mut salt = [0u8; 32];
        for (i, b) in salt.iter_mut().enumerate() {
            *b = 0x40 + i as u8;
        }
        let mut prefix = [0u8; 7];
        for (i, b) in prefix.iter_mut().enumerate() {
            *b = 0xa0 + i as u8;
        }
        (salt, prefix)
    }

    /// Written by Tink's layout as an independent implementation (Python,
    /// `cryptography`) computes it, and decrypted by Tink 1.16.1 itself:
    /// key 00..1f, associated data "aad", salt 40..5f, nonce prefix
    /// a0..a6, 4,096-byte segments.
    #[test]
    fn p11_the_stream_matches_tinks_layout_byte_for_byte() {
        let aead = StreamingAead::new(key(), 4096).unwrap();
        let (salt, prefix) = salt_and_prefix();
        let mut writer = aead
            .encrypter_with(b"aad", Vec::new(), salt, prefix)
            .unwrap();
        writer.write_all(b"hello world").unwrap();
        let written = writer.finish().unwrap();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&written),
            "28404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f\
             a0a1a2a3a4a5a68f35bc56b2b8fb08584fd96c793fcb16e9ece7ebf2e9af87a2d0ae"
        );

        // Three segments, the last one partial.
        let plaintext: Vec<u8> = (0..10_000_u32).map(|i| (i % 256) as u8).collect();
        let mut writer = aead
            .encrypter_with(b"aad", Vec::new(), salt, prefix)
            .unwrap();
        writer.write_all(&plaintext).unwrap();
        let written = writer.finish().unwrap();
        assert_eq!(written.len(), 10_088);
        assert_eq!(
            data_encoding::HEXLOWER.encode(&crate::digest::sha256(&written)),
            "955b3c6d29fa07b8a7b16f43497605e76d86525725a27b5aabe87b4f2ea32f41"
        );
        let mut back = Vec::new();
        aead.decrypter(b"aad", written.as_slice())
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plaintext);
    }
}
