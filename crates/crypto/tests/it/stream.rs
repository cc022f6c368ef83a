//! Streaming encryption for backups (P11): whatever is modified, cut,
//! reordered or spliced is refused before any of it is handed out, and
//! Tink's own implementation reads what we write and writes what we read.

use std::io::{self, Read, Write};
use std::process::{Command, Stdio};

use bookwarden_crypto::stream::{BACKUP_SEGMENT_SIZE, StreamError, StreamKey, StreamingAead};
use bookwarden_crypto::vault::{MasterKey, MasterKeyRing, MasterKeyVersion};
use proptest::prelude::*;

fn aead(key: u8, segment_size: usize) -> StreamingAead {
    StreamingAead::new(StreamKey::from_bytes([key; 32]), segment_size).unwrap()
}

fn encrypt(aead: &StreamingAead, aad: &[u8], plaintext: &[u8], chunk: usize) -> Vec<u8> {
    let mut writer = aead.encrypter(aad, Vec::new()).unwrap();
    for piece in plaintext.chunks(chunk.max(1)) {
        writer.write_all(piece).unwrap();
    }
    writer.finish().unwrap()
}

/// What a reader got before the stream ended or was refused, and why it
/// was refused.
fn decrypt(aead: &StreamingAead, aad: &[u8], stream: &[u8]) -> (Vec<u8>, Option<StreamError>) {
    let mut reader = match aead.decrypter(aad, stream) {
        Ok(reader) => reader,
        Err(error) => return (Vec::new(), Some(stream_error(error))),
    };
    let mut out = Vec::new();
    let mut buffer = [0u8; 333];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buffer[..n]),
            Err(error) => return (out, Some(stream_error(error))),
        }
    }
}

fn stream_error(error: io::Error) -> StreamError {
    assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
    *error
        .into_inner()
        .expect("a stream error inside")
        .downcast::<StreamError>()
        .expect("a stream error")
}

/// Segments of 100 bytes: 44 of plaintext in the first, 84 in the others.
const SEGMENT: usize = 100;

fn segments(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![stream[..SEGMENT].to_vec()];
    out.extend(stream[SEGMENT..].chunks(SEGMENT).map(<[u8]>::to_vec));
    out
}

proptest! {
    #![proptest_config(crate::cases(256))]

    #[test]
    fn p11_a_stream_reads_back_whatever_the_write_and_segment_sizes(
        plaintext in proptest::collection::vec(any::<u8>(), 0..3000),
        chunk in 1usize..700,
        segment in 57usize..600,
    ) {
        let aead = aead(7, segment);
        let stream = encrypt(&aead, b"ctx", &plaintext, chunk);
        let (back, error) = decrypt(&aead, b"ctx", &stream);
        prop_assert!(error.is_none());
        prop_assert_eq!(back, plaintext);
    }
}

