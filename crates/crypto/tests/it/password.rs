//! Passwords (P2): policy, argon2id, imported bcrypt, the bcrypt mode, the
//! dummy verify and the hashing pool.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bookwarden_crypto::SecretString;
use bookwarden_crypto::password::{
    ARGON2_DEFAULT, Argon2Params, BcryptCost, DEFAULT_MAX_QUEUE_WAIT, HashFormatError, HashScheme,
    MAX_CANDIDATE_BYTES, MAX_LENGTH, PasswordConfigError, PasswordError, PasswordHash,
    PasswordHasher, PasswordPolicy, Passwords, Pepper, PolicyContext, PolicyViolation,
    StoredScheme, Verification, is_common_password,
};

fn secret(text: &str) -> SecretString {
    SecretString::new(text.to_owned())
}

fn argon2_default() -> Passwords {
    Passwords::new(HashScheme::Argon2id(ARGON2_DEFAULT)).unwrap()
}

/// Hashing that takes far longer than any wait in these tests (256 MiB,
/// 8 passes), so a slot it holds is still taken when the waiter gives up.
fn argon2_slow() -> Passwords {
    Passwords::new(HashScheme::Argon2id(
        Argon2Params::new(256 * 1024, 8, 1).unwrap(),
    ))
    .unwrap()
}

