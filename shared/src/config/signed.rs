//! The deployed configuration as the deploy signs it, and its verification.
//!
//! The configuration document names who the suite trusts (operator keys and principals, JWT
//! issuer, keys and `jwks_uri`, event sources) and what it does (kill switch, dry run,
//! strategies). In the account, `ssm:PutParameter` is a common right; so the parameter holds
//! an envelope that only the deploy can make: the document, signed with a KMS key whose policy
//! lets only the deploying principal sign (`infra/deploy.py`). The functions verify it offline
//! against the public key the stack pins in their environment ([`ENV_CONFIG_SIGNER`]), which
//! only a stack deploy changes. An envelope that does not verify is refused as a whole.
//!
//! The signed statement is short (KMS `Sign` with `MessageType: RAW` takes at most 4,096
//! bytes, "Sign" in the AWS KMS API Reference; the document is larger) and names the
//! document by its SHA-256:
//!
//! ```text
//! aworld-resilience signed configuration 1
//! signed_at: 2026-12-07T23:59:00Z
//! sha256: <64 hex digits of the document's bytes>
//! ```

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The stack's pin: base64 of the DER SubjectPublicKeyInfo (P-256) of the deploy's
/// configuration key, as KMS `GetPublicKey` returns it.
pub const ENV_CONFIG_SIGNER: &str = "RESILIENCE_CONFIG_SIGNER";

/// The envelope's `format`, also the first line of the signed statement.
pub const FORMAT: &str = "aworld-resilience signed configuration 1";

/// What the parameter holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub format: String,
    /// When the deploy signed it (RFC 3339): a warm function never goes back to an older one.
    pub signed_at: String,
    /// The KMS key that signed (informative: verification uses the pinned public key only).
    pub key_id: String,
    /// base64 of the DER ECDSA signature (KMS `ECDSA_SHA_256`) of [`statement`].
    pub signature: String,
    /// The configuration document, exactly as signed.
    pub config: String,
}

/// A verified document and when it was signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub config: String,
    pub signed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("not a signed configuration ({0}): only documents signed by the deploy are accepted (fix: write it with make deploy-config)")]
    NotSigned(String),
    #[error("the signature does not verify against the configuration key pinned by the stack (signed, it says, by {0:?})")]
    BadSignature(String),
    #[error("the envelope is malformed: {0}")]
    Malformed(String),
    #[error("{ENV_CONFIG_SIGNER} is {0} (fix: deploy the stack: it pins the configuration key's public key)")]
    NoSigner(String),
}

/// The statement the deploy signs for `config` at `signed_at`.
pub fn statement(signed_at: &str, config: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, config.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{FORMAT}\nsigned_at: {signed_at}\nsha256: {hex}\n")
}

/// The pinned public key: checked to be a P-256 key once, at start.
#[derive(Debug, Clone, PartialEq)]
pub struct Signer {
    der: Vec<u8>,
}

