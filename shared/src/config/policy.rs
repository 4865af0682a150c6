//! The safety policy (quorum, hold-down, leases, retention), operators and AWS Health events.

use super::{Problems, SuiteConfig};
use serde::{Deserialize, Serialize};

/// The limits automation must respect whatever arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// How many of a region's health alarms must be in ALARM for it to count as failed.
    pub quorum: usize,
    /// Let one alarm fail a region when it has only one (otherwise a lone alarm never does).
    pub single_alarm_fails_region: bool,
    /// After a failover, no automatic failback for this long.
    pub hold_down_seconds: u64,
    /// Fail back automatically (after the hold-down and a healthy period); manual by default.
    pub auto_failback: bool,
    /// How long a drained region must stay healthy without interruption before auto failback.
    pub failback_healthy_seconds: u64,
    /// Minimum time between two actions on one resource.
    pub cooldown_seconds: u64,
    /// How long a lease is held before another invocation may take it over.
    pub lease_seconds: u64,
    /// How long a lease holder waits for a busy lease before giving up (and being retried).
    pub lease_wait_seconds: u64,
    /// How long a handled signal is remembered, so a late duplicate is still recognised.
    pub idempotency_ttl_seconds: u64,
    /// How long audit records are kept before DynamoDB TTL removes them.
    pub audit_retention_days: u64,
}

impl Policy {
    /// Until when an audit record written at `now` is kept (its TTL).
    pub fn audit_kept_until(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::days(i64::try_from(self.audit_retention_days).unwrap_or(400))
    }

    /// Until when a handled signal is remembered, so a late duplicate is still recognised.
    pub fn key_kept_until(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::seconds(i64::try_from(self.idempotency_ttl_seconds).unwrap_or(86_400))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            quorum: 2,
            single_alarm_fails_region: false,
            hold_down_seconds: 1800,
            auto_failback: false,
            failback_healthy_seconds: 900,
            cooldown_seconds: 300,
            lease_seconds: 60,
            lease_wait_seconds: 10,
            idempotency_ttl_seconds: 7 * 24 * 3600,
            audit_retention_days: 400,
        }
    }
}

/// Who may send operator commands. A command from anyone else is refused and audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// EventBridge `source` values accepted for operator commands.
    pub sources: Vec<String>,
    /// IAM principals (ARNs) accepted as the command's `requested_by` (a role also accepts its
    /// assumed-role sessions).
    pub principals: Vec<String>,
    /// The operator keys (one per region, created by the template): a command must be signed
    /// by one of them. Rendered at deploy time from KMS `GetPublicKey`; empty refuses every
    /// command.
    pub signing_keys: Vec<SigningKey>,
    /// How old a signed command may be when it arrives; older ones are refused as replays.
    pub max_age_seconds: u64,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            sources: vec![],
            principals: vec![],
            signing_keys: vec![],
            max_age_seconds: 300,
        }
    }
}

/// One operator key: an asymmetric KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    /// The key's ARN, as the command's proof names it.
    pub key_id: String,
    /// base64 of the DER X.509 SubjectPublicKeyInfo that KMS `GetPublicKey` returns.
    pub public_key: String,
}

impl SigningKey {
    /// The public key's DER bytes, checked to be a P-256 key.
    pub fn public_key_der(&self) -> Result<Vec<u8>, String> {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(self.public_key.trim().as_bytes())
            .map_err(|e| format!("public_key is not base64 ({e})"))?;
        aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1, &der)
            .map_err(|e| format!("public_key is not a P-256 SubjectPublicKeyInfo ({e})"))?;
        Ok(der)
    }
}

/// Which AWS Health events speak for a region's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthEventConfig {
    /// Services (as AWS Health names them: `LAMBDA`, `APIGATEWAY`, `DYNAMODB`, ...).
    pub services: Vec<String>,
    /// An open issue for one of them fails the region on its own (otherwise it counts as one
    /// vote towards the quorum).
    pub decisive: bool,
    /// An open issue is forgotten after this long without its closing event: AWS Health
    /// delivery is best effort, and an event that never closes must not block failover to, or
    /// failback from, its region for ever.
    pub expire_hours: u64,
    /// An event counts only when the Health API confirms it (same ARN, service, category,
    /// region and status). Off: an event the API cannot answer for (no Business or Enterprise
    /// support plan) is taken as it came, and never stops a signed manual command.
    pub confirm: bool,
}

impl Default for HealthEventConfig {
    fn default() -> Self {
        HealthEventConfig {
            services: ["LAMBDA", "APIGATEWAY", "DYNAMODB", "ROUTE53"].map(String::from).to_vec(),
            decisive: false,
            expire_hours: 24,
            confirm: true,
        }
    }
}

impl SuiteConfig {
    pub(super) fn check_policy(&self, out: &mut Problems) {
        if self.policy.quorum == 0 {
            out.bad(
                "policy.quorum".into(),
                "is 0, which would fail a region with no alarm at all",
                "use 1 or more",
            );
        }
        if self.policy.lease_seconds == 0 || self.policy.lease_seconds > 900 {
            out.bad(
                "policy.lease_seconds".into(),
                "must be between 1 and 900 (the longest a Lambda runs)",
                "use e.g. 60",
            );
        }
        if self.policy.idempotency_ttl_seconds < 3600 {
            out.bad(
                "policy.idempotency_ttl_seconds".into(),
                "is under an hour; EventBridge and SNS retry for up to 24 h, so late duplicates would act again",
                "use 86400 or more",
            );
        }
        let ops = &self.operators;
        if ops.max_age_seconds < 30 || ops.max_age_seconds > self.policy.idempotency_ttl_seconds.min(3600) {
            out.bad(
                "operators.max_age_seconds".into(),
                "must be between 30 and 3600 and within policy.idempotency_ttl_seconds (a replay inside the age limit must still find the first delivery's idempotency record)",
                "use 300",
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, k) in ops.signing_keys.iter().enumerate() {
            if !k.key_id.starts_with("arn:") || !k.key_id.contains(":key/") {
                out.bad(
                    format!("operators.signing_keys[{i}].key_id"),
                    "is not a KMS key ARN",
                    "use arn:aws:kms:REGION:ACCOUNT:key/ID",
                );
            }
            if !seen.insert(&k.key_id) {
                out.bad(format!("operators.signing_keys[{i}].key_id"), "is repeated", "list each key once");
            }
            if let Err(e) = k.public_key_der() {
                out.bad(
                    format!("operators.signing_keys[{i}].public_key"),
                    &e,
                    "use the PublicKey KMS GetPublicKey returns for the key (base64)",
                );
            }
        }
        for (i, p) in self.operators.principals.iter().enumerate() {
            if !p.starts_with("arn:") {
                out.bad(
                    format!("operators.principals[{i}]"),
                    "is not an ARN",
                    "use the IAM role or user ARN",
                );
            }
        }
    }
}