fn pepper(byte: u8) -> Pepper {
    Pepper::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

const CONTEXT: PolicyContext<'static> =
    PolicyContext::new("alice.smith@example.com", "Bright Smile Dental");

fn valid(verification: Verification) -> bool {
    verification.is_valid()
}

fn needs_rehash(verification: &Verification) -> bool {
    matches!(verification, Verification::ValidNeedsRehash(_))
}

#[test]
fn p2_argon2id_defaults_are_owasp_minimum_and_configurable_only_upward() {
    assert_eq!(
        (
            ARGON2_DEFAULT.m_cost_kib(),
            ARGON2_DEFAULT.t_cost(),
            ARGON2_DEFAULT.p_cost()
        ),
        (19_456, 2, 1)
    );
    assert_eq!(Argon2Params::new(19_456, 2, 1), Ok(ARGON2_DEFAULT));
    assert!(Argon2Params::new(65_536, 3, 2).is_ok());
    assert_eq!(
        Argon2Params::new(19_455, 2, 1),
        Err(PasswordConfigError::Argon2BelowMinimum {
            name: "m_cost_kib",
            value: 19_455,
            min: 19_456
        })
    );
    assert!(matches!(
        Argon2Params::new(19_456, 1, 1),
        Err(PasswordConfigError::Argon2BelowMinimum { name: "t_cost", .. })
    ));
    assert!(matches!(
        Argon2Params::new(19_456, 2, 0),
        Err(PasswordConfigError::Argon2BelowMinimum { name: "p_cost", .. })
    ));
    assert!(matches!(
        Argon2Params::new(u32::MAX, 2, 1),
        Err(PasswordConfigError::Argon2AboveMaximum {
            name: "m_cost_kib",
            ..
        })
    ));
    assert!(matches!(
        BcryptCost::new(9),
        Err(PasswordConfigError::BcryptCost { cost: 9 })
    ));
    assert!(BcryptCost::new(10).is_ok());
    assert!(matches!(
        BcryptCost::new(32),
        Err(PasswordConfigError::BcryptCost { cost: 32 })
    ));
    assert!(matches!(
        Pepper::from_base64("c2hvcnQ="),
        Err(PasswordConfigError::PepperTooShort { len: 5 })
    ));
    assert!(matches!(
        Pepper::from_base64("%%%"),
        Err(PasswordConfigError::PepperEncoding)
    ));
}

#[test]
fn p2_new_hashes_are_argon2id_phc_strings_with_the_configured_parameters() {
    let passwords = argon2_default();
    let new = PasswordPolicy::NIST
        .check(secret("quiet lantern orchard"), &CONTEXT)
        .unwrap();
    let hash = passwords.hash(&new).unwrap();
    assert_eq!(hash.scheme(), StoredScheme::Argon2id);
    assert!(
        hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        hash.as_str()
    );
    assert_eq!(PasswordHash::parse(hash.as_str()).unwrap(), hash);
    assert!(!passwords.needs_rehash(&hash));
    assert_eq!(
        passwords
            .verify(&secret("quiet lantern orchard"), &hash)
            .unwrap(),
        Verification::Valid
    );
    assert_eq!(
        passwords
            .verify(&secret("quiet lantern orchards"), &hash)
            .unwrap(),
        Verification::Invalid
    );
    // Salted: the same password hashes differently each time.
    assert_ne!(passwords.hash(&new).unwrap(), hash);
    // Raising the parameters flags the old hash for an upgrade.
    let stronger = Passwords::new(HashScheme::Argon2id(
        Argon2Params::new(19_456, 3, 1).unwrap(),
    ))
    .unwrap();
    assert!(stronger.needs_rehash(&hash));
    assert!(needs_rehash(
        &stronger
            .verify(&secret("quiet lantern orchard"), &hash)
            .unwrap()
    ));
}

/// Vectors from the argon2 reference implementation's CLI (Debian package
/// `argon2` 0~20171227), not from the crate under test.
#[test]
fn p2_argon2id_known_answer_vectors() {
    let passwords = argon2_default();
    let vectors = [
        // echo -n "correct horse battery staple" | argon2 bookwarden-kat-1 -id -t 2 -k 19456 -p 1 -l 32 -e
        (
            "correct horse battery staple",
            "$argon2id$v=19$m=19456,t=2,p=1$Ym9va3dhcmRlbi1rYXQtMQ$6LhuPMrodE9YwRuPCpGqN1NuvVSm0Akbj7Lo8sRcI70",
        ),
        // printf '%s' "🎉 pässwörd 𝄞" | argon2 sixteen-byte-slt -id -t 3 -k 64 -p 2 -l 32 -e
        (
            "\u{1F389} p\u{e4}ssw\u{f6}rd \u{1D11E}",
            "$argon2id$v=19$m=64,t=3,p=2$c2l4dGVlbi1ieXRlLXNsdA$MGwAe8mbTj2xFna0GgqOb44sls8ugDwIYYlBvYYuHKw",
        ),
    ];
    for (password, encoded) in vectors {
        let stored = PasswordHash::parse(encoded).unwrap();
        assert!(
            valid(passwords.verify(&secret(password), &stored).unwrap()),
            "{encoded}"
        );
        assert_eq!(
            passwords
                .verify(&secret("wrong password"), &stored)
                .unwrap(),
            Verification::Invalid
        );
    }
    // NFKC: the decomposed spelling of the second password verifies too.
    let stored = PasswordHash::parse(vectors[1].1).unwrap();
    let decomposed = "\u{1F389} pa\u{308}sswo\u{308}rd \u{1D11E}";
    assert!(valid(
        passwords.verify(&secret(decomposed), &stored).unwrap()
    ));
}

/// OpenWall crypt_blowfish's vectors (wrapper.c) that are valid UTF-8, each
/// confirmed here with Perl's Crypt::Eksblowfish. `$2b$` and `$2y$` differ
/// from `$2a$` only for bytes above 0x7f, so the ASCII vectors hold under all
/// three prefixes; PHP's manual supplies a genuine `$2y$` hash.
#[test]
fn p2_bcrypt_openwall_and_php_known_answer_vectors_verify_and_flag_rehash() {
    let passwords = argon2_default();
    let openwall = [
        (
            "U*U",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        ),
        (
            "U*U*",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
        ),
        (
            "U*U*U",
            "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a",
        ),
        (
            "",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy",
        ),
    ];
    for (password, encoded) in openwall {
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let encoded = encoded.replacen("$2a$", prefix, 1);
            let stored = PasswordHash::parse(&encoded).unwrap();
            assert_eq!(stored.scheme(), StoredScheme::LegacyBcrypt);
            assert!(
                needs_rehash(&passwords.verify(&secret(password), &stored).unwrap()),
                "{encoded}"
            );
            assert_eq!(
                passwords.verify(&secret("U*U*U*"), &stored).unwrap(),
                Verification::Invalid
            );
        }
    }
    // password_verify's example in the PHP manual.
    let php = PasswordHash::parse("$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a")
        .unwrap();
    assert!(valid(
        passwords.verify(&secret("rasmuslerdorf"), &php).unwrap()
    ));
    assert_eq!(
        passwords.verify(&secret("rasmuslerdorF"), &php).unwrap(),
        Verification::Invalid
    );
}

