//! The vault (P3): sealing, the format, key wrapping, rotation and
//! crypto-shredding.

use std::collections::HashSet;

use bookwarden_crypto::vault::{
    self, CIPHERTEXT_OFFSET, FORMAT_VERSION, KeyRingError, MAGIC, MIN_SEALED_LEN, MasterKey,
    MasterKeyRing, MasterKeyVersion, NONCE_OFFSET, Purpose, SALT_OFFSET, TenantDataKey, TenantRef,
    VaultError, WRAPPED_KEY_LEN, WrappedDataKey,
};
use proptest::prelude::*;

const TENANT_A: TenantRef = TenantRef::from_bytes([0xa1; 16]);
const TENANT_B: TenantRef = TenantRef::from_bytes([0xb2; 16]);
const RECORD: &[u8] = b"0192f0c4-connection-1";

fn version(v: u32) -> MasterKeyVersion {
    MasterKeyVersion::new(v).unwrap()
}

fn ring() -> MasterKeyRing {
    MasterKeyRing::new(version(1), [MasterKey::generate(version(1)).unwrap()]).unwrap()
}

fn data_key(ring: &MasterKeyRing, tenant: TenantRef) -> TenantDataKey {
    ring.new_data_key(tenant).unwrap().0
}

fn purpose_strategy() -> impl Strategy<Value = Purpose> {
    prop_oneof![
        Just(Purpose::OAUTH_ACCESS_TOKEN),
        Just(Purpose::OAUTH_REFRESH_TOKEN),
        Just(Purpose::CALDAV_PASSWORD),
        Just(Purpose::ICS_FEED_URL),
        Just(Purpose::WEBHOOK_SECRET),
        Just(Purpose::TOTP_SEED),
    ]
}

#[test]
fn p3_sealed_layout_matches_the_documented_format() {
    let ring = ring();
    let key = data_key(&ring, TENANT_A);
    for len in [0usize, 1, 16, 256, 4096] {
        let plaintext = vec![0x5a; len];
        let sealed = vault::seal(&key, &Purpose::WEBHOOK_SECRET, RECORD, &plaintext).unwrap();
        assert_eq!(&sealed[..3], &MAGIC);
        assert_eq!(sealed[3], FORMAT_VERSION);
        assert_eq!((SALT_OFFSET, NONCE_OFFSET, CIPHERTEXT_OFFSET), (4, 36, 48));
        assert_eq!(sealed.len(), MIN_SEALED_LEN + len);
        if len >= 16 {
            // The plaintext does not appear in the output.
            assert!(!sealed.windows(16).any(|w| w == &plaintext[..16]));
        }
    }
}

#[test]
fn p3_open_checks_version_and_length_before_slicing() {
    let ring = ring();
    let key = data_key(&ring, TENANT_A);
    let purpose = Purpose::CALDAV_PASSWORD;
    let sealed = vault::seal(&key, &purpose, RECORD, b"app-specific-password").unwrap();

    for len in 0..4 {
        assert!(matches!(
            vault::open(&key, &purpose, RECORD, &sealed[..len]),
            Err(VaultError::Truncated { .. })
        ));
    }
    let mut other_magic = sealed.clone();
    other_magic[0] = b'X';
    assert!(matches!(
        vault::open(&key, &purpose, RECORD, &other_magic),
        Err(VaultError::NotSealed)
    ));
    for version in [0u8, 2, 255] {
        let mut other_version = sealed.clone();
        other_version[3] = version;
        assert!(matches!(
            vault::open(&key, &purpose, RECORD, &other_version),
            Err(VaultError::UnsupportedVersion { version: v }) if v == version
        ));
    }
    for len in 4..MIN_SEALED_LEN {
        assert!(matches!(
            vault::open(&key, &purpose, RECORD, &sealed[..len]),
            Err(VaultError::Truncated { len: l, min: MIN_SEALED_LEN }) if l == len
        ));
    }
    assert!(matches!(
        vault::open(&key, &purpose, &[0u8; 257], &sealed),
        Err(VaultError::RecordIdTooLong { len: 257 })
    ));
    assert!(matches!(
        vault::seal(&key, &purpose, &[0u8; 257], b"x"),
        Err(VaultError::RecordIdTooLong { len: 257 })
    ));
}

