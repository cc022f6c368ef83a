//! TOTP (P14): RFC 4226 and RFC 6238 vectors, the window, replay refusal,
//! sealed seeds and recovery codes.

use bookwarden_crypto::SecretBytes;
use bookwarden_crypto::totp::{
    self, RECOVERY_CODE_COUNT, RecoveryCodeDigest, RecoveryCodeError, Totp, TotpAlgorithm,
    TotpDigits, TotpError, TotpSeed,
};
use bookwarden_crypto::vault::{MasterKey, MasterKeyRing, MasterKeyVersion, TenantRef, VaultError};

fn seed(bytes: &[u8]) -> TotpSeed {
    TotpSeed::from_secret(SecretBytes::copy_from_slice(bytes)).unwrap()
}

const SHA1_SEED: &[u8] = b"12345678901234567890";
const SHA256_SEED: &[u8] = b"12345678901234567890123456789012";
const SHA512_SEED: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

#[test]
fn p14_rfc4226_hotp_vectors() {
    // RFC 4226 appendix D: HOTP is TOTP with the counter as the step.
    let totp = Totp::new(seed(SHA1_SEED));
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(
            totp.code_for_step(counter as u64).expose_secret(),
            *code,
            "counter {counter}"
        );
    }
}

#[test]
fn p14_rfc6238_vectors_for_sha1_sha256_and_sha512() {
    // RFC 6238 appendix B: 8 digits, 30-second steps.
    let table: [(u64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];
    let make = |algorithm, bytes| {
        Totp::with_params(seed(bytes), algorithm, TotpDigits::Eight, 30).unwrap()
    };
    let sha1 = make(TotpAlgorithm::Sha1, SHA1_SEED);
    let sha256 = make(TotpAlgorithm::Sha256, SHA256_SEED);
    let sha512 = make(TotpAlgorithm::Sha512, SHA512_SEED);
    for (time, c1, c256, c512) in table {
        assert_eq!(sha1.code_at(time).expose_secret(), c1, "SHA-1 at {time}");
        assert_eq!(
            sha256.code_at(time).expose_secret(),
            c256,
            "SHA-256 at {time}"
        );
        assert_eq!(
            sha512.code_at(time).expose_secret(),
            c512,
            "SHA-512 at {time}"
        );
        assert!(sha1.verify(c1, time, None).is_ok());
        assert!(sha256.verify(c256, time, None).is_ok());
        assert!(sha512.verify(c512, time, None).is_ok());
    }
    assert!(matches!(
        Totp::with_params(seed(SHA1_SEED), TotpAlgorithm::Sha1, TotpDigits::Six, 0),
        Err(TotpError::ZeroStep)
    ));
}

#[test]
fn p14_totp_accepts_one_step_either_side_and_no_more() {
    let totp = Totp::new(TotpSeed::generate(TotpAlgorithm::Sha1).unwrap());
    let now = 1_700_000_015;
    let step = totp.step_at(now);
    for offset in [-1i64, 0, 1] {
        let s = step.checked_add_signed(offset).unwrap();
        let code = totp.code_for_step(s);
        assert_eq!(
            totp.verify(code.expose_secret(), now, None).unwrap().get(),
            s
        );
    }
    for offset in [-3i64, -2, 2, 3] {
        let code = totp.code_for_step(step.checked_add_signed(offset).unwrap());
        // A far-off step's code may collide with a window code by chance
        // (1 in 10^6); it must then match as that window step, never as itself.
        match totp.verify(code.expose_secret(), now, None) {
            Err(TotpError::InvalidCode) => {}
            Ok(matched) => assert!(matched.get().abs_diff(step) <= 1),
            Err(other) => panic!("{other}"),
        }
    }
}

#[test]
fn p14_totp_refuses_a_replayed_step() {
    let totp = Totp::new(seed(SHA1_SEED));
    let now = 1_111_111_111;
    let code = totp.code_at(now);
    let used = totp.verify(code.expose_secret(), now, None).unwrap();
    assert!(matches!(
        totp.verify(code.expose_secret(), now, Some(used.get())),
        Err(TotpError::Replayed)
    ));
    // Still refused 20 seconds later, inside the window.
    assert!(matches!(
        totp.verify(code.expose_secret(), now + 20, Some(used.get())),
        Err(TotpError::Replayed)
    ));
    // An older step's code after a newer one was used is refused too.
    let previous = totp.code_for_step(used.get() - 1);
    assert!(matches!(
        totp.verify(previous.expose_secret(), now, Some(used.get())),
        Err(TotpError::Replayed)
    ));
    // The next step's code is fine.
    let next = totp.code_at(now + 30);
    assert_eq!(
        totp.verify(next.expose_secret(), now + 30, Some(used.get()))
            .unwrap()
            .get(),
        used.get() + 1
    );
}

#[test]
fn p14_totp_refuses_malformed_codes() {
    let totp = Totp::new(seed(SHA1_SEED));
    for bad in [
        "",
        "12345",
        "1234567",
        "12a456",
        "１２３４５６",
        "123456\n",
        &"1".repeat(10_000),
    ] {
        assert!(
            matches!(
                totp.verify(bad, 59, None),
                Err(TotpError::MalformedCode { expected: 6 })
            ),
            "{bad:?}"
        );
    }
    let code = totp.code_at(59);
    let spaced = format!(
        "{} {}",
        &code.expose_secret()[..3],
        &code.expose_secret()[3..]
    );
    assert!(totp.verify(&spaced, 59, None).is_ok());
    assert!(matches!(
        TotpSeed::from_secret(SecretBytes::copy_from_slice(&[0; 15])),
        Err(TotpError::SeedTooShort { len: 15 })
    ));
}

#[test]
fn p14_totp_seed_is_sealed_in_the_vault() {
    let version = MasterKeyVersion::new(1).unwrap();
    let ring = MasterKeyRing::new(version, [MasterKey::generate(version).unwrap()]).unwrap();
    let tenant = TenantRef::from_bytes([4; 16]);
    let (key, _) = ring.new_data_key(tenant).unwrap();
    let user = b"user-0192f0c4";

    let sealed = TotpSeed::generate(TotpAlgorithm::Sha1)
        .unwrap()
        .seal(&key, user)
        .unwrap();
    assert!(TotpSeed::open(&key, user, &sealed).is_ok());
    assert!(matches!(
        TotpSeed::open(&key, b"another-user", &sealed),
        Err(TotpError::Vault(VaultError::Unauthentic(_)))
    ));
    // The round trip preserves the seed: the reopened one produces the same codes.
    let original = TotpSeed::from_secret(SecretBytes::copy_from_slice(SHA1_SEED)).unwrap();
    let sealed = original.seal(&key, user).unwrap();
    let reopened = Totp::new(TotpSeed::open(&key, user, &sealed).unwrap());
    assert_eq!(reopened.code_at(59).expose_secret(), "287082");
}

const USER: [u8; 16] = [0x01; 16];
const OTHER_USER: [u8; 16] = [0x02; 16];

/// What the persistence layer does with a matched digest: `DELETE ... WHERE
/// user_id = ? AND digest = ?`, which must affect exactly one row.
fn delete_exactly_one(rows: &mut Vec<RecoveryCodeDigest>, digest: &RecoveryCodeDigest) {
    let before = rows.len();
    rows.retain(|row| row != digest);
    assert_eq!(before - rows.len(), 1, "exactly one row deleted");
}

#[test]
fn p14_recovery_codes_are_ten_single_use_and_stored_hashed() {
    let (codes, mut digests) = totp::generate_recovery_codes(&USER).unwrap();
    assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
    assert_eq!(digests.len(), 10);
    for code in &codes {
        let text = code.expose_secret();
        assert_eq!(text.len(), 19, "{text}");
        assert_eq!(text.matches('-').count(), 3);
        // Only the digest is stored; it is not the code.
        assert!(
            digests
                .iter()
                .all(|d| !d.as_bytes().windows(4).any(|w| w == &text.as_bytes()[..4]))
        );
    }
    let distinct: std::collections::HashSet<_> =
        codes.iter().map(|c| c.expose_secret().to_owned()).collect();
    assert_eq!(distinct.len(), 10);

    // Typed as printed, upper-cased, or without hyphens: each works once,
    // once its digest is deleted.
    let first = codes[0].expose_secret().to_uppercase();
    let matched = totp::match_recovery_code(&USER, &digests, &first).unwrap();
    // Matching alone uses nothing up: until the row is deleted, it matches
    // again (which is why the DELETE must affect exactly one row).
    assert_eq!(
        totp::match_recovery_code(&USER, &digests, &first).unwrap(),
        matched
    );
    delete_exactly_one(&mut digests, &matched);
    assert_eq!(digests.len(), 9);
    assert_eq!(
        totp::match_recovery_code(&USER, &digests, &first),
        Err(RecoveryCodeError::NotFound)
    );
    let second = codes[1].expose_secret().replace('-', "");
    let matched = totp::match_recovery_code(&USER, &digests, &second).unwrap();
    delete_exactly_one(&mut digests, &matched);
    assert_eq!(digests.len(), 8);
    for code in &codes[2..] {
        let matched = totp::match_recovery_code(&USER, &digests, code.expose_secret()).unwrap();
        delete_exactly_one(&mut digests, &matched);
    }
    assert!(digests.is_empty());
    assert_eq!(
        totp::match_recovery_code(&USER, &digests, codes[9].expose_secret()),
        Err(RecoveryCodeError::NotFound)
    );
    assert_eq!(
        totp::match_recovery_code(&USER, &digests, "not-a-code"),
        Err(RecoveryCodeError::Malformed)
    );
    let stored = RecoveryCodeDigest::from_bytes([0; 32]);
    assert!(!format!("{stored:?}").contains("00"));
}

/// The documented construction: SHA-256("bookwarden recovery v1" || user id
/// (16 bytes) || code, lowercase, without hyphens).
fn documented_digest(user: &[u8; 16], code: &str) -> RecoveryCodeDigest {
    let mut input = b"bookwarden recovery v1".to_vec();
    input.extend_from_slice(user);
    input.extend_from_slice(code.replace('-', "").to_lowercase().as_bytes());
    let hash = ring::digest::digest(&ring::digest::SHA256, &input);
    RecoveryCodeDigest::from_bytes(hash.as_ref().try_into().unwrap())
}

#[test]
fn p14_recovery_code_digests_are_bound_to_their_user() {
    let (codes, digests) = totp::generate_recovery_codes(&USER).unwrap();
    let code = codes[0].expose_secret();
    let mine = totp::match_recovery_code(&USER, &digests, code).unwrap();
    assert_eq!(mine, documented_digest(&USER, code));
    // Not the bare SHA-256 of the code, which one table would crack for every
    // user at once.
    let bare = ring::digest::digest(&ring::digest::SHA256, code.replace('-', "").as_bytes());
    assert_ne!(mine.as_bytes(), bare.as_ref());

    // The same code held by another user is stored under another digest, and
    // it verifies for that user against that digest.
    let theirs = documented_digest(&OTHER_USER, code);
    assert_ne!(theirs, mine);
    assert_eq!(
        totp::match_recovery_code(&OTHER_USER, &[theirs], code),
        Ok(theirs)
    );

    // A code verifies only for its own user: not for another user, even with
    // this user's digests copied into that user's rows.
    let (_, mut other_rows) = totp::generate_recovery_codes(&OTHER_USER).unwrap();
    other_rows.extend(digests.iter().copied());
    for code in &codes {
        assert_eq!(
            totp::match_recovery_code(&OTHER_USER, &other_rows, code.expose_secret()),
            Err(RecoveryCodeError::NotFound)
        );
        assert!(totp::match_recovery_code(&USER, &digests, code.expose_secret()).is_ok());
    }
}

#[test]
fn p14_otpauth_uri_is_well_formed_and_secrets_stay_out_of_debug() {
    let totp = Totp::new(seed(SHA1_SEED));
    let uri = totp.otpauth_uri("Bright Smile", "alice@example.com");
    assert_eq!(
        uri.expose_secret(),
        "otpauth://totp/Bright%20Smile:alice%40example%2Ecom?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=Bright%20Smile&algorithm=SHA1&digits=6&period=30"
    );
    for debug in [format!("{uri:?}"), format!("{totp:?}")] {
        assert!(!debug.contains("GEZDGNBV"), "{debug}");
        assert!(!debug.contains("49, 50, 51"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
    }
}