/// Crypt::Eksblowfish (Perl), which takes the key as an octet string:
/// `bcrypt_hash({key_nul => 1, cost => 5, salt => "BookwardenNULkat"}, "pass\0word")`.
#[test]
fn p2_bcrypt_interior_nul_known_answer_is_not_cut_at_the_nul() {
    let passwords = argon2_default();
    let stored =
        PasswordHash::parse("$2b$05$Ok7tY1bfakPjZi3TRErfb.vCvBsP8xmRn44gVC5K.ift26YtibhGu")
            .unwrap();
    assert!(valid(
        passwords.verify(&secret("pass\0word"), &stored).unwrap()
    ));
    // A C-string implementation would have hashed only "pass".
    assert_eq!(
        passwords.verify(&secret("pass"), &stored).unwrap(),
        Verification::Invalid
    );
    assert_eq!(
        passwords.verify(&secret("pass\0wore"), &stored).unwrap(),
        Verification::Invalid
    );
}

#[test]
fn p2_bcrypt_long_password_needs_reset_instead_of_truncation() {
    let passwords = argon2_default();
    // OpenWall's vector whose password runs past 72 bytes: OpenWall accepts
    // it by truncating; we refuse it.
    let stored =
        PasswordHash::parse("$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui")
            .unwrap();
    let first_72 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    assert_eq!(first_72.len(), 72);
    let long = format!("{first_72}chars after 72 are ignored");
    assert!(matches!(
        passwords.verify(&secret(&long), &stored),
        Err(PasswordError::ResetRequired)
    ));
    // One byte over is refused, too; exactly 72 bytes is checked in full.
    assert!(matches!(
        passwords.verify(&secret(&format!("{first_72}x")), &stored),
        Err(PasswordError::ResetRequired)
    ));
    assert!(valid(passwords.verify(&secret(first_72), &stored).unwrap()));
    // A long password whose first 72 bytes are wrong is just wrong: the reset
    // hint goes only to someone who knows what the old system checked.
    let wrong_start = format!("X{}chars after 72 are ignored", &first_72[1..]);
    assert_eq!(
        passwords.verify(&secret(&wrong_start), &stored).unwrap(),
        Verification::Invalid
    );
    let wrong_end = format!("{}Xchars after 72 are ignored", &first_72[..71]);
    assert_eq!(
        passwords.verify(&secret(&wrong_end), &stored).unwrap(),
        Verification::Invalid
    );
    assert!(PasswordError::ResetRequired.to_string().contains("reset"));
}

#[test]
fn p2_legacy_bcrypt_login_upgrades_to_argon2id() {
    let passwords = argon2_default();
    let imported =
        PasswordHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK")
            .unwrap();
    let candidate = secret("U*U*");
    assert!(passwords.needs_rehash(&imported));
    // Only a successful verify hands out the password to rehash.
    let Verification::ValidNeedsRehash(verified) = passwords.verify(&candidate, &imported).unwrap()
    else {
        panic!("an imported bcrypt hash must ask for a rehash");
    };
    assert!(!format!("{verified:?}").contains("U*U*"));
    let upgraded = passwords.rehash_verified(&verified).unwrap();
    assert_eq!(upgraded.scheme(), StoredScheme::Argon2id);
    assert!(!passwords.needs_rehash(&upgraded));
    // The new hash is current: verifying hands nothing out.
    assert_eq!(
        passwords.verify(&candidate, &upgraded).unwrap(),
        Verification::Valid
    );
}

