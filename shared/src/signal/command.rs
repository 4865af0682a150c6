//! Operator commands: one EventBridge detail-type each, each signed by an operator KMS key.
//!
//! A same-account principal with `events:PutEvents`, `sqs:SendMessage` or `lambda:InvokeFunction`
//! on `*` can deliver an event with any fields it likes, so no field a sender writes is proof of
//! who sent it. The proof is a signature by an asymmetric KMS key whose key policy lets only the
//! operator role sign (a key policy is the primary control of a KMS key: an identity policy
//! alone grants nothing on a key whose policy does not delegate to IAM, "Key policies in AWS
//! KMS"). The functions verify it against the public keys in the configuration.

use crate::config::SuiteConfig;
use crate::model::Region;
use crate::signal::Channel;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// EventBridge `source` of operator commands unless configured otherwise.
pub const DEFAULT_OPERATOR_SOURCE: &str = "aworld.operator";

/// The operator commands, one EventBridge `detail-type` each so rules can route them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorCommandKind {
    Failover,
    Failback,
    Freeze,
    Unfreeze,
    VerifyNow,
    Throttle,
    Release,
    /// Forget a region's open AWS Health issues (a claim the Health API cannot settle, or an
    /// issue AWS never closed).
    ClearHealthIssues,
}

impl OperatorCommandKind {
    pub const ALL: [OperatorCommandKind; 8] = [
        OperatorCommandKind::Failover,
        OperatorCommandKind::Failback,
        OperatorCommandKind::Freeze,
        OperatorCommandKind::Unfreeze,
        OperatorCommandKind::VerifyNow,
        OperatorCommandKind::Throttle,
        OperatorCommandKind::Release,
        OperatorCommandKind::ClearHealthIssues,
    ];

    /// The EventBridge `detail-type` of this command.
    pub fn detail_type(self) -> &'static str {
        match self {
            OperatorCommandKind::Failover => "Resilience Failover Command",
            OperatorCommandKind::Failback => "Resilience Failback Command",
            OperatorCommandKind::Freeze => "Resilience Freeze Command",
            OperatorCommandKind::Unfreeze => "Resilience Unfreeze Command",
            OperatorCommandKind::VerifyNow => "Resilience Verify Now Command",
            OperatorCommandKind::Throttle => "Resilience Throttle Command",
            OperatorCommandKind::Release => "Resilience Release Command",
            OperatorCommandKind::ClearHealthIssues => "Resilience Clear Health Issues Command",
        }
    }

    pub fn from_detail_type(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.detail_type() == s)
    }
}

/// The `detail` of an operator command event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorCommandDetail {
    /// Who asks: the caller's ARN as STS `GetCallerIdentity` gave it to the CLI (an IAM user, or
    /// an assumed-role session of a configured role). Covered by the signature, so only a
    /// principal allowed to sign could have written it; checked against `operators.principals`.
    pub requested_by: String,
    /// Why, in the operator's words; copied into the audit record.
    #[serde(default)]
    pub reason: String,
    /// failover: the region to move traffic to; failback: the region to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// throttle / release: the user id, API key or IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The proof that an operator sent it: a signature by an operator KMS key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<CommandProof>,
}

/// A signature over the command by one of the configured operator keys (an asymmetric KMS key,
/// `ECC_NIST_P256`, `SIGN_VERIFY`, whose key policy lets only the operator role call
/// `kms:Sign`). Whoever can put an event on a bus, a queue or invoke a function can write every
/// other field; only the operator role can produce this.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandProof {
    /// The KMS key that signed (its ARN, as in `operators.signing_keys`).
    pub key_id: String,
    /// When the command was signed (RFC 3339, UTC); a command older than
    /// `operators.max_age_seconds` is refused, so a captured command cannot be replayed later.
    pub issued_at: String,
    /// Unique per command: with the signature, the idempotency key of the command, so a
    /// replayed copy (on any bus, queue or invocation) is the same command, acted on once.
    pub nonce: String,
    /// base64 of the DER (ASN.1) ECDSA signature KMS `Sign` returns for `ECDSA_SHA_256` over
    /// [`signing_input`].
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorCommand {
    pub command: OperatorCommandKind,
    /// The EventBridge `source` it came from.
    pub source: String,
    pub detail: OperatorCommandDetail,
}

