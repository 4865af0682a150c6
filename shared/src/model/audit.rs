//! Audit records: the evidence of every decision, including "decided to do nothing, because …".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a function decided about one signal, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unique per record.
    pub id: String,
    pub at: DateTime<Utc>,
    /// The function that decided (`dns-failover`, ...).
    pub function: String,
    /// The region the function ran in.
    pub region: String,
    /// The signal's idempotency key (empty for records not caused by a signal).
    pub signal_key: String,
    /// The normalised signal, or what arrived when it could not be normalised.
    pub signal: Value,
    /// What was decided, by name (`failover`, `no-action`, `refused`, ...).
    pub decision: DecisionName,
    /// Why, in the operator's language.
    pub reason: String,
    /// Every action attempted, in order, with its result.
    pub actions: Vec<ActionRecord>,
    pub outcome: Outcome,
    pub dry_run: bool,
}

/// The name of every decision any function records, one enum so the audit, the decision log
/// line and the CLI agree (stored as the kebab-case string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionName {
    Failover,
    Failback,
    Freeze,
    Unfreeze,
    /// An operator cleared a region's open AWS Health issues.
    ClearHealthIssues,
    /// A command or input that was deliberately not obeyed.
    Refused,
    NoAction,
    /// The decision rests on health that could not be read: retried.
    Inconclusive,
    /// The input is not a signal.
    Rejected,
    Scale,
    Verified,
    Throttle,
    Release,
    /// user-throttle's ceiling of new throttles per minute was reached.
    Ceiling,
    /// A practice failover drill started, or its report.
    Drill,
}

impl DecisionName {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionName::Failover => "failover",
            DecisionName::Failback => "failback",
            DecisionName::Freeze => "freeze",
            DecisionName::Unfreeze => "unfreeze",
            DecisionName::ClearHealthIssues => "clear-health-issues",
            DecisionName::Refused => "refused",
            DecisionName::NoAction => "no-action",
            DecisionName::Inconclusive => "inconclusive",
            DecisionName::Rejected => "rejected",
            DecisionName::Scale => "scale",
            DecisionName::Verified => "verified",
            DecisionName::Throttle => "throttle",
            DecisionName::Release => "release",
            DecisionName::Ceiling => "ceiling",
            DecisionName::Drill => "drill",
        }
    }
}

impl std::fmt::Display for DecisionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// What was done, e.g. `cloudwatch:PutMetricData eu-north-1 aworld/Failover RegionDrained=1`.
    pub action: String,
    pub outcome: Outcome,
    /// Detail: an error message, a change id, the state found already in place.
    pub detail: String,
    pub millis: u64,
    /// Of `millis`, the time spent waiting to see the change take effect (a traffic switch's
    /// confirmation: the drain alarm the health check follows, INSYNC, the routing control read
    /// back), so the change was applied `millis - confirm_ms` in. None where nothing was awaited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done, or nothing needed doing.
    Succeeded,
    /// Already in place: nothing changed.
    AlreadyInPlace,
    /// Planned only (dry run).
    Planned,
    /// Deliberately not done (refused, frozen, no action).
    Skipped,
    /// Tried and failed; safe to re-drive.
    Failed,
    /// Applied, but its effect was not seen within the bounded wait (a drain alarm still not in
    /// ALARM, a change still PENDING): it may yet take effect, so it is undone on failback.
    Unconfirmed,
}

impl AuditRecord {
    /// A record for `function`'s decision about one signal, without actions yet.
    pub fn new(
        function: &str,
        region: &str,
        at: DateTime<Utc>,
        signal_key: &str,
        signal: Value,
        decision: DecisionName,
        reason: impl Into<String>,
    ) -> Self {
        AuditRecord {
            id: uuid::Uuid::new_v4().to_string(),
            at,
            function: function.to_owned(),
            region: region.to_owned(),
            signal_key: signal_key.to_owned(),
            signal: bounded(without_signatures(signal)),
            decision,
            reason: reason.into().chars().take(MAX_REASON_CHARS).collect(),
            actions: Vec::new(),
            outcome: Outcome::Skipped,
            dry_run: false,
        }
    }
}

/// An audit record must fit a DynamoDB item (400 KB) whatever arrived: a signal carrying a
/// multi-megabyte alarm reason would otherwise make every audit write (and so every retry)
/// fail. Above this size the signal is kept as an excerpt with its original size.
pub const MAX_SIGNAL_BYTES: usize = 16 * 1024;
const MAX_REASON_CHARS: usize = 4_000;

/// The signal with every operator command signature (`proof.signature`) replaced by its
/// SHA-256: whoever can read audit records must not harvest signatures to replay within the
/// age window, and the hash still tells two signatures apart.
fn without_signatures(mut signal: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Object(proof)) = map.get_mut("proof")
                    && let Some(Value::String(sig)) = proof.get_mut("signature")
                    && !sig.starts_with("sha256:")
                {
                    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, sig.as_bytes());
                    *sig = format!("sha256:{}", d.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>());
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut signal);
    signal
}

fn bounded(signal: Value) -> Value {
    let text = signal.to_string();
    if text.len() <= MAX_SIGNAL_BYTES {
        return signal;
    }
    let excerpt: String = text.chars().take(MAX_SIGNAL_BYTES / 4).collect();
    serde_json::json!({ "truncated": excerpt, "original_bytes": text.len() })
}

#[cfg(test)]
mod bounded_tests {
    use super::*;

    #[test]
    fn an_audit_record_keeps_a_hash_of_a_command_signature_never_the_signature() {
        let signal = serde_json::json!({ "kind": { "operator": { "detail": { "requested_by": "me",
            "proof": { "key_id": "k", "nonce": "n", "issued_at": "t", "signature": "MEUCIQDsecret" } } } } });
        let record = AuditRecord::new(
            "dns-failover",
            "eu-north-1",
            Utc::now(),
            "operator:1",
            signal,
            DecisionName::Freeze,
            "x",
        );
        let text = record.signal.to_string();
        assert!(!text.contains("MEUCIQDsecret"), "{text}");
        let kept = record.signal["kind"]["operator"]["detail"]["proof"]["signature"].as_str().unwrap();
        assert!(kept.starts_with("sha256:") && kept.len() == 7 + 64, "{kept}");
        assert_eq!(record.signal["kind"]["operator"]["detail"]["proof"]["nonce"], "n");
    }

    #[test]
    fn an_oversized_signal_is_kept_as_an_excerpt_that_fits_an_item() {
        let huge = serde_json::json!({ "reason": "x".repeat(5 << 20) });
        let r = AuditRecord::new(
            "f",
            "eu-north-1",
            Utc::now(),
            "k",
            huge,
            DecisionName::NoAction,
            "y".repeat(1 << 20),
        );
        assert!(r.signal.to_string().len() <= MAX_SIGNAL_BYTES);
        assert_eq!(r.signal["original_bytes"], (5 << 20) + r#"{"reason":""}"#.len());
        assert_eq!(r.reason.chars().count(), MAX_REASON_CHARS);
        let small = serde_json::json!({ "reason": "ok" });
        assert_eq!(
            AuditRecord::new("f", "r", Utc::now(), "k", small.clone(), DecisionName::NoAction, "w").signal,
            small
        );
    }

    #[test]
    fn decision_names_are_stored_as_the_strings_the_cli_and_queries_read() {
        for d in [DecisionName::NoAction, DecisionName::Failover, DecisionName::Ceiling] {
            assert_eq!(serde_json::to_value(d).unwrap(), serde_json::Value::String(d.as_str().to_owned()));
        }
    }
}