#[test]
fn p2_bcrypt_mode_prehashes_with_the_pepper_so_nothing_is_truncated() {
    let bcrypt_mode = Passwords::new(HashScheme::BcryptHmacSha384 {
        cost: BcryptCost::new(10).unwrap(),
        pepper: pepper(1),
    })
    .unwrap();
    let long = "a long passphrase that goes well past the seventy-two bytes bcrypt reads: ending A";
    assert!(long.len() > 72);
    let new = PasswordPolicy::NIST.check(secret(long), &CONTEXT).unwrap();
    let stored = bcrypt_mode.hash(&new).unwrap();
    assert_eq!(stored.scheme(), StoredScheme::BcryptHmacSha384);
    assert!(
        stored
            .as_str()
            .starts_with("$bw-bcrypt-hmac-sha384$v=1$2b$10$"),
        "{}",
        stored.as_str()
    );
    assert_eq!(
        bcrypt_mode.verify(&secret(long), &stored).unwrap(),
        Verification::Valid
    );
    // Only the last character differs, beyond byte 72.
    let changed = long.replace("ending A", "ending B");
    assert_eq!(
        bcrypt_mode.verify(&secret(&changed), &stored).unwrap(),
        Verification::Invalid
    );

    // Another pepper does not verify; argon2id mode without the pepper says
    // so; with it, the hash verifies and is flagged for an upgrade.
    let other_pepper = Passwords::new(HashScheme::BcryptHmacSha384 {
        cost: BcryptCost::new(10).unwrap(),
        pepper: pepper(2),
    })
    .unwrap();
    assert_eq!(
        other_pepper.verify(&secret(long), &stored).unwrap(),
        Verification::Invalid
    );
    let argon2 = argon2_default();
    assert!(matches!(
        argon2.verify(&secret(long), &stored),
        Err(PasswordError::PepperNotConfigured)
    ));
    let argon2 = argon2.with_verify_pepper(pepper(1));
    assert!(needs_rehash(
        &argon2.verify(&secret(long), &stored).unwrap()
    ));
}

#[test]
fn p2_64_character_password_of_4_byte_characters_round_trips() {
    let password: String = (0..64)
        .map(|i| char::from_u32(0x1F400 + i).unwrap())
        .collect();
    assert_eq!(password.chars().count(), 64);
    assert_eq!(password.len(), 256);
    let passwords = argon2_default();
    let new = PasswordPolicy::NIST
        .check(secret(&password), &CONTEXT)
        .unwrap();
    let stored = passwords.hash(&new).unwrap();
    assert!(valid(
        passwords.verify(&secret(&password), &stored).unwrap()
    ));
    let mut changed: String = password.chars().take(63).collect();
    changed.push(char::from_u32(0x1F400 + 64).unwrap());
    assert_eq!(
        passwords.verify(&secret(&changed), &stored).unwrap(),
        Verification::Invalid
    );
}