#[test]
fn p3_flipping_any_bit_of_a_sealed_value_fails() {
    let ring = ring();
    let key = data_key(&ring, TENANT_A);
    let purpose = Purpose::OAUTH_REFRESH_TOKEN;
    let sealed = vault::seal(&key, &purpose, RECORD, b"1//0refresh-token-value").unwrap();
    // Every bit of one value, exhaustively.
    for bit in 0..sealed.len() * 8 {
        let mut flipped = sealed.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(
            vault::open(&key, &purpose, RECORD, &flipped).is_err(),
            "bit {bit} flipped still opens"
        );
    }
    assert!(vault::open(&key, &purpose, RECORD, &sealed).is_ok());
}

#[test]
fn p3_open_fails_for_another_tenant() {
    let ring = ring();
    let key_a = data_key(&ring, TENANT_A);
    let key_b = data_key(&ring, TENANT_B);
    let sealed = vault::seal(&key_a, &Purpose::OAUTH_ACCESS_TOKEN, RECORD, b"ya29.token").unwrap();
    assert!(matches!(
        vault::open(&key_b, &Purpose::OAUTH_ACCESS_TOKEN, RECORD, &sealed),
        Err(VaultError::Unauthentic(_))
    ));
}

#[test]
fn p3_wrapped_data_key_does_not_unwrap_for_another_tenant() {
    let ring = ring();
    let (key_a, wrapped_a) = ring.new_data_key(TENANT_A).unwrap();
    let sealed = vault::seal(&key_a, &Purpose::WEBHOOK_SECRET, RECORD, b"whsec").unwrap();
    // A's wrapped key copied into B's row: it does not unwrap as B's.
    assert!(matches!(
        ring.unwrap(TENANT_B, &wrapped_a),
        Err(KeyRingError::Unwrap { .. })
    ));
    // As A's it does, and it is the same key.
    let unwrapped = ring.unwrap(TENANT_A, &wrapped_a).unwrap();
    assert_eq!(
        vault::open(&unwrapped, &Purpose::WEBHOOK_SECRET, RECORD, &sealed)
            .unwrap()
            .expose_secret(),
        b"whsec"
    );
}

#[test]
fn p3_wrapped_key_bytes_round_trip_and_malformed_bytes_are_refused() {
    let ring = ring();
    let (_, wrapped) = ring.new_data_key(TENANT_A).unwrap();
    let bytes = wrapped.to_bytes();
    assert_eq!(bytes.len(), WRAPPED_KEY_LEN);
    assert_eq!(WrappedDataKey::from_bytes(&bytes).unwrap(), wrapped);
    for len in [0, 1, WRAPPED_KEY_LEN - 1, WRAPPED_KEY_LEN + 1] {
        let mut resized = bytes.clone();
        resized.resize(len, 0);
        assert!(matches!(
            WrappedDataKey::from_bytes(&resized),
            Err(KeyRingError::MalformedWrappedKey { .. })
        ));
    }
    let mut zero_version = bytes.clone();
    zero_version[4..8].copy_from_slice(&0u32.to_be_bytes());
    assert!(WrappedDataKey::from_bytes(&zero_version).is_err());
    // A flipped bit in the wrapped key itself fails to unwrap.
    let mut flipped = bytes;
    flipped[WRAPPED_KEY_LEN - 1] ^= 1;
    let flipped = WrappedDataKey::from_bytes(&flipped).unwrap();
    assert!(ring.unwrap(TENANT_A, &flipped).is_err());
}

#[test]
fn p3_rotation_rewraps_data_keys_without_touching_secrets() {
    let mut ring = ring();
    let tenants = [TENANT_A, TENANT_B, TenantRef::from_bytes([3; 16])];
    let mut rows = Vec::new();
    for tenant in tenants {
        let (key, wrapped) = ring.new_data_key(tenant).unwrap();
        let sealed =
            vault::seal(&key, &Purpose::CALDAV_PASSWORD, RECORD, tenant.as_bytes()).unwrap();
        rows.push((tenant, wrapped, sealed));
    }

    ring.add_primary(MasterKey::generate(version(2)).unwrap())
        .unwrap();
    assert_eq!(ring.primary_version(), version(2));
    let report = ring.rewrap_all(rows.iter().map(|(t, w, _)| (*t, w.clone())));
    assert!(report.failed.is_empty());
    assert!(report.already_current.is_empty());
    assert_eq!(report.rewrapped.len(), 3);

    // Old master key retired: only the rewrapped keys remain usable, and the
    // sealed secrets, untouched, still open.
    ring.retire(version(1)).unwrap();
    for ((tenant, rewrapped), (_, old_wrapped, sealed)) in report.rewrapped.iter().zip(&rows) {
        assert_eq!(rewrapped.master_version(), version(2));
        assert!(matches!(
            ring.unwrap(*tenant, old_wrapped),
            Err(KeyRingError::UnknownVersion(v)) if v == version(1)
        ));
        let key = ring.unwrap(*tenant, rewrapped).unwrap();
        let opened = vault::open(&key, &Purpose::CALDAV_PASSWORD, RECORD, sealed).unwrap();
        assert_eq!(opened.expose_secret(), tenant.as_bytes());
    }
}