/// Why an operator command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CommandRefusal {
    #[error("source {0:?} is not an allowed operator source")]
    Source(String),
    #[error("principal {0:?} is not an allowed operator")]
    Principal(String),
    #[error("it arrived through {0}; operator commands are accepted only as EventBridge events (the operator bus)")]
    Channel(String),
    #[error("it carries no proof (a signature by an operator key); anyone who can put an event can write its fields")]
    Unsigned,
    #[error("it is signed by key {0:?}, which is not one of operators.signing_keys")]
    UnknownKey(String),
    #[error("its signature does not verify with key {0:?}: the command was altered or not signed by that key")]
    BadSignature(String),
    #[error("its proof is malformed: {0}")]
    MalformedProof(String),
    #[error("it was signed {age_seconds} s ago, more than operators.max_age_seconds ({max} s): a replay or a delayed command")]
    Stale { age_seconds: i64, max: u64 },
    #[error("it was signed {ahead_seconds} s in the future")]
    Future { ahead_seconds: i64 },
}

/// How far in the future a signature time may be (clock skew between the operator's machine
/// and Lambda).
const MAX_FUTURE_SECONDS: i64 = 60;

/// The bytes an operator key signs: the command and every detail field, in a fixed order and
/// encoding (serde_json writes struct fields in declaration order), so the verifier rebuilds
/// them exactly from what arrived. KMS `Sign` takes a RAW message of at most 4096 bytes
/// ("Sign", AWS KMS API reference); [`MAX_SIGNED_BYTES`] keeps commands under it.
pub fn signing_input(command: OperatorCommandKind, detail: &OperatorCommandDetail, key_id: &str, issued_at: &str, nonce: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Signed<'a> {
        v: u8,
        command: &'a str,
        requested_by: &'a str,
        reason: &'a str,
        region: Option<&'a str>,
        principal: Option<&'a str>,
        key_id: &'a str,
        issued_at: &'a str,
        nonce: &'a str,
    }
    serde_json::to_vec(&Signed {
        v: 1,
        command: command.detail_type(),
        requested_by: &detail.requested_by,
        reason: &detail.reason,
        region: detail.region.as_ref().map(Region::as_str),
        principal: detail.principal.as_deref(),
        key_id,
        issued_at,
        nonce,
    })
    .unwrap_or_default()
}

