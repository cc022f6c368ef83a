//! Benchmarks behind `cargo xtask bench` for the crypto crate.
//!
//! - `vault/seal_open_256B` seals and opens a 256-byte secret through the
//!   vault; `vault/raw_ring_seal_open_256B` does the same with bare `ring`
//!   AES-256-GCM, a fixed key and a random nonce, in the same run, so xtask
//!   can report the vault's overhead as a ratio (goal: within 3x).
//! - `passwords/argon2id_hash_default` hashes at [`ARGON2_DEFAULT`];
//!   `passwords/bcrypt_verify_cost10` and `..._cost12` verify imported bcrypt
//!   hashes.
//!
//! xtask reads `target/criterion/<group>/<function>/new/estimates.json`: keep
//! the ids.

#![allow(
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark whose setup or measured call fails must stop; criterion's macros make undocumented items"
)]

use std::hint::black_box;
use std::time::Duration;

use bookwarden_crypto::SecretString;
use bookwarden_crypto::password::{
    ARGON2_DEFAULT, HashScheme, PasswordHash, PasswordPolicy, Passwords, PolicyContext,
};
use bookwarden_crypto::vault::{
    self, MasterKey, MasterKeyRing, MasterKeyVersion, Purpose, TenantRef,
};
use criterion::{Criterion, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

fn vault(c: &mut Criterion) {
    let version = MasterKeyVersion::new(1).expect("version 1 is valid");
    let ring = MasterKeyRing::new(version, [MasterKey::generate(version).expect("randomness")])
        .expect("one key, primary");
    let (key, _) = ring
        .new_data_key(TenantRef::from_bytes([1; 16]))
        .expect("data key");
    let secret = [0x5au8; 256];
    let record = b"0192f0c4-7f8e-7b6a-9c1d-2e3f4a5b6c7d";

    let rng = SystemRandom::new();
    let mut raw_key = [0u8; 32];
    rng.fill(&mut raw_key).expect("randomness");
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw_key).expect("32-byte key"));

    let mut group = c.benchmark_group("vault");
    group.bench_function("seal_open_256B", |b| {
        b.iter(|| {
            let sealed = vault::seal(
                &key,
                &Purpose::OAUTH_REFRESH_TOKEN,
                record,
                black_box(&secret),
            )
            .expect("seal");
            let opened =
                vault::open(&key, &Purpose::OAUTH_REFRESH_TOKEN, record, &sealed).expect("open");
            black_box(opened);
        });
    });
    group.bench_function("raw_ring_seal_open_256B", |b| {
        b.iter(|| {
            let mut nonce = [0u8; NONCE_LEN];
            rng.fill(&mut nonce).expect("randomness");
            let mut in_out = black_box(secret).to_vec();
            raw.seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record),
                &mut in_out,
            )
            .expect("seal");
            let opened = raw
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(record),
                    &mut in_out,
                )
                .expect("open");
            black_box(opened);
        });
    });
    group.finish();
}

fn passwords(c: &mut Criterion) {
    let passwords = Passwords::new(HashScheme::Argon2id(ARGON2_DEFAULT)).expect("default scheme");
    let context = PolicyContext::new("bench@example.com", "Bench Tenant");
    let mut group = c.benchmark_group("passwords");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("argon2id_hash_default", |b| {
        b.iter_batched(
            || {
                PasswordPolicy::NIST
                    .check(
                        SecretString::new("quiet lantern orchard".to_owned()),
                        &context,
                    )
                    .expect("policy")
            },
            |new| black_box(passwords.hash(&new).expect("hash")),
            criterion::BatchSize::SmallInput,
        );
    });
    for cost in [10u32, 12] {
        let encoded = bcrypt::hash("imported password", cost).expect("bcrypt hash");
        let stored = PasswordHash::parse(&encoded).expect("bcrypt hash parses");
        let candidate = SecretString::new("imported password".to_owned());
        group.bench_function(format!("bcrypt_verify_cost{cost}"), |b| {
            b.iter(|| black_box(passwords.verify(&candidate, &stored).expect("verify")));
        });
    }
    group.finish();
}

criterion_group!(benches, vault, passwords);
criterion_main!(benches);