#[test]
fn p11_a_modified_cut_reordered_or_spliced_stream_is_refused_before_its_bytes_are_handed_out() {
    let aead = aead(7, SEGMENT);
    let plaintext: Vec<u8> = (0..300_u32).map(|i| (i * 7 % 251) as u8).collect();
    let stream = encrypt(&aead, b"ctx", &plaintext, 64);
    let parts = segments(&stream);
    assert_eq!(parts.len(), 5, "44 + 84 * 3 < 300 <= 44 + 84 * 4");

    let refused = |name: &str, tampered: &[u8], aad: &[u8], aead: &StreamingAead| {
        let (seen, error) = decrypt(aead, aad, tampered);
        assert!(error.is_some(), "{name}: accepted");
        // Only whole segments that authenticated were handed out.
        assert!(
            plaintext.starts_with(&seen),
            "{name}: unauthenticated bytes out"
        );
        error.unwrap()
    };

    // Every byte flipped in turn: header, salt, nonce prefix, bodies, tags.
    for at in 0..stream.len() {
        let mut tampered = stream.clone();
        tampered[at] ^= 0x01;
        refused(&format!("byte {at} flipped"), &tampered, b"ctx", &aead);
    }
    // The last segment dropped (a cut at a segment boundary), or cut short.
    let without_last: Vec<u8> = parts[..4].concat();
    assert!(matches!(
        refused("last segment dropped", &without_last, b"ctx", &aead),
        StreamError::Segment(3)
    ));
    refused(
        "cut by one byte",
        &stream[..stream.len() - 1],
        b"ctx",
        &aead,
    );
    refused("cut inside the header", &stream[..20], b"ctx", &aead);
    // A byte more at the end: the last segment is read as a middle one.
    let mut longer = stream.clone();
    longer.push(0);
    refused("a byte appended", &longer, b"ctx", &aead);
    // Two middle segments swapped.
    let swapped = [&parts[0], &parts[2], &parts[1], &parts[3], &parts[4]]
        .map(Vec::as_slice)
        .concat();
    assert!(matches!(
        refused("segments swapped", &swapped, b"ctx", &aead),
        StreamError::Segment(1)
    ));
    // A segment of another stream under the same key and context.
    let other = segments(&encrypt(&aead, b"ctx", &plaintext, 64));
    let spliced = [&parts[0], &other[1], &parts[2], &parts[3], &parts[4]]
        .map(Vec::as_slice)
        .concat();
    assert!(matches!(
        refused("segment spliced", &spliced, b"ctx", &aead),
        StreamError::Segment(1)
    ));
    // Another key, another context, another segment size.
    refused("wrong key", &stream, b"ctx", &self::aead(8, SEGMENT));
    refused("wrong context", &stream, b"ctz", &aead);
    refused(
        "wrong segment size",
        &stream,
        b"ctx",
        &self::aead(7, SEGMENT + 1),
    );
    // Not a stream at all.
    assert!(matches!(
        refused(
            "no header",
            b"plain text, not a stream at all: 40+ bytes long",
            b"ctx",
            &aead
        ),
        StreamError::Header
    ));

    let (back, error) = decrypt(&aead, b"ctx", &stream);
    assert!(error.is_none());
    assert_eq!(back, plaintext, "the untouched stream reads back");
}

#[test]
fn p11_a_stream_dropped_before_finish_is_refused_at_its_end() {
    let aead = aead(7, SEGMENT);
    let mut out = Vec::new();
    {
        let mut writer = aead.encrypter(b"ctx", &mut out).unwrap();
        writer.write_all(&[5; 300]).unwrap();
    }
    let (seen, error) = decrypt(&aead, b"ctx", &out);
    assert!(error.is_some());
    assert!(seen.len() < 300);
}

#[test]
fn p11_segment_sizes_outside_the_layouts_range_are_refused() {
    for size in [0, 56, 65 << 20] {
        assert!(matches!(
            StreamingAead::new(StreamKey::from_bytes([1; 32]), size),
            Err(StreamError::SegmentSize(s)) if s == size
        ));
    }
    assert!(StreamingAead::new(StreamKey::from_bytes([1; 32]), 57).is_ok());
}

#[test]
fn p11_backup_keys_differ_per_master_version_and_are_not_the_master_key() {
    let v1 = MasterKeyVersion::new(1).unwrap();
    let v2 = MasterKeyVersion::new(2).unwrap();
    let (one, two) = (
        MasterKey::generate(v1).unwrap(),
        MasterKey::generate(v2).unwrap(),
    );
    use base64::Engine as _;
    let master: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(one.export_base64().expose_secret())
        .unwrap()
        .try_into()
        .unwrap();
    let ring = MasterKeyRing::new(v2, [one, two]).unwrap();
    let under = |key: StreamKey| StreamingAead::new(key, SEGMENT).unwrap();
    let sealed = encrypt(&under(ring.backup_key(v1).unwrap()), b"ctx", b"a backup", 8);
    // The same version derives the same key again; another version, or
    // the master key itself, opens nothing.
    let (back, error) = decrypt(&under(ring.backup_key(v1).unwrap()), b"ctx", &sealed);
    assert!(error.is_none());
    assert_eq!(back, b"a backup");
    for other in [ring.backup_key(v2).unwrap(), StreamKey::from_bytes(master)] {
        assert!(decrypt(&under(other), b"ctx", &sealed).1.is_some());
    }
    assert!(ring.backup_key(MasterKeyVersion::new(3).unwrap()).is_err());
    assert_eq!(
        format!("{:?}", ring.backup_key(v1).unwrap()),
        "StreamKey(..)"
    );
}

