//! Signing keys generated in the test (RSA 2048 and EC P-256 with aws-lc-rs), their JWKS, and
//! tokens: valid, expired, forged.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://auth.aworld.example/";
pub const AUDIENCE: &str = "aworld-api";

pub struct Keys {
    pub rsa: EncodingKey,
    pub ec: EncodingKey,
    /// The JWKS holding both public keys (kids `rsa-1`, `ec-1`).
    pub jwks: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { rsa-1, ec-1 }")
    }
}

pub fn generate() -> Keys {
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).expect("PKCS#8");
    let public = rsa.public_key();
    let n = B64.encode(public.modulus().big_endian_without_leading_zero());
    let e = B64.encode(public.exponent().big_endian_without_leading_zero());
    let ec_doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("EC key");
    let ec_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_doc.as_ref()).expect("EC key pair");
    let point = ec_pair.public_key().as_ref();
    let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
    Keys {
        rsa: EncodingKey::from_rsa_der(pkcs1_of_pkcs8(der.as_ref())),
        ec: EncodingKey::from_ec_der(ec_doc.as_ref()),
        jwks: json!({ "keys": [
            { "kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": n, "e": e },
            { "kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": x, "y": y }
        ]}),
    }
}

/// Claims for `sub`, valid for `ttl_secs` (negative: already expired).
pub fn claims(sub: &str, ttl_secs: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl_secs })
}

pub fn sign(key: &EncodingKey, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, key).expect("sign")
}

/// Like [`sign`], with the header's `typ` set to `typ`.
pub fn sign_typed(key: &EncodingKey, alg: Algorithm, kid: &str, typ: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    encode(&header, claims, key).expect("sign")
}

/// An unsigned token claiming `alg: none`.
pub fn unsigned(claims: &Value) -> String {
    let header = B64.encode(json!({ "alg": "none", "typ": "JWT", "kid": "rsa-1" }).to_string());
    format!("{header}.{}.", B64.encode(claims.to_string()))
}

/// A valid token whose payload was changed after signing.
pub fn tampered(token: &str, claims: &Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = B64.encode(claims.to_string());
    parts.join(".")
}

/// The PKCS#1 RSAPrivateKey inside a PKCS#8 PrivateKeyInfo (jsonwebtoken signs with PKCS#1):
/// SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING privateKey }.
fn pkcs1_of_pkcs8(der: &[u8]) -> &[u8] {
    // (tag, header length, content length) of the DER element at the start of `b`.
    fn element(b: &[u8]) -> (u8, usize, usize) {
        let (tag, first) = (b[0], b[1] as usize);
        if first < 0x80 {
            return (tag, 2, first);
        }
        let n = first & 0x7f;
        let len = b[2..2 + n].iter().fold(0usize, |acc, x| (acc << 8) | *x as usize);
        (tag, 2 + n, len)
    }
    let (_, outer_header, _) = element(der);
    let mut rest = &der[outer_header..];
    for _ in 0..2 {
        let (_, h, l) = element(rest);
        rest = &rest[h + l..];
    }
    let (tag, h, l) = element(rest);
    assert_eq!(tag, 0x04, "PKCS#8 privateKey is an OCTET STRING");
    &rest[h..h + l]
}
