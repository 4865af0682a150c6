//! user-throttle: levels, detectors, the allow-list and the ceiling on new throttles.

use super::{Problems, SuiteConfig, defaults};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// access-authorizer's answer to an unseen caller when the throttle table cannot be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LookupFailure {
    #[default]
    Deny,
    Allow,
}

/// Progressive, expiring limits on suspicious principals.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// The throttle table (a global table; each region reads its local replica).
    pub table: String,
    /// Escalating levels, mildest first; a repeat offence within the window moves one up.
    pub levels: Vec<ThrottleLevelConfig>,
    #[serde(default = "defaults::escalation_window_seconds")]
    pub escalation_window_seconds: u64,
    /// Offences this close to the last one are one incident: recorded, not escalated again.
    #[serde(default = "defaults::coalesce_seconds")]
    pub coalesce_seconds: u64,
    /// Principals never throttled (internal and service principals), as `user#id`, `key#id`, `ip#addr`.
    #[serde(default)]
    pub allow_list: Vec<String>,
    /// What access-authorizer answers a caller it has never seen when neither replica of the
    /// throttle table answers in time: `deny` (default: a principal that could not be cleared
    /// is never let in, blocked ones included; new callers get 401 while both replicas fail)
    /// or `allow` (availability first: a blocked caller the instance has not seen gets in).
    #[serde(default)]
    pub on_lookup_failure: LookupFailure,
    /// Most limit changes per minute, new throttles and escalations alike, over all sources:
    /// above it the function stops, alerts, and hands the offences back to be retried later.
    #[serde(default = "defaults::max_new_per_minute")]
    pub max_new_per_minute: u64,
    /// Most limit changes per minute from one source (a detector, an alarm): one source gone
    /// wrong, or forged, cannot spend the whole budget. 0: `max_new_per_minute`.
    #[serde(default)]
    pub max_per_source_per_minute: u64,
    /// Name prefixes of the alarms whose ALARM is an offence (empty: `<platform>-anomaly-`).
    /// Each is confirmed with DescribeAlarms before it counts.
    #[serde(default)]
    pub offence_alarm_prefixes: Vec<String>,
    /// EventBridge sources whose "Suspicious Activity" events are accepted.
    #[serde(default)]
    pub detector_sources: Vec<String>,
    /// Alarm metric dimensions naming a principal, and its kind (`user`, `key`, `ip`).
    #[serde(default)]
    pub principal_dimensions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleLevelConfig {
    pub name: String,
    pub duration_seconds: u64,
    /// Denied outright (otherwise rate-limited).
    #[serde(default)]
    pub block: bool,
    /// Requests per second allowed while rate-limited (documentation and the context).
    #[serde(default)]
    pub limit_rps: Option<f64>,
    /// API key of the usage plan with the lower limit; without one a rate-limited principal is denied.
    #[serde(default)]
    pub usage_plan_key: Option<String>,
}

impl SuiteConfig {
    pub(super) fn check_throttle(&self, out: &mut Problems) {
        if let Some(t) = &self.throttle {
            if t.table.trim().is_empty() {
                out.bad("throttle.table".into(), "is empty", "name the throttle table");
            }
            if t.levels.is_empty() {
                out.bad(
                    "throttle.levels".into(),
                    "is empty",
                    "list at least one level, e.g. rate-limited for 900 s",
                );
            }
            for (i, l) in t.levels.iter().enumerate() {
                if l.duration_seconds == 0 {
                    out.bad(
                        format!("throttle.levels[{i}].duration_seconds"),
                        "is 0",
                        "how long the level lasts, e.g. 900",
                    );
                }
            }
            for p in &t.allow_list {
                if crate::model::Principal::parse(p).is_err() {
                    out.bad(
                        "throttle.allow_list".into(),
                        &format!("{p:?} is not a principal"),
                        "use user#<id>, key#<id> or ip#<address>",
                    );
                }
            }
            for (dim, kind) in &t.principal_dimensions {
                if !["user", "key", "ip"].contains(&kind.as_str()) {
                    out.bad(
                        format!("throttle.principal_dimensions.{dim}"),
                        &format!("{kind:?} is not a principal kind"),
                        "use user, key or ip",
                    );
                }
            }
        }
    }
}