/// A writer that refuses once, then takes everything.
struct FailsOnce {
    failed: bool,
    taken: Vec<u8>,
}

impl Write for FailsOnce {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.failed && !self.taken.is_empty() {
            self.failed = true;
            return Err(io::Error::other("disk full"));
        }
        self.taken.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn p11_after_a_failed_write_the_stream_seals_nothing_again() {
    let aead = aead(7, SEGMENT);
    let plaintext = [0x61_u8; 500];
    let mut writer = aead
        .encrypter(
            b"ctx",
            FailsOnce {
                failed: false,
                taken: Vec::new(),
            },
        )
        .unwrap();
    // The header went through; the first full segment's write fails.
    assert!(writer.write_all(&plaintext).is_err());
    // Asked again, it refuses instead of sealing the segment a second time
    // under the same nonce (which would write its plaintext out).
    let again = writer.write_all(&plaintext);
    assert!(matches!(
        stream_error(again.unwrap_err()),
        StreamError::Failed
    ));
    assert!(writer.finish().is_err());

    // A reader that met a bad segment reads nothing after it either.
    let mut stream = encrypt(&aead, b"ctx", &plaintext, 64);
    stream[SEGMENT + 10] ^= 1;
    let mut reader = aead.decrypter(b"ctx", stream.as_slice()).unwrap();
    let mut buffer = vec![0u8; 1000];
    let mut seen = 0;
    let first = loop {
        match reader.read(&mut buffer) {
            Ok(n) => seen += n,
            Err(error) => break error,
        }
    };
    assert!(matches!(stream_error(first), StreamError::Segment(1)));
    assert_eq!(seen, 44, "the first segment only");
    assert!(matches!(
        stream_error(reader.read(&mut buffer).unwrap_err()),
        StreamError::Failed
    ));
}

/// Tink's Python implementation (PyPI `tink`) from `BOOKWARDEN_TEST_TINK`
/// (a Python with it installed; `.ci/run` makes one), or `None`: skipped
/// with a printed reason, except under CI.
fn tink() -> Option<String> {
    let python = std::env::var("BOOKWARDEN_TEST_TINK").unwrap_or_else(|_| "python3".to_owned());
    let works = Command::new(&python)
        .args(["-c", "import tink.streaming_aead"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tink is required under CI; .ci/run installs it"
    );
    eprintln!("SKIPPING the Tink interoperability test: no Python with `tink` (pip install tink)");
    None
}

fn run_tink(
    python: &str,
    mode: &str,
    key: &[u8; 32],
    aad: &[u8],
    segment: usize,
    input: &[u8],
) -> Vec<u8> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tink/stream.py");
    let mut child = Command::new(python)
        .args([script, mode, &hex(key), &hex(aad), &segment.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "tink {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn p11_tink_decrypts_our_streams_and_we_decrypt_tinks() {
    let Some(python) = tink() else { return };
    let key = [0x5a; 32];
    let aad = b"BWBACKUP context";
    // Segment boundaries: empty, one byte, the first segment exactly full,
    // one byte past it, and many segments (with the backup segment size).
    let cases: [(usize, usize); 6] = [
        (4096, 0),
        (4096, 1),
        (4096, 4040),
        (4096, 4041),
        (4096, 20_000),
        (BACKUP_SEGMENT_SIZE, 3 * BACKUP_SEGMENT_SIZE + 17),
    ];
    for (segment, len) in cases {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
        let aead = StreamingAead::new(StreamKey::from_bytes(key), segment).unwrap();
        let ours = encrypt(&aead, aad, &plaintext, 1000);
        assert_eq!(
            run_tink(&python, "decrypt", &key, aad, segment, &ours),
            plaintext,
            "{segment}/{len}"
        );
        let theirs = run_tink(&python, "encrypt", &key, aad, segment, &plaintext);
        assert_eq!(theirs.len(), ours.len(), "the same layout: {segment}/{len}");
        let (back, error) = decrypt(&aead, aad, &theirs);
        assert!(error.is_none(), "{segment}/{len}: {error:?}");
        assert_eq!(back, plaintext, "{segment}/{len}");
    }
}