#[test]
fn p2_policy_refuses_too_short_and_takes_a_higher_minimum_only() {
    assert_eq!(
        PasswordPolicy::NIST
            .check(secret("seven77"), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::TooShort { min: 8 }
    );
    assert!(
        PasswordPolicy::NIST
            .check(secret("xq7-lamp"), &CONTEXT)
            .is_ok()
    );
    let twelve = PasswordPolicy::new(12).unwrap();
    assert_eq!(
        twelve.check(secret("elevenchars"), &CONTEXT).unwrap_err(),
        PolicyViolation::TooShort { min: 12 }
    );
    assert!(matches!(
        PasswordPolicy::new(7),
        Err(PasswordConfigError::MinLength { requested: 7 })
    ));
    assert!(matches!(
        PasswordPolicy::new(129),
        Err(PasswordConfigError::MinLength { requested: 129 })
    ));
    // Characters, not bytes: eight 4-byte characters are long enough, seven are not.
    assert!(
        PasswordPolicy::NIST
            .check(secret(&"\u{1F511}".repeat(8)), &CONTEXT)
            .is_ok()
    );
    assert_eq!(
        PasswordPolicy::NIST
            .check(secret(&"\u{1F511}".repeat(7)), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::TooShort { min: 8 }
    );
}

#[test]
fn p2_policy_refuses_more_than_128_characters() {
    let max: String = "correct horse battery staple "
        .repeat(5)
        .chars()
        .take(MAX_LENGTH)
        .collect();
    assert!(PasswordPolicy::NIST.check(secret(&max), &CONTEXT).is_ok());
    let over = format!("{max}x");
    assert_eq!(
        PasswordPolicy::NIST
            .check(secret(&over), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::TooLong { max: 128 }
    );
    assert_eq!(
        PasswordPolicy::NIST
            .check(secret(&"x".repeat(1_000_000)), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::TooLong { max: 128 }
    );
}

#[test]
fn p2_policy_refuses_the_top_10000_common_passwords() {
    let list = include_str!("../../data/common-passwords.txt");
    let mut checked = 0;
    for (rank, common) in list.lines().take(10_000).enumerate() {
        let outcome = PasswordPolicy::NIST.check(secret(common), &CONTEXT);
        let expected = if common.chars().count() < 8 {
            PolicyViolation::TooShort { min: 8 }
        } else {
            PolicyViolation::Common
        };
        assert_eq!(
            outcome.unwrap_err(),
            expected,
            "rank {}: {common}",
            rank + 1
        );
        checked += 1;
    }
    assert_eq!(checked, 10_000);
    assert_eq!(list.lines().count(), 30_000);
    // Only entries the minimum length lets through matter (docs/SECURITY.md).
    assert_eq!(
        list.lines()
            .filter(|line| line.chars().count() >= 8)
            .count(),
        11_611
    );
    // Case and compatibility forms do not get around the list.
    for variant in [
        "Password1",
        "PASSWORD1",
        "ｐａｓｓｗｏｒｄ１",
        "Ｐａｓｓｗｏｒｄ1",
    ] {
        assert!(is_common_password(variant), "{variant}");
        assert_eq!(
            PasswordPolicy::NIST
                .check(secret(variant), &CONTEXT)
                .unwrap_err(),
            PolicyViolation::Common,
            "{variant}"
        );
    }
}

#[test]
fn p2_policy_refuses_the_email_local_part() {
    let policy = PasswordPolicy::NIST;
    assert_eq!(
        policy.check(secret("Alice.Smith"), &CONTEXT).unwrap_err(),
        PolicyViolation::EqualsEmailLocalPart
    );
    assert_eq!(
        policy
            .check(secret("my alice.smith 2024!"), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::ContainsEmailLocalPart
    );
    let tagged = PolicyContext::new("robert+bookings@example.org", "Acme");
    assert_eq!(
        policy
            .check(secret("robert-the-builder"), &tagged)
            .unwrap_err(),
        PolicyViolation::ContainsEmailLocalPart
    );
    // A three-letter local part is refused only as the whole password.
    let short = PolicyContext::new("ann@example.org", "Acme");
    assert!(
        policy
            .check(secret("planning a canoe trip"), &short)
            .is_ok()
    );
}

#[test]
fn p2_policy_refuses_the_tenant_name() {
    let policy = PasswordPolicy::NIST;
    assert_eq!(
        policy
            .check(secret("bright smile dental"), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::EqualsTenantName
    );
    assert_eq!(
        policy
            .check(secret("I love Bright Smile Dental"), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::ContainsTenantName
    );
    assert_eq!(
        policy
            .check(secret("brightsmiledental#1"), &CONTEXT)
            .unwrap_err(),
        PolicyViolation::ContainsTenantName
    );
}

#[test]
fn p2_policy_has_no_composition_rules() {
    for accepted in [
        "all lower case words here",
        "83920174652",
        "ÜBERGRÖSSENTRÄGER",
        "パスワードは長い文字列",
        "tr0ub4dor&3 but longer",
    ] {
        assert!(
            PasswordPolicy::NIST
                .check(secret(accepted), &CONTEXT)
                .is_ok(),
            "{accepted}"
        );
    }
}

#[test]
fn p2_malformed_or_unsupported_stored_hashes_are_typed_errors() {
    for unsupported in [
        "",
        "plaintext",
        "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA",
        "$bw-bcrypt-hmac-sha384$v=1$2a$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a",
    ] {
        assert!(
            matches!(
                PasswordHash::parse(unsupported),
                Err(HashFormatError::Unsupported)
            ),
            "{unsupported}"
        );
    }
    assert!(matches!(
        PasswordHash::parse("$2b$05$tooshort"),
        Err(HashFormatError::Bcrypt(_))
    ));
    assert!(matches!(
        PasswordHash::parse("$argon2id$$$"),
        Err(HashFormatError::Argon2(_))
    ));
    assert!(matches!(
        PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1"),
        Err(HashFormatError::Argon2Incomplete)
    ));
    assert!(matches!(
        PasswordHash::parse(
            "$argon2id$v=19$m=1,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
        ),
        Err(HashFormatError::Argon2Params(_))
    ));
    // Stored hashes asking for absurd work are refused before any work.
    let passwords = argon2_default();
    let huge = PasswordHash::parse(
        "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
    )
    .unwrap();
    assert!(matches!(
        passwords.verify(&secret("password"), &huge),
        Err(PasswordError::StoredParamsOutOfRange)
    ));
    let slow_bcrypt =
        PasswordHash::parse("$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
            .unwrap();
    assert!(matches!(
        passwords.verify(&secret("U*U"), &slow_bcrypt),
        Err(PasswordError::StoredParamsOutOfRange)
    ));
    // An over-long candidate is never hashed, whatever is stored: it is a
    // wrong password, as for an unknown user.
    assert_eq!(
        passwords.verify(&secret(&"x".repeat(1025)), &huge).unwrap(),
        Verification::Invalid
    );
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Runs `a` and `b` in `pairs` interleaved pairs, so that load from other
/// tests hits both sides alike, and asserts that the median pair's time
/// ratio is within a factor of two.
fn assert_same_cost(what: &str, pairs: usize, a: impl Fn(), b: impl Fn()) {
    let mut ratios: Vec<f64> = (0..pairs)
        .map(|_| {
            let a = timed(&a);
            let b = timed(&b);
            b.as_secs_f64() / a.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[pairs / 2];
    assert!(
        (0.5..2.0).contains(&median),
        "{what}: time ratios {ratios:?}"
    );
}

#[test]
fn p2_login_for_an_unknown_user_costs_the_same_as_for_a_known_one() {
    let passwords = argon2_default();
    let new = PasswordPolicy::NIST
        .check(secret("quiet lantern orchard"), &CONTEXT)
        .unwrap();
    let stored = passwords.hash(&new).unwrap();
    let candidate = secret("guessed password 1");
    assert_same_cost(
        "wrong password, known vs unknown user",
        3,
        || {
            assert_eq!(
                passwords.verify(&candidate, &stored).unwrap(),
                Verification::Invalid
            );
        },
        || passwords.verify_dummy(&candidate),
    );
    // An over-long candidate gets the same answer as a wrong password, after
    // the same work as for an unknown user: neither reveals the account.
    let over_long = secret(&"x".repeat(MAX_CANDIDATE_BYTES + 1));
    assert_same_cost(
        "over-long password, known vs unknown user",
        3,
        || {
            assert_eq!(
                passwords.verify(&over_long, &stored).unwrap(),
                Verification::Invalid
            );
        },
        || passwords.verify_dummy(&over_long),
    );
}

#[test]
fn p2_bcrypt_reset_required_costs_the_same_as_a_wrong_password() {
    let passwords = argon2_default();
    let first_72 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // An imported hash of the first 72 bytes, at a cost that takes long
    // enough to time.
    let imported = bcrypt::hash_with_salt(first_72, 8, *b"bookwarden-salt!")
        .unwrap()
        .format_for_version(bcrypt::Version::TwoB);
    let stored = PasswordHash::parse(&imported).unwrap();
    let right_long = secret(&format!("{first_72} and then some"));
    let wrong_long = secret(&format!("{} and then some", first_72.to_lowercase()));
    let wrong_short = secret("a wrong password");
    let reset = || {
        assert!(matches!(
            passwords.verify(&right_long, &stored),
            Err(PasswordError::ResetRequired)
        ));
    };
    assert_same_cost("reset required vs wrong long password", 5, reset, || {
        assert_eq!(
            passwords.verify(&wrong_long, &stored).unwrap(),
            Verification::Invalid
        );
    });
    assert_same_cost("reset required vs wrong short password", 5, reset, || {
        assert_eq!(
            passwords.verify(&wrong_short, &stored).unwrap(),
            Verification::Invalid
        );
    });
}

#[test]
fn p2_secret_types_never_show_secrets_in_debug() {
    let password = "hunter2-but-much-longer";
    let candidate = secret(password);
    let new = PasswordPolicy::NIST
        .check(secret(password), &CONTEXT)
        .unwrap();
    let stored =
        PasswordHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
            .unwrap();
    let pepper = pepper(0x41);
    for debug in [
        format!("{candidate:?}"),
        format!("{new:?}"),
        format!("{pepper:?}"),
        format!("{stored:?}"),
        format!(
            "{:?}",
            HashScheme::BcryptHmacSha384 {
                cost: BcryptCost::DEFAULT,
                pepper: self::pepper(0x41)
            }
        ),
    ] {
        assert!(!debug.contains(password), "{debug}");
        assert!(
            !debug.contains("E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
            "{debug}"
        );
        assert!(
            !debug.contains("QUFBQUFB") && !debug.contains("65, 65"),
            "{debug}"
        );
        assert!(
            debug.contains("REDACTED")
                || debug.contains("LegacyBcrypt")
                || debug.contains("BcryptHmacSha384"),
            "{debug}"
        );
    }
}

/// A runtime like `#[tokio::test(flavor = "multi_thread", worker_threads =
/// 2)]`. The tests below are plain `fn`s that block on it, so that the tidy
/// check, which looks for `fn name`, finds the names docs/SECURITY.md gives.
fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A runtime with a single executor thread, like `#[tokio::test]`.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn p2_hashing_pool_bounds_concurrent_hashes() {
    multi_thread_runtime().block_on(async {
        // A wait far longer than the queue can take: this test is about the bound
        // on concurrent hashes, not on the wait.
        let hasher = PasswordHasher::new(
            argon2_default(),
            NonZeroUsize::new(2).unwrap(),
            Duration::from_secs(300),
        );
        let done = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let sampler = {
            let (hasher, done, peak) = (hasher.clone(), Arc::clone(&done), Arc::clone(&peak));
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    peak.fetch_max(hasher.in_flight(), Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let jobs: Vec<_> = (0..6)
            .map(|i| {
                let hasher = hasher.clone();
                tokio::spawn(
                    async move { hasher.verify_dummy(secret(&format!("guess {i}"))).await },
                )
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        sampler.await.unwrap();
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "the pool must fill up to, and not past, its bound"
        );
        assert_eq!(hasher.in_flight(), 0);
    });
}

/// Fills every slot of `hasher` with a dummy verify and returns once it is
/// running (an argon2id hash takes hundreds of milliseconds in a test build).
async fn occupy(hasher: &PasswordHasher) -> tokio::task::JoinHandle<Result<(), PasswordError>> {
    let occupant = {
        let hasher = hasher.clone();
        tokio::spawn(async move { hasher.verify_dummy(secret("first in line")).await })
    };
    while hasher.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    occupant
}

#[test]
fn p2_hashing_pool_answers_busy_when_no_slot_comes_free_in_time() {
    multi_thread_runtime().block_on(async {
        let one_slot = NonZeroUsize::new(1).unwrap();
        let max_wait = Duration::from_millis(30);
        let bounded = PasswordHasher::new(argon2_slow(), one_slot, max_wait);
        assert_eq!(bounded.max_wait(), max_wait);
        let occupant = occupy(&bounded).await;
        // The caller waits its allowed time for the taken slot, then gets Busy.
        let started = Instant::now();
        let outcome = bounded.verify_dummy(secret("second in line")).await;
        let waited = started.elapsed();
        match outcome {
            Err(error @ PasswordError::Busy { .. }) => {
                assert!(matches!(error, PasswordError::Busy { max_wait: w, .. } if w == max_wait));
                assert!(error.to_string().contains("no password hashing slot"));
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        assert!(waited >= max_wait, "gave up after {waited:?}");
        assert_eq!(bounded.in_flight(), 1, "the occupant was still running");

        // A pool without a queue refuses at once while its slot is taken.
        let no_queue = PasswordHasher::new(argon2_slow(), one_slot, Duration::ZERO);
        let occupant_2 = occupy(&no_queue).await;
        assert!(matches!(
            no_queue.verify_dummy(secret("no room")).await,
            Err(PasswordError::Busy { .. })
        ));

        // The occupants themselves were not disturbed, and the slots are free
        // again (that waiters then get through is shown by the test above).
        occupant.await.unwrap().unwrap();
        occupant_2.await.unwrap().unwrap();
        assert_eq!((bounded.in_flight(), no_queue.in_flight()), (0, 0));
    });
}

#[test]
fn p2_hashing_does_not_block_the_async_executor() {
    current_thread_runtime().block_on(async {
        // One executor thread: if a hash ran on it, the ticker could not tick.
        let hasher = PasswordHasher::new(
            argon2_default(),
            NonZeroUsize::new(1).unwrap(),
            DEFAULT_MAX_QUEUE_WAIT,
        );
        let new = PasswordPolicy::NIST
            .check(secret("quiet lantern orchard"), &CONTEXT)
            .unwrap();
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let started = Instant::now();
        let stored = hasher.hash(new).await.unwrap();
        let verified = hasher
            .verify(secret("quiet lantern orchard"), stored)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        ticker.abort();
        assert!(valid(verified));
        let ticks = ticks.load(Ordering::SeqCst);
        // At least one tick per 20 ms of hashing, with room for a busy machine.
        let expected = (elapsed.as_millis() / 20).max(2);
        assert!(ticks as u128 >= expected, "{ticks} ticks in {elapsed:?}");
    });
}

#[test]
fn p2_hashing_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    use std::future::Future as _;
    use std::task::{Context, Poll, Waker};
    let hasher = PasswordHasher::new(
        argon2_default(),
        NonZeroUsize::new(1).unwrap(),
        DEFAULT_MAX_QUEUE_WAIT,
    );
    let mut future = std::pin::pin!(hasher.verify_dummy(secret("no runtime here")));
    // The runtime is looked for before the semaphore or any timer.
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Err(PasswordError::NoRuntime(_))) => {}
        other => panic!("expected NoRuntime, got {other:?}"),
    }
}