impl Signer {
    /// From base64 of a DER SubjectPublicKeyInfo.
    pub fn from_base64(text: &str) -> Result<Self, Refusal> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text.trim().as_bytes())
            .map_err(|e| Refusal::NoSigner(format!("not base64 ({e})")))?;
        aws_lc_rs::signature::ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &der)
            .map_err(|e| Refusal::NoSigner(format!("not a P-256 public key ({e})")))?;
        Ok(Signer { der })
    }

    /// The pin in the environment; `None` when it is not set (a local run: the document comes
    /// from `RESILIENCE_CONFIG`, which only whoever starts the process can set).
    pub fn from_env() -> Result<Option<Self>, Refusal> {
        match std::env::var(ENV_CONFIG_SIGNER) {
            Ok(v) if !v.trim().is_empty() => Self::from_base64(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// Opens `text` (the parameter's value): an envelope whose signature verifies against this
    /// key, or the reason it is refused.
    pub fn open(&self, text: &str) -> Result<Verified, Refusal> {
        let envelope = parse(text)?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(envelope.signature.trim().as_bytes())
            .map_err(|e| Refusal::Malformed(format!("signature is not base64 ({e})")))?;
        let message = statement(&envelope.signed_at, &envelope.config);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.der)
            .verify(message.as_bytes(), &signature)
            .map_err(|_| Refusal::BadSignature(envelope.key_id.chars().take(200).collect()))?;
        // Only a verified envelope's time is believed.
        let signed_at = DateTime::parse_from_rfc3339(&envelope.signed_at)
            .map_err(|e| Refusal::Malformed(format!("signed_at {:?}: {e}", envelope.signed_at)))?
            .with_timezone(&Utc);
        Ok(Verified {
            config: envelope.config,
            signed_at,
        })
    }
}

/// The envelope in `text`, unverified (what the CLI shows; never what a function runs).
pub fn parse(text: &str) -> Result<Envelope, Refusal> {
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
        let what = if text.trim_start().starts_with('{') && text.contains("\"regions\"") {
            "a bare configuration document".to_owned()
        } else {
            format!("{e}")
        };
        Refusal::NotSigned(what)
    })?;
    if envelope.format != FORMAT {
        return Err(Refusal::Malformed(format!(
            "format {:?} (expected {FORMAT:?})",
            envelope.format.chars().take(80).collect::<String>()
        )));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn key() -> (EcdsaKeyPair, Signer) {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let signer = Signer::from_base64(&base64::engine::general_purpose::STANDARD.encode(spki.as_ref())).unwrap();
        (pair, signer)
    }

    fn seal(pair: &EcdsaKeyPair, signed_at: &str, config: &str) -> Envelope {
        let sig = pair.sign(&SystemRandom::new(), statement(signed_at, config).as_bytes()).unwrap();
        Envelope {
            format: FORMAT.into(),
            signed_at: signed_at.into(),
            key_id: "arn:aws:kms:eu-south-1:111122223333:key/config".into(),
            signature: base64::engine::general_purpose::STANDARD.encode(sig.as_ref()),
            config: config.into(),
        }
    }

    #[test]
    fn a_document_signed_by_the_pinned_key_opens_with_its_time() {
        let (pair, signer) = key();
        let text = serde_json::to_string(&seal(&pair, "2026-12-07T23:59:00Z", r#"{"platform":"aworld"}"#)).unwrap();
        let opened = signer.open(&text).unwrap();
        assert_eq!(opened.config, r#"{"platform":"aworld"}"#);
        assert_eq!(opened.signed_at.to_rfc3339(), "2026-12-07T23:59:00+00:00");
    }

    #[test]
    fn a_bare_document_an_edited_document_another_key_and_a_moved_time_are_each_refused_by_name() {
        let (pair, signer) = key();
        let (other, _) = key();
        let good = seal(&pair, "2026-12-07T23:59:00Z", r#"{"kill_switch":false}"#);
        let bare = signer.open(r#"{"platform":"aworld","regions":{}}"#).unwrap_err();
        assert_eq!(bare, Refusal::NotSigned("a bare configuration document".into()));
        assert!(matches!(signer.open("{}").unwrap_err(), Refusal::NotSigned(_)));
        let mut edited = good.clone();
        edited.config = r#"{"kill_switch":true}"#.into();
        assert!(matches!(
            signer.open(&serde_json::to_string(&edited).unwrap()).unwrap_err(),
            Refusal::BadSignature(_)
        ));
        let mut later = good.clone();
        later.signed_at = "2027-01-01T00:00:00Z".into();
        assert!(matches!(
            signer.open(&serde_json::to_string(&later).unwrap()).unwrap_err(),
            Refusal::BadSignature(_)
        ));
        let foreign = seal(&other, "2026-12-07T23:59:00Z", r#"{"kill_switch":true}"#);
        assert!(matches!(
            signer.open(&serde_json::to_string(&foreign).unwrap()).unwrap_err(),
            Refusal::BadSignature(_)
        ));
        let mut wrong_format = good;
        wrong_format.format = "v0".into();
        assert!(matches!(
            signer.open(&serde_json::to_string(&wrong_format).unwrap()).unwrap_err(),
            Refusal::Malformed(_)
        ));
    }

    #[test]
    fn a_pin_that_is_not_a_p256_key_is_named() {
        assert!(matches!(Signer::from_base64("not base64!"), Err(Refusal::NoSigner(_))));
        assert!(matches!(Signer::from_base64("AAAA"), Err(Refusal::NoSigner(_))));
    }

    #[test]
    fn the_statement_is_short_enough_for_a_raw_kms_signature_whatever_the_document_size() {
        let big = "x".repeat(64 * 1024);
        assert!(statement("2026-12-07T23:59:00Z", &big).len() < 4096);
    }
}