#[test]
fn p3_rotation_reports_tenant_keys_still_on_old_versions() {
    let mut ring = ring();
    let (_, on_v1) = ring.new_data_key(TENANT_A).unwrap();
    ring.add_primary(MasterKey::generate(version(2)).unwrap())
        .unwrap();
    let (_, on_v2) = ring.new_data_key(TENANT_B).unwrap();

    let stale = ring.stale_keys([(TENANT_A, &on_v1), (TENANT_B, &on_v2)]);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].tenant, TENANT_A);
    assert_eq!(stale[0].master_version, version(1));

    let report = ring.rewrap_all([(TENANT_A, on_v1), (TENANT_B, on_v2.clone())]);
    assert_eq!(report.already_current, vec![TENANT_B]);
    let rewrapped_a = &report.rewrapped[0].1;
    assert!(
        ring.stale_keys([(TENANT_A, rewrapped_a), (TENANT_B, &on_v2)])
            .is_empty()
    );

    // The primary cannot be retired, versions only go up, unknown ones are
    // reported.
    assert!(matches!(
        ring.retire(version(2)),
        Err(KeyRingError::RetirePrimary(_))
    ));
    assert!(matches!(
        ring.retire(version(9)),
        Err(KeyRingError::UnknownVersion(_))
    ));
    assert!(matches!(
        ring.add_primary(MasterKey::generate(version(2)).unwrap()),
        Err(KeyRingError::VersionNotNewer { .. })
    ));
}

#[test]
fn p3_destroying_a_tenant_data_key_makes_its_secrets_unrecoverable() {
    let ring = ring();
    let (key, wrapped) = ring.new_data_key(TENANT_A).unwrap();
    let secrets: Vec<(Purpose, Vec<u8>)> = [
        Purpose::OAUTH_ACCESS_TOKEN,
        Purpose::OAUTH_REFRESH_TOKEN,
        Purpose::CALDAV_PASSWORD,
        Purpose::TOTP_SEED,
    ]
    .into_iter()
    .map(|purpose| {
        let sealed = vault::seal(&key, &purpose, RECORD, b"secret material").unwrap();
        (purpose, sealed)
    })
    .collect();

    // Deleting the tenant deletes its wrapped data key row; the unwrapped key
    // is zeroized on drop. The sealed values survive, as in a backup.
    drop(key);
    drop(wrapped);

    // Everything that remains cannot open them: the same master ring, a new
    // data key for the same tenant id, another tenant's key.
    let (new_key, _) = ring.new_data_key(TENANT_A).unwrap();
    let other_key = data_key(&ring, TENANT_B);
    for (purpose, sealed) in &secrets {
        for key in [&new_key, &other_key] {
            assert!(matches!(
                vault::open(key, purpose, RECORD, sealed),
                Err(VaultError::Unauthentic(_))
            ));
        }
    }
}

#[test]
fn p3_master_key_configuration_is_validated() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    assert!(matches!(
        MasterKeyVersion::new(0),
        Err(KeyRingError::ZeroVersion)
    ));
    assert!(matches!(
        MasterKey::from_base64(version(1), "not base64!"),
        Err(KeyRingError::MasterKeyEncoding { .. })
    ));
    assert!(matches!(
        MasterKey::from_base64(version(1), &b64(&[1; 16])),
        Err(KeyRingError::MasterKeyLength { actual: 16, .. })
    ));
    let key = MasterKey::from_base64(version(1), &b64(&[1; 32])).unwrap();
    assert_eq!(key.export_base64().expose_secret(), b64(&[1; 32]));
    assert!(matches!(
        MasterKeyRing::new(version(2), [key]),
        Err(KeyRingError::PrimaryMissing(_))
    ));
    let twice = [
        MasterKey::from_base64(version(1), &b64(&[1; 32])).unwrap(),
        MasterKey::from_base64(version(1), &b64(&[2; 32])).unwrap(),
    ];
    assert!(matches!(
        MasterKeyRing::new(version(1), twice),
        Err(KeyRingError::DuplicateVersion(_))
    ));
    // The same configured key unwraps what it wrapped, across restarts.
    let first = MasterKeyRing::new(
        version(1),
        [MasterKey::from_base64(version(1), &b64(&[9; 32])).unwrap()],
    )
    .unwrap();
    let (key, wrapped) = first.new_data_key(TENANT_A).unwrap();
    let sealed = vault::seal(&key, &Purpose::WEBHOOK_SECRET, RECORD, b"s").unwrap();
    let restarted = MasterKeyRing::new(
        version(1),
        [MasterKey::from_base64(version(1), &b64(&[9; 32])).unwrap()],
    )
    .unwrap();
    let key = restarted.unwrap(TENANT_A, &wrapped).unwrap();
    assert!(vault::open(&key, &Purpose::WEBHOOK_SECRET, RECORD, &sealed).is_ok());
}

