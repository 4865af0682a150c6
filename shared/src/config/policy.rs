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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// EventBridge `source` values accepted for operator commands.
    pub sources: Vec<String>,
    /// IAM principals (ARNs) accepted as the command's `requestedBy`.
    pub principals: Vec<String>,
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
}

impl Default for HealthEventConfig {
    fn default() -> Self {
        HealthEventConfig {
            services: ["LAMBDA", "APIGATEWAY", "DYNAMODB", "ROUTE53"].map(String::from).to_vec(),
            decisive: false,
            expire_hours: 24,
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
