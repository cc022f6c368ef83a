//! Tokens (P6): format, checksum, digests.

use std::collections::HashSet;

use bookwarden_crypto::token::{
    self, BODY_CHARS, PREFIX_LEN, TOKEN_LEN, TokenDigest, TokenError, TokenKind,
};

#[test]
fn p6_tokens_carry_a_type_prefix_256_random_bits_and_a_checksum() {
    for kind in TokenKind::ALL {
        let (plain, digest) = token::generate(kind).unwrap();
        let text = plain.expose_secret();
        assert_eq!(text.len(), TOKEN_LEN);
        assert_eq!(TOKEN_LEN, 67);
        assert!(text.starts_with(kind.prefix()));
        // The shape a secret scanner matches: bw_(...)_[a-z2-7]{60}.
        assert!(
            text[7..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        );
        let parsed = token::parse(text).unwrap();
        assert_eq!(parsed.kind(), kind);
        assert_eq!(parsed.digest(), digest);
        assert!(parsed.verify(&digest));
    }
    let prefixes: HashSet<_> = TokenKind::ALL.iter().map(|k| k.prefix()).collect();
    assert_eq!(prefixes.len(), TokenKind::ALL.len());
    assert!(prefixes.contains("bw_key_") && prefixes.contains("bw_ses_"));
    assert!(prefixes.contains("bw_mng_") && prefixes.contains("bw_inv_"));
}

#[test]
fn p6_only_the_digest_is_stored_and_it_matches_only_its_token() {
    let (plain, stored) = token::generate(TokenKind::ApiKey).unwrap();
    let (other, _) = token::generate(TokenKind::ApiKey).unwrap();
    // The stored digest is SHA-256 of the token, not the token.
    assert_ne!(&stored.as_bytes()[..], plain.expose_secret().as_bytes());
    let restored = TokenDigest::from_bytes(*stored.as_bytes());
    assert!(
        token::parse(plain.expose_secret())
            .unwrap()
            .verify(&restored)
    );
    assert!(
        !token::parse(other.expose_secret())
            .unwrap()
            .verify(&restored)
    );
}

#[test]
fn p6_each_malformation_is_refused_with_its_own_error() {
    let (plain, _) = token::generate(TokenKind::Session).unwrap();
    let text = plain.expose_secret();
    assert_eq!(token::parse(""), Err(TokenError::WrongLength));
    assert_eq!(token::parse(&text[..66]), Err(TokenError::WrongLength));
    assert_eq!(
        token::parse(&format!("{text}a")),
        Err(TokenError::WrongLength)
    );
    assert_eq!(
        token::parse(&text.replacen("bw_ses_", "bw_xyz_", 1)),
        Err(TokenError::UnknownPrefix)
    );
    assert_eq!(
        token::parse(&text.replacen("bw_ses_", "BW_SES_", 1)),
        Err(TokenError::UnknownPrefix)
    );
    let mut upper = text.to_owned();
    upper.replace_range(10..11, "A");
    assert_eq!(token::parse(&upper), Err(TokenError::InvalidCharacter));
    let mut digit = text.to_owned();
    digit.replace_range(10..11, "1");
    assert_eq!(token::parse(&digit), Err(TokenError::InvalidCharacter));
    // Multi-byte input of the right byte length never slices inside a char.
    assert_eq!(
        token::parse(&"é".repeat(33).chars().chain(['x']).collect::<String>()),
        Err(TokenError::WrongLength)
    );
    // Swapping the prefix keeps the alphabet but breaks the checksum.
    assert_eq!(
        token::parse(&text.replacen("bw_ses_", "bw_key_", 1)),
        Err(TokenError::ChecksumMismatch)
    );
    // 52 base32 characters carry 260 bits for 256, so the last character's
    // low 4 bits must be zero (it is 'a' or 'q'). Set one, behind a correct
    // checksum: every earlier check passes, and the body is refused as not
    // canonical, so no second spelling of the same 32 bytes exists.
    let body_end = PREFIX_LEN + BODY_CHARS;
    assert!(matches!(text.as_bytes()[body_end - 1], b'a' | b'q'));
    let mut non_canonical = format!("{}b", &text[..body_end - 1]);
    let hash = ring::digest::digest(&ring::digest::SHA256, non_canonical.as_bytes());
    let checksum = data_encoding::BASE32_NOPAD
        .encode(&hash.as_ref()[..5])
        .to_ascii_lowercase();
    non_canonical.push_str(&checksum);
    assert!(matches!(
        token::parse(&non_canonical),
        Err(TokenError::NonCanonical(Some(_)))
    ));
    assert_eq!(
        token::parse_as(text, TokenKind::ApiKey),
        Err(TokenError::WrongKind {
            expected: TokenKind::ApiKey,
            found: TokenKind::Session
        })
    );
    assert!(token::parse_as(text, TokenKind::Session).is_ok());
}

#[test]
fn p6_any_single_character_change_fails_the_checksum() {
    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz234567";
    let (plain, _) = token::generate(TokenKind::BookingManage).unwrap();
    let text = plain.expose_secret();
    for position in 7..TOKEN_LEN {
        for replacement in ALPHABET.chars() {
            if text[position..].starts_with(replacement) {
                continue;
            }
            let mut changed = text.to_owned();
            changed.replace_range(position..=position, &replacement.to_string());
            let outcome = token::parse(&changed);
            assert!(
                matches!(outcome, Err(TokenError::ChecksumMismatch)),
                "position {position}: {outcome:?}"
            );
        }
    }
}

#[test]
fn p6_tokens_do_not_repeat() {
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let (plain, digest) = token::generate(TokenKind::Invitation).unwrap();
        assert!(seen.insert(*digest.as_bytes()));
        assert!(plain.expose_secret().starts_with("bw_inv_"));
    }
}

#[test]
fn p6_plaintext_tokens_never_show_in_debug() {
    let (plain, digest) = token::generate(TokenKind::ApiKey).unwrap();
    let parsed = token::parse(plain.expose_secret()).unwrap();
    let body = &plain.expose_secret()[7..];
    for debug in [
        format!("{plain:?}"),
        format!("{digest:?}"),
        format!("{parsed:?}"),
    ] {
        assert!(!debug.contains(body), "{debug}");
    }
    assert!(format!("{plain:?}").contains("REDACTED"));
}