/// ECDSA signatures are malleable: for a signature `(r, s)`, `(r, n - s)` verifies too, so
/// anyone holding one signed command could make a second valid one, with a new idempotency key.
/// Only the low-S form (`s <= n/2`) in strict DER is accepted; the CLI normalises KMS's answer
/// (KMS returns either form). `n` is the order of P-256 (SEC 2, "Recommended Elliptic Curve
/// Domain Parameters", secp256r1).
pub mod low_s {
    const N: [u8; 32] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
        0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ];
    /// `n >> 1`.
    const HALF_N: [u8; 32] = [
        0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B,
        0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
    ];

    /// `(r, s)` as 32-byte big-endian numbers from a strict DER `ECDSA-Sig-Value`
    /// (SEQUENCE of two minimal, positive INTEGERs, nothing after), or why it is not one.
    pub fn parse(der: &[u8]) -> Result<([u8; 32], [u8; 32]), String> {
        let body = match der {
            [0x30, len, body @ ..] if usize::from(*len) == body.len() && *len < 0x80 => body,
            _ => return Err("not a DER SEQUENCE of the length it states".into()),
        };
        let (r, rest) = integer(body)?;
        let (s, rest) = integer(rest)?;
        if !rest.is_empty() {
            return Err("bytes after the two integers".into());
        }
        Ok((r, s))
    }

    fn integer(der: &[u8]) -> Result<([u8; 32], &[u8]), String> {
        let [0x02, len, rest @ ..] = der else {
            return Err("not a DER INTEGER".into());
        };
        let len = usize::from(*len);
        if len == 0 || len > 33 || rest.len() < len {
            return Err("an INTEGER of a length P-256 does not have".into());
        }
        let (value, rest) = rest.split_at(len);
        // Minimal encoding: a leading zero only before a byte with its top bit set; no negatives.
        if value[0] & 0x80 != 0 || (value[0] == 0 && (len == 1 || value[1] & 0x80 == 0)) {
            return Err("an INTEGER not in minimal positive form".into());
        }
        let value = if value[0] == 0 { &value[1..] } else { value };
        if value.len() > 32 {
            return Err("an INTEGER wider than 256 bits".into());
        }
        let mut out = [0u8; 32];
        out[32 - value.len()..].copy_from_slice(value);
        Ok((out, rest))
    }

    /// Whether `s` is in the upper half of the group order.
    pub fn is_high(s: &[u8; 32]) -> bool {
        s > &HALF_N
    }

    /// The low-S form of a DER signature, in strict DER (unchanged if already low).
    pub fn normalise(der: &[u8]) -> Result<Vec<u8>, String> {
        let (r, s) = parse(der)?;
        Ok(encode(&r, &if is_high(&s) { sub(&N, &s) } else { s }))
    }

    /// The other valid signature of the same message: `(r, n - s)`.
    pub fn other_form(der: &[u8]) -> Result<Vec<u8>, String> {
        let (r, s) = parse(der)?;
        Ok(encode(&r, &sub(&N, &s)))
    }

    /// `a - b` for `a >= b`, big-endian.
    fn sub(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
            borrow = i16::from(d < 0);
            out[i] = u8::try_from(d.rem_euclid(256)).unwrap_or_default();
        }
        out
    }

    fn encode(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
        let int = |v: &[u8; 32]| {
            let trimmed: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
            let mut body = if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
                [vec![0], trimmed].concat()
            } else {
                trimmed
            };
            let mut out = vec![0x02, u8::try_from(body.len()).unwrap_or_default()];
            out.append(&mut body);
            out
        };
        let body = [int(r), int(s)].concat();
        [vec![0x30, u8::try_from(body.len()).unwrap_or_default()], body].concat()
    }
}

/// The largest signing input KMS `Sign` accepts as a RAW message.
pub const MAX_SIGNED_BYTES: usize = 4096;

/// The longest reason the CLI signs: even written entirely in characters JSON escapes as
/// `\u00XX` (six bytes), it leaves room under [`MAX_SIGNED_BYTES`] for the other fields.
pub const MAX_REASON_CHARS: usize = 500;

/// Whether a caller ARN is a configured principal: the same ARN, or an assumed-role session of
/// a configured role (STS names the session `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`,
/// without the role's path: "IAM identifiers", ARNs).
pub fn is_operator(configured: &[String], caller: &str) -> bool {
    configured.iter().any(|p| {
        if p == caller {
            return true;
        }
        let (Some((p_head, p_role)), Some(rest)) = (p.split_once(":role/"), caller.split_once(":assumed-role/")) else {
            return false;
        };
        let (Some(p_account), Some(c_account)) = (
            p_head.strip_prefix("arn:").and_then(|h| h.split(':').nth(3)),
            rest.0.split(':').nth(4),
        ) else {
            return false;
        };
        let role_name = p_role.rsplit('/').next().unwrap_or_default();
        let session_role = rest.1.split('/').next().unwrap_or_default();
        p_account == c_account && !role_name.is_empty() && role_name == session_role && rest.0.starts_with("arn:")
    })
}