#[test]
fn p3_purpose_names_are_validated() {
    assert_eq!(
        Purpose::new("stripe.api_key").unwrap().as_str(),
        "stripe.api_key"
    );
    for bad in [
        "",
        "Upper",
        "9lives",
        "has space",
        "ünïcode",
        &"a".repeat(65),
    ] {
        assert!(Purpose::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn p3_key_material_never_appears_in_debug_output() {
    use base64::Engine as _;
    let raw = [0x42u8; 32];
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    let key = MasterKey::from_base64(version(1), &encoded).unwrap();
    let key_debug = format!("{key:?}");
    let ring = MasterKeyRing::new(version(1), [key]).unwrap();
    let (data_key, wrapped) = ring.new_data_key(TENANT_A).unwrap();
    let sealed = vault::seal(
        &data_key,
        &Purpose::WEBHOOK_SECRET,
        RECORD,
        b"whsec_PLAINTEXT",
    )
    .unwrap();
    let opened = vault::open(&data_key, &Purpose::WEBHOOK_SECRET, RECORD, &sealed).unwrap();
    let exported = ring_export(&encoded);
    for debug in [
        key_debug,
        format!("{ring:?}"),
        format!("{data_key:?}"),
        format!("{wrapped:?}"),
        format!("{opened:?}"),
        format!("{exported:?}"),
    ] {
        assert!(!debug.contains(&encoded), "{debug}");
        assert!(!debug.contains("42, 42"), "{debug}");
        assert!(!debug.contains("4242"), "{debug}");
        assert!(!debug.contains("PLAINTEXT"), "{debug}");
    }
}

fn ring_export(encoded: &str) -> bookwarden_crypto::SecretString {
    MasterKey::from_base64(version(7), encoded)
        .unwrap()
        .export_base64()
}

#[test]
fn p3_a_million_seals_repeat_no_nonce() {
    let ring = ring();
    let key = data_key(&ring, TENANT_A);
    let mut nonces: HashSet<[u8; 12]> = HashSet::with_capacity(1_000_000);
    let mut salts: HashSet<[u8; 32]> = HashSet::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let sealed = vault::seal(&key, &Purpose::TOTP_SEED, RECORD, b"").unwrap();
        let nonce: [u8; 12] = sealed[NONCE_OFFSET..CIPHERTEXT_OFFSET].try_into().unwrap();
        let salt: [u8; 32] = sealed[SALT_OFFSET..NONCE_OFFSET].try_into().unwrap();
        assert!(nonces.insert(nonce), "nonce repeated");
        assert!(salts.insert(salt), "salt repeated");
    }
}

proptest! {
    #![proptest_config(crate::cases(256))]

    #[test]
    fn p3_open_of_seal_is_identity(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
        purpose in purpose_strategy(),
        record in proptest::collection::vec(any::<u8>(), 0..=256),
    ) {
        let ring = ring();
        let key = data_key(&ring, TENANT_A);
        let sealed = vault::seal(&key, &purpose, &record, &plaintext).unwrap();
        let opened = vault::open(&key, &purpose, &record, &sealed).unwrap();
        prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
    }

    #[test]
    fn p3_flipping_any_bit_fails_to_open(
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        bit in any::<proptest::sample::Index>(),
    ) {
        let ring = ring();
        let key = data_key(&ring, TENANT_A);
        let mut sealed = vault::seal(&key, &Purpose::WEBHOOK_SECRET, RECORD, &plaintext).unwrap();
        let bit = bit.index(sealed.len() * 8);
        sealed[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(vault::open(&key, &Purpose::WEBHOOK_SECRET, RECORD, &sealed).is_err());
    }

    #[test]
    fn p3_open_fails_for_another_tenant_purpose_or_record(
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
        purpose in purpose_strategy(),
        other_purpose in purpose_strategy(),
        record in proptest::collection::vec(any::<u8>(), 0..64),
        other_record in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let ring = ring();
        let key_a = data_key(&ring, TENANT_A);
        let key_b = data_key(&ring, TENANT_B);
        let sealed = vault::seal(&key_a, &purpose, &record, &plaintext).unwrap();
        let is_unauthentic = |r: Result<_, VaultError>| matches!(r, Err(VaultError::Unauthentic(_)));
        prop_assert!(is_unauthentic(vault::open(&key_b, &purpose, &record, &sealed)));
        if other_purpose != purpose {
            prop_assert!(is_unauthentic(vault::open(&key_a, &other_purpose, &record, &sealed)));
        }
        if other_record != record {
            prop_assert!(is_unauthentic(vault::open(&key_a, &purpose, &other_record, &sealed)));
        }
    }

    #[test]
    fn p3_open_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        with_header in any::<bool>(),
        record in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let ring = ring();
        let key = data_key(&ring, TENANT_A);
        // Half the inputs carry a valid header, so they reach the AEAD layer.
        let input = if with_header {
            let mut input = MAGIC.to_vec();
            input.push(FORMAT_VERSION);
            input.extend_from_slice(&bytes);
            input
        } else {
            bytes
        };
        prop_assert!(vault::open(&key, &Purpose::TOTP_SEED, &record, &input).is_err());
        // Arbitrary bytes almost never parse as a wrapped key; inputs with its
        // header are driven by the next property.
        if let Ok(wrapped) = WrappedDataKey::from_bytes(&input) {
            prop_assert!(ring.unwrap(TENANT_A, &wrapped).is_err());
        }
    }

    #[test]
    fn p3_forged_wrapped_keys_never_panic_and_never_unwrap(
        master_version in prop_oneof![Just(1u32), Just(0u32), any::<u32>()],
        rest in prop_oneof![
            // Exactly the stored length: these parse and reach the AEAD.
            proptest::collection::vec(any::<u8>(), WRAPPED_KEY_LEN - 8),
            proptest::collection::vec(any::<u8>(), 0..=WRAPPED_KEY_LEN + 8),
        ],
    ) {
        let ring = ring();
        // "BWK", format version 1, the master version, then anything.
        let mut input = b"BWK\x01".to_vec();
        input.extend_from_slice(&master_version.to_be_bytes());
        input.extend_from_slice(&rest);
        match WrappedDataKey::from_bytes(&input) {
            Ok(wrapped) => {
                prop_assert_eq!(input.len(), WRAPPED_KEY_LEN);
                prop_assert_eq!(wrapped.master_version().get(), master_version);
                prop_assert_eq!(wrapped.to_bytes(), input);
                // Version 1 is in the ring, so the forgery reaches the tag
                // check and fails there; any other version is unknown.
                let unwrapped = ring.unwrap(TENANT_A, &wrapped);
                if master_version == 1 {
                    prop_assert!(matches!(unwrapped, Err(KeyRingError::Unwrap { .. })), "{:?}", unwrapped);
                } else {
                    prop_assert!(matches!(unwrapped, Err(KeyRingError::UnknownVersion(_))), "{:?}", unwrapped);
                }
            }
            Err(error) => {
                prop_assert!(matches!(error, KeyRingError::MalformedWrappedKey { .. }), "{}", error);
                prop_assert!(input.len() != WRAPPED_KEY_LEN || master_version == 0);
            }
        }
    }
}

#[test]
fn p9_keyed_digests_correlate_within_a_tenant_and_nowhere_else() {
    let ring = ring();
    let (a, wrapped_a) = ring.new_data_key(TENANT_A).unwrap();
    let b = data_key(&ring, TENANT_B);
    let purpose = Purpose::AUDIT_TYPED_VALUE;
    let typed = b"someone@example.com";
    let once = vault::keyed_digest(&a, &purpose, typed).unwrap();
    // The same value in the same tenant: the same digest, even after the
    // key was stored and read back.
    let reopened = ring.unwrap(TENANT_A, &wrapped_a).unwrap();
    assert_eq!(
        vault::keyed_digest(&reopened, &purpose, typed).unwrap(),
        once
    );
    // Another value, another tenant, another purpose: another digest.
    assert_ne!(
        vault::keyed_digest(&a, &purpose, b"someone@example.org").unwrap(),
        once
    );
    assert_ne!(vault::keyed_digest(&b, &purpose, typed).unwrap(), once);
    assert_ne!(
        vault::keyed_digest(&a, &Purpose::TOTP_SEED, typed).unwrap(),
        once
    );
    // A new key for the same tenant (the old one destroyed): the old
    // digests no longer match anything.
    let replaced = data_key(&ring, TENANT_A);
    assert_ne!(
        vault::keyed_digest(&replaced, &purpose, typed).unwrap(),
        once
    );
}
