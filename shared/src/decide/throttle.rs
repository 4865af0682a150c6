//! Progressive, expiring limits on suspicious principals: the pure part. Escalation, coalescing
//! of one incident's many events, the allow-list, and what the API edge does with a record.
//! Expiry is an explicit `until` that every reader checks; the DynamoDB TTL attribute only tidies
//! (it deletes lazily, days late).

use crate::config::ThrottleConfig;
use crate::model::Principal;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One offence, as kept in the record's recent history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offence {
    pub at: DateTime<Utc>,
    pub reason: String,
    pub source: String,
    /// The idempotency key of the signal that reported it: a redelivery whose claim lapsed
    /// (its first delivery wrote, then failed before finishing) is recognised in the history.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signal: String,
}

/// What the throttle table holds for one principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThrottleRecord {
    pub principal: Principal,
    /// Index into the configured levels.
    pub level: usize,
    pub level_name: String,
    pub block: bool,
    pub limit_rps: Option<f64>,
    pub usage_plan_key: Option<String>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub offences: u32,
    pub last_offence: DateTime<Utc>,
    /// Most recent offences, newest last (at most [`HISTORY`]).
    pub history: Vec<Offence>,
    /// Optimistic-concurrency version: 0 = not stored yet.
    pub version: u64,
}

pub const HISTORY: usize = 10;