impl OperatorCommand {
    /// Checks the command: it came as an EventBridge event from a configured source, carries a
    /// fresh signature by a configured operator key over every field, and names a configured
    /// principal. The checks are pure (the public keys are in the configuration), so no AWS
    /// call and no KMS availability stands between an operator and a command in a disaster.
    pub fn authorize(&self, config: &SuiteConfig, channel: Channel, now: DateTime<Utc>) -> Result<(), CommandRefusal> {
        let ops = &config.operators;
        if channel != Channel::EventBridge {
            return Err(CommandRefusal::Channel(format!("{channel:?}")));
        }
        let source_ok = if ops.sources.is_empty() {
            self.source == DEFAULT_OPERATOR_SOURCE
        } else {
            ops.sources.contains(&self.source)
        };
        if !source_ok {
            return Err(CommandRefusal::Source(self.source.clone()));
        }
        let proof = self.detail.proof.as_ref().ok_or(CommandRefusal::Unsigned)?;
        let key = ops
            .signing_keys
            .iter()
            .find(|k| k.key_id == proof.key_id)
            .ok_or_else(|| CommandRefusal::UnknownKey(proof.key_id.chars().take(200).collect()))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(proof.signature.as_bytes())
            .map_err(|e| CommandRefusal::MalformedProof(format!("signature is not base64 ({e})")))?;
        let public_key = key
            .public_key_der()
            .map_err(|e| CommandRefusal::MalformedProof(format!("key {:?}: {e}", key.key_id)))?;
        match low_s::parse(&signature) {
            Err(e) => return Err(CommandRefusal::MalformedProof(format!("signature: {e}"))),
            Ok((_, s)) if low_s::is_high(&s) => {
                return Err(CommandRefusal::MalformedProof(
                    "signature in its high-S form: only the low-S form is accepted (the CLI normalises it), so one signed command has one signature".into(),
                ));
            }
            Ok(_) => {}
        }
        let message = signing_input(self.command, &self.detail, &proof.key_id, &proof.issued_at, &proof.nonce);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public_key)
            .verify(&message, &signature)
            .map_err(|_| CommandRefusal::BadSignature(key.key_id.clone()))?;
        // Only a verified command's time is believed.
        let issued = crate::signal::parse_time(&proof.issued_at).map_err(|e| CommandRefusal::MalformedProof(e.to_string()))?;
        let age = (now - issued).num_seconds();
        if age > i64::try_from(ops.max_age_seconds).unwrap_or(i64::MAX) {
            return Err(CommandRefusal::Stale {
                age_seconds: age,
                max: ops.max_age_seconds,
            });
        }
        if -age > MAX_FUTURE_SECONDS {
            return Err(CommandRefusal::Future { ahead_seconds: -age });
        }
        if proof.nonce.trim().is_empty() {
            return Err(CommandRefusal::MalformedProof("empty nonce".into()));
        }
        // An empty principal list refuses everyone: operator commands are opt-in.
        if !is_operator(&ops.principals, &self.detail.requested_by) {
            return Err(CommandRefusal::Principal(self.detail.requested_by.clone()));
        }
        Ok(())
    }

    /// When the command says it was signed (believed only after [`OperatorCommand::authorize`]).
    pub fn signed_at(&self) -> Option<DateTime<Utc>> {
        self.detail
            .proof
            .as_ref()
            .and_then(|p| crate::signal::parse_time(&p.issued_at).ok())
    }

    /// The idempotency key: a hash of the signed bytes and the signature, so every copy of one
    /// signed command is one command, and a forged variant (any byte changed) cannot take the
    /// key of the genuine one before it arrives.
    pub fn key(&self, event_id: &str) -> String {
        match &self.detail.proof {
            Some(p) => {
                let mut input = signing_input(self.command, &self.detail, &p.key_id, &p.issued_at, &p.nonce);
                input.extend_from_slice(p.signature.as_bytes());
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
                let hex: String = digest.as_ref().iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("operator:{hex}")
            }
            None => format!("operator:{event_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{example_config, operator_key};

    fn t0() -> DateTime<Utc> {
        "2026-11-24T17:20:00Z".parse().unwrap()
    }

    fn signed(kind: OperatorCommandKind, at: DateTime<Utc>) -> OperatorCommand {
        let mut detail = OperatorCommandDetail {
            requested_by: "arn:aws:iam::123456789012:role/aworld-oncall".into(),
            reason: "INC-4711".into(),
            region: Some("eu-north-1".parse().unwrap()),
            principal: None,
            proof: None,
        };
        operator_key().sign(kind, &mut detail, at);
        OperatorCommand {
            command: kind,
            source: DEFAULT_OPERATOR_SOURCE.into(),
            detail,
        }
    }

    fn check(cmd: &OperatorCommand) -> Result<(), CommandRefusal> {
        cmd.authorize(&example_config(), Channel::EventBridge, t0())
    }

    #[test]
    fn a_fresh_command_signed_by_an_operator_key_is_accepted() {
        assert_eq!(check(&signed(OperatorCommandKind::Failover, t0())), Ok(()));
    }

    #[test]
    fn an_unsigned_command_is_refused_whatever_its_fields_say() {
        let mut cmd = signed(OperatorCommandKind::Failover, t0());
        cmd.detail.proof = None;
        assert_eq!(check(&cmd), Err(CommandRefusal::Unsigned));
    }

    #[test]
    fn any_field_changed_after_signing_breaks_the_signature() {
        type Edit = fn(&mut OperatorCommand);
        let edits: [(&str, Edit); 5] = [
            ("region", |c| c.detail.region = Some("eu-south-1".parse().unwrap())),
            ("requested_by", |c| {
                c.detail.requested_by = "arn:aws:iam::123456789012:role/other".into()
            }),
            ("reason", |c| c.detail.reason.push('!')),
            ("command", |c| c.command = OperatorCommandKind::Failback),
            ("issued_at", |c| {
                c.detail.proof.as_mut().unwrap().issued_at = "2026-11-24T17:21:00Z".into()
            }),
        ];
        for (field, edit) in edits {
            let mut cmd = signed(OperatorCommandKind::Failover, t0());
            edit(&mut cmd);
            assert!(
                matches!(check(&cmd), Err(CommandRefusal::BadSignature(_))),
                "{field}: {:?}",
                check(&cmd)
            );
        }
    }

    #[test]
    fn a_key_that_is_not_configured_and_a_garbled_signature_are_refused() {
        let mut cmd = signed(OperatorCommandKind::Freeze, t0());
        cmd.detail.proof.as_mut().unwrap().key_id = "arn:aws:kms:eu-north-1:999999999999:key/mallory".into();
        assert!(matches!(check(&cmd), Err(CommandRefusal::UnknownKey(_))));
        let mut cmd = signed(OperatorCommandKind::Freeze, t0());
        cmd.detail.proof.as_mut().unwrap().signature = "not base64 !".into();
        assert!(matches!(check(&cmd), Err(CommandRefusal::MalformedProof(_))));
    }

    #[test]
    fn an_old_command_is_a_replay_and_a_future_one_is_refused() {
        let cmd = signed(OperatorCommandKind::Failover, t0() - chrono::Duration::seconds(301));
        assert_eq!(
            check(&cmd),
            Err(CommandRefusal::Stale {
                age_seconds: 301,
                max: 300
            })
        );
        let cmd = signed(OperatorCommandKind::Failover, t0() + chrono::Duration::seconds(61));
        assert_eq!(check(&cmd), Err(CommandRefusal::Future { ahead_seconds: 61 }));
        let cmd = signed(OperatorCommandKind::Failover, t0() + chrono::Duration::seconds(30));
        assert_eq!(check(&cmd), Ok(()), "clock skew is tolerated");
    }

    #[test]
    fn a_signed_command_arriving_through_a_queue_or_a_topic_is_refused() {
        let cmd = signed(OperatorCommandKind::Release, t0());
        for channel in [Channel::Sqs, Channel::Sns, Channel::AlarmAction] {
            assert!(matches!(
                cmd.authorize(&example_config(), channel, t0()),
                Err(CommandRefusal::Channel(_))
            ));
        }
    }

    #[test]
    fn copies_of_one_signed_command_share_a_key_and_an_altered_copy_does_not() {
        let cmd = signed(OperatorCommandKind::Failover, t0());
        assert_eq!(cmd.key("event-1"), cmd.key("event-2"));
        let mut forged = cmd.clone();
        forged.detail.region = Some("eu-south-1".parse().unwrap());
        assert_ne!(cmd.key("event-1"), forged.key("event-1"));
        assert_ne!(cmd.key("x"), signed(OperatorCommandKind::Failover, t0()).key("x"), "a new nonce");
    }

    #[test]
    fn a_validly_signed_command_from_a_caller_who_is_not_an_operator_is_refused() {
        let mut detail = OperatorCommandDetail {
            requested_by: "arn:aws:iam::123456789012:user/intern".into(),
            ..Default::default()
        };
        operator_key().sign(OperatorCommandKind::Unfreeze, &mut detail, t0());
        let cmd = OperatorCommand {
            command: OperatorCommandKind::Unfreeze,
            source: DEFAULT_OPERATOR_SOURCE.into(),
            detail,
        };
        assert!(matches!(check(&cmd), Err(CommandRefusal::Principal(_))));
    }

    #[test]
    fn an_assumed_role_session_of_a_configured_role_is_that_operator() {
        let roles = vec!["arn:aws:iam::123456789012:role/ops/aworld-oncall".to_string()];
        assert!(is_operator(&roles, "arn:aws:sts::123456789012:assumed-role/aworld-oncall/alice"));
        assert!(!is_operator(&roles, "arn:aws:sts::999999999999:assumed-role/aworld-oncall/alice"));
        assert!(!is_operator(&roles, "arn:aws:sts::123456789012:assumed-role/aworld-oncall-2/alice"));
        assert!(!is_operator(&roles, "arn:aws:iam::123456789012:user/aworld-oncall"));
        assert!(is_operator(&roles, "arn:aws:iam::123456789012:role/ops/aworld-oncall"));
    }

    #[test]
    fn the_signed_bytes_fit_a_kms_raw_message_for_the_longest_accepted_reason() {
        let mut cmd = signed(OperatorCommandKind::Failover, t0());
        cmd.detail.reason = "\u{1}".repeat(MAX_REASON_CHARS);
        cmd.detail.principal = Some("user#".to_string() + &"x".repeat(128));
        let p = cmd.detail.proof.clone().unwrap();
        assert!(signing_input(cmd.command, &cmd.detail, &p.key_id, &p.issued_at, &p.nonce).len() <= MAX_SIGNED_BYTES);
    }

    #[test]
    fn the_high_s_twin_of_a_signed_command_verifies_in_ecdsa_but_is_refused_so_a_command_has_one_signature() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let config = example_config();
        for _ in 0..20 {
            let cmd = signed(OperatorCommandKind::Freeze, t0());
            assert_eq!(cmd.authorize(&config, Channel::EventBridge, t0()), Ok(()));
            let proof = cmd.detail.proof.clone().unwrap();
            let low = b64.decode(&proof.signature).unwrap();
            let (_, s) = low_s::parse(&low).unwrap();
            assert!(!low_s::is_high(&s), "the signer normalises");
            assert_eq!(low_s::normalise(&low).unwrap(), low, "normalising is idempotent");
            let high = low_s::other_form(&low).unwrap();
            let message = signing_input(cmd.command, &cmd.detail, &proof.key_id, &proof.issued_at, &proof.nonce);
            let public = b64.decode(&config.operators.signing_keys[0].public_key).unwrap();
            assert!(
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public)
                    .verify(&message, &high)
                    .is_ok(),
                "the twin is a valid ECDSA signature"
            );
            let mut twin = cmd.clone();
            twin.detail.proof.as_mut().unwrap().signature = b64.encode(&high);
            assert_ne!(twin.key("e"), cmd.key("e"), "it would be a second idempotency key");
            let refused = twin.authorize(&config, Channel::EventBridge, t0()).unwrap_err();
            assert!(
                matches!(&refused, CommandRefusal::MalformedProof(w) if w.contains("high-S")),
                "{refused:?}"
            );
            assert_eq!(low_s::normalise(&high).unwrap(), low);
        }
        // Not strict DER: a padded integer.
        assert!(low_s::parse(&[0x30, 0x08, 0x02, 0x02, 0x00, 0x01, 0x02, 0x02, 0x00, 0x01]).is_err());
    }
}
