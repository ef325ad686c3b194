//! Benchmark: what verifying a bearer token costs, per algorithm, on first sight (full
//! signature check) and when the same token comes back (verified-token cache).
//!
//! `cargo bench -p iop-auth --bench jwt_verify`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use iop_auth::Verifier;
use iop_auth::keys::{Curve, SigningKey};
use serde_json::{Value, json};

const ISS: &str = "urn:iop:gateway";
const AUD: &str = "urn:iop:api";
const N: usize = 2000;

fn claims(i: usize) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    json!({ "iss": ISS, "aud": AUD, "sub": "u", "tenant": "t", "exp": now + 300, "nbf": now, "jti": i.to_string(),
            "roles": ["clinician"], "scope": "user/Patient.rs" })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signer for one algorithm: its public JWK and a way to sign claims.
struct Signer {
    name: &'static str,
    jwk: Value,
    sign: Box<dyn Fn(&Value) -> String>,
}

fn ec(curve: Curve, name: &'static str) -> Signer {
    let key = SigningKey::generate_curve(curve).unwrap();
    let jwk = key.public_jwk();
    Signer {
        name,
        jwk,
        sign: Box::new(move |c| key.sign(c).unwrap()),
    }
}

fn ed25519() -> Signer {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()), "kid": "ed", "alg": "EdDSA" });
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(doc.as_ref());
    Signer {
        name: "EdDSA (Ed25519)",
        jwk,
        sign: Box::new(move |c| {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
            h.kid = Some("ed".into());
            jsonwebtoken::encode(&h, c, &encoding).unwrap()
        }),
    }
}

fn rsa() -> Signer {
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let jwk = json!({ "kty": "RSA", "kid": "rsa", "alg": "RS256",
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()) });
    Signer {
        name: "RS256 (RSA 2048)",
        jwk,
        sign: Box::new(move |c| {
            let input = format!(
                "{}.{}",
                b64(json!({ "alg": "RS256", "typ": "JWT", "kid": "rsa" })
                    .to_string()
                    .as_bytes()),
                b64(c.to_string().as_bytes())
            );
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
            format!("{input}.{}", b64(&sig))
        }),
    }
}

fn main() {
    println!("\nJWT verification, {N} tokens per algorithm, one core\n");
    println!("{:<20} {:>14} {:>14}", "algorithm", "first sight", "cached");
    for signer in [
        ec(Curve::P256, "ES256 (P-256)"),
        ec(Curve::P384, "ES384 (P-384)"),
        ed25519(),
        rsa(),
    ] {
        let mut verifier = Verifier::new();
        let jwks = serde_json::from_value(json!({ "keys": [signer.jwk] })).unwrap();
        verifier.trust_jwks(ISS, AUD, &jwks);
        let tokens: Vec<String> = (0..N).map(|i| (signer.sign)(&claims(i))).collect();
        let start = Instant::now();
        for t in &tokens {
            verifier.verify(t).unwrap();
        }
        let first = start.elapsed() / N as u32;
        let start = Instant::now();
        for t in &tokens {
            verifier.verify(t).unwrap();
        }
        let cached = start.elapsed() / N as u32;
        println!(
            "{:<20} {:>11.1} µs {:>11.1} µs",
            signer.name,
            first.as_nanos() as f64 / 1000.0,
            cached.as_nanos() as f64 / 1000.0
        );
    }
}