impl ThrottleRecord {
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.until > now
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ThrottleDecision {
    /// Throttle at `record.level` (new, or escalated).
    Throttle { record: ThrottleRecord, newly_throttled: bool },
    /// Part of the incident already being handled: history updated, level unchanged.
    Coalesced { record: ThrottleRecord },
    /// Never throttled.
    AllowListed,
    /// This very offence (same signal) is already in the history: nothing to write.
    AlreadyRecorded { record: ThrottleRecord },
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// The decision for one offence by `principal` (pure).
pub fn on_offence(
    cfg: &ThrottleConfig,
    existing: Option<&ThrottleRecord>,
    principal: &Principal,
    offence: Offence,
    now: DateTime<Utc>,
) -> ThrottleDecision {
    if cfg.allow_list.iter().any(|a| a == principal.as_str()) {
        return ThrottleDecision::AllowListed;
    }
    if let Some(r) = existing
        && !offence.signal.is_empty()
        && r.history.iter().any(|o| o.signal == offence.signal)
    {
        return ThrottleDecision::AlreadyRecorded { record: r.clone() };
    }
    let mut history = existing.map(|r| r.history.clone()).unwrap_or_default();
    history.push(offence.clone());
    if history.len() > HISTORY {
        history.drain(..history.len() - HISTORY);
    }
    if let Some(r) = existing
        && r.in_force(now)
        && now - r.last_offence < secs(cfg.coalesce_seconds)
    {
        let mut record = r.clone();
        record.history = history;
        record.offences += 1;
        return ThrottleDecision::Coalesced { record };
    }
    let top = cfg.levels.len().saturating_sub(1);
    let level = match existing {
        Some(r) if now - r.last_offence <= secs(cfg.escalation_window_seconds) => (r.level + 1).min(top),
        _ => 0,
    };
    let l = &cfg.levels[level.min(top)];
    let record = ThrottleRecord {
        principal: principal.clone(),
        level,
        level_name: l.name.clone(),
        block: l.block,
        limit_rps: l.limit_rps,
        usage_plan_key: l.usage_plan_key.clone(),
        until: now + secs(l.duration_seconds),
        reason: offence.reason,
        offences: existing.map_or(0, |r| r.offences) + 1,
        last_offence: now,
        history,
        version: existing.map_or(0, |r| r.version),
    };
    ThrottleDecision::Throttle {
        newly_throttled: existing.is_none_or(|r| !r.in_force(now)),
        record,
    }
}

/// What the API edge does for a principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "access", rename_all = "kebab-case")]
pub enum Access {
    Allow {
        level: Option<String>,
        usage_identifier_key: Option<String>,
    },
    Deny {
        level: String,
        until: DateTime<Utc>,
    },
}

/// The API edge's answer for a (possibly absent, possibly expired) record (pure).
pub fn access(record: Option<&ThrottleRecord>, now: DateTime<Utc>) -> Access {
    match record {
        Some(r) if r.in_force(now) => {
            if r.block || r.usage_plan_key.is_none() {
                Access::Deny {
                    level: r.level_name.clone(),
                    until: r.until,
                }
            } else {
                Access::Allow {
                    level: Some(r.level_name.clone()),
                    usage_identifier_key: r.usage_plan_key.clone(),
                }
            }
        }
        _ => Access::Allow {
            level: None,
            usage_identifier_key: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ThrottleLevelConfig;
    use proptest::prelude::*;

    fn cfg() -> ThrottleConfig {
        let level = |name: &str, secs: u64, block: bool, key: Option<&str>| ThrottleLevelConfig {
            name: name.into(),
            duration_seconds: secs,
            block,
            limit_rps: (!block).then_some(5.0),
            usage_plan_key: key.map(String::from),
        };
        ThrottleConfig {
            table: "t".into(),
            levels: vec![
                level("rate-limited", 900, false, Some("plan-key")),
                level("strict", 3600, false, None),
                level("blocked", 86400, true, None),
            ],
            escalation_window_seconds: 86400,
            coalesce_seconds: 60,
            allow_list: vec!["user#service-batch".into()],
            on_lookup_failure: Default::default(),
            max_new_per_minute: 50,
            max_per_source_per_minute: 0,
            offence_alarm_prefixes: vec![],
            detector_sources: vec![],
            principal_dimensions: Default::default(),
        }
    }

    fn t0() -> DateTime<Utc> {
        "2026-11-24T17:00:00Z".parse().unwrap()
    }

    fn offence(at: DateTime<Utc>) -> Offence {
        Offence {
            at,
            reason: "credential stuffing".into(),
            source: "detector".into(),
            signal: next_signal(),
        }
    }

    /// Every offence of these tests comes from a signal of its own.
    fn next_signal() -> String {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        format!("signal-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    #[test]
    fn a_redelivered_offence_is_recognised_and_changes_nothing() {
        let c = cfg();
        let p = Principal::parse("user#u-9").unwrap();
        let delivered = offence(t0());
        let first = match on_offence(&c, None, &p, delivered.clone(), t0()) {
            ThrottleDecision::Throttle { record, .. } => record,
            other => panic!("{other:?}"),
        };
        // Two hours later, past the coalescing window: a new offence would escalate...
        let later = t0() + Duration::hours(2);
        assert!(
            matches!(on_offence(&c, Some(&first), &p, offence(later), later), ThrottleDecision::Throttle { record, .. } if record.level == 1)
        );
        // ...but the same one delivered again does not.
        let again = on_offence(&c, Some(&first), &p, delivered, later);
        assert!(
            matches!(again, ThrottleDecision::AlreadyRecorded { ref record } if *record == first),
            "{again:?}"
        );
    }

    fn throttle(existing: Option<&ThrottleRecord>, at: DateTime<Utc>) -> ThrottleRecord {
        match on_offence(&cfg(), existing, &Principal::parse("user#42").unwrap(), offence(at), at) {
            ThrottleDecision::Throttle { record, .. } | ThrottleDecision::Coalesced { record } => record,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn principals_are_validated() {
        assert!(Principal::parse("user#42").is_ok() && Principal::parse("ip#192.0.2.1").is_ok());
        for bad in ["42", "admin#1", "user#", "user#a\nb", &format!("user#{}", "x".repeat(300))] {
            assert!(Principal::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn offences_escalate_rate_limited_then_strict_then_blocked_and_stay_at_the_top() {
        let first = throttle(None, t0());
        assert_eq!(
            (first.level_name.as_str(), first.until),
            ("rate-limited", t0() + Duration::seconds(900))
        );
        let second = throttle(Some(&first), t0() + Duration::hours(1));
        assert_eq!(second.level_name, "strict");
        let third = throttle(Some(&second), t0() + Duration::hours(2));
        assert!(third.block && third.until == t0() + Duration::hours(2) + Duration::days(1));
        let fourth = throttle(Some(&third), t0() + Duration::hours(3));
        assert_eq!(fourth.level_name, "blocked");
        assert_eq!(fourth.offences, 4);
    }

    #[test]
    fn an_offence_after_the_window_starts_again_at_the_first_level() {
        let first = throttle(None, t0());
        assert_eq!(throttle(Some(&first), t0() + Duration::hours(25)).level, 0);
    }

    #[test]
    fn events_of_one_incident_coalesce_instead_of_escalating() {
        let first = throttle(None, t0());
        let d = on_offence(&cfg(), Some(&first), &first.principal, offence(t0()), t0() + Duration::seconds(10));
        let ThrottleDecision::Coalesced { record } = d else {
            panic!("{d:?}")
        };
        assert_eq!((record.level, record.offences, record.history.len()), (0, 2, 2));
    }

    #[test]
    fn allow_listed_principals_are_never_throttled() {
        let p = Principal::parse("user#service-batch").unwrap();
        assert_eq!(on_offence(&cfg(), None, &p, offence(t0()), t0()), ThrottleDecision::AllowListed);
    }

    #[test]
    fn the_edge_denies_blocked_limits_rate_limited_and_ignores_expired_records() {
        let first = throttle(None, t0());
        assert_eq!(
            access(Some(&first), t0()),
            Access::Allow {
                level: Some("rate-limited".into()),
                usage_identifier_key: Some("plan-key".into())
            }
        );
        let strict = throttle(Some(&first), t0() + Duration::hours(1));
        assert!(
            matches!(access(Some(&strict), t0() + Duration::hours(1)), Access::Deny { .. }),
            "no usage plan: denied"
        );
        assert!(
            matches!(
                access(Some(&first), t0() + Duration::seconds(901)),
                Access::Allow { level: None, .. }
            ),
            "expired"
        );
        assert!(matches!(access(None, t0()), Access::Allow { level: None, .. }));
    }

    proptest! {
        #[test]
        fn levels_never_skip_and_until_always_matches_the_level(gaps in prop::collection::vec(0i64..200_000, 1..30)) {
            let mut now = t0();
            let mut record: Option<ThrottleRecord> = None;
            for gap in gaps {
                now += Duration::seconds(gap);
                let before = record.as_ref().map(|r| r.level);
                let next = throttle(record.as_ref(), now);
                if let Some(b) = before { prop_assert!(next.level <= b + 1, "skipped a level"); }
                prop_assert!(next.level < cfg().levels.len());
                prop_assert!(next.until > now || next.level == before.unwrap_or(0));
                record = Some(next);
            }
        }
    }
}
