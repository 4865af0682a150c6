//! The practice failover drill (`failover_drill`): a practice DNS name wired like the
//! production record (the same strategies; records, health checks and drain alarms of its own),
//! drained and restored through the production code path, guarded like zonal autoshift's
//! practice runs (blocking and outcome alarms, blocked windows and dates).

use super::{HealthMetricConfig, Problems, RegionRecord, Strategy, SuiteConfig};
use crate::model::Region;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PracticeDrillConfig {
    /// The practice DNS name, in `dns.hosted_zone_id`.
    pub record_name: String,
    /// Drill the production record itself: real traffic moves. Only when set explicitly.
    #[serde(default)]
    pub use_production_record: bool,
    /// The practice record of each region (set identifier, weight, health check).
    #[serde(default)]
    pub records: BTreeMap<Region, RegionRecord>,
    /// The practice drain metric and alarms the practice health checks follow (a namespace of
    /// their own, never the production one).
    #[serde(default)]
    pub health_metric: Option<HealthMetricConfig>,
    /// The region drained in practice.
    pub region: Region,
    /// Practice health alarms of that region, at least `policy.quorum` of them: they stand for
    /// its health alarms and live there as they do. They watch `trigger_metric`, which the drill
    /// publishes there (1, then 0): CloudWatch evaluates them
    /// as it evaluates a real health alarm. (`SetAlarmState` would not do: "Metric alarms return
    /// to their actual state quickly, often within seconds", `SetAlarmState`.)
    pub trigger_alarms: Vec<String>,
    /// The metric the trigger alarms watch, with the drilled region as its `Region` dimension.
    pub trigger_metric: TriggerMetric,
    /// In ALARM in any region: the drill does not start, or stops and restores.
    #[serde(default)]
    pub blocking_alarms: Vec<String>,
    /// The drill's effect on the platform (errors, latency): in ALARM, it stops and restores.
    #[serde(default)]
    pub outcome_alarms: Vec<String>,
    /// UTC windows with no drill, as zonal autoshift writes them: `Sat:00:00-Sun:06:00`.
    #[serde(default)]
    pub blocked_windows: Vec<String>,
    /// UTC dates with no drill: `2026-12-24`.
    #[serde(default)]
    pub blocked_dates: Vec<String>,
    /// Trigger to DNS answer changed: above this the drill FAILs (the RTO it measures).
    #[serde(default = "default_rto")]
    pub rto_target_seconds: u64,
    /// Longest wait for the DNS answer to change (TestDNSAnswer), each way.
    #[serde(default = "default_answer_wait")]
    pub answer_wait_seconds: u64,
    /// How long the region stays drained before the failback starts.
    #[serde(default)]
    pub hold_seconds: u64,
    /// Schedules that start a drill (empty: names containing "failover-drill").
    #[serde(default)]
    pub schedules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerMetric {
    pub namespace: String,
    pub metric_name: String,
}

fn default_rto() -> u64 {
    900
}

fn default_answer_wait() -> u64 {
    45
}

/// One blocked window: from (weekday, minute of day) to (weekday, minute of day), UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    from: u32,
    to: u32,
}

const WEEK: u32 = 7 * 24 * 60;

impl Window {
    /// `Mon:00:00-Mon:08:00` (zonal autoshift's `BlockedWindows` format).
    pub fn parse(text: &str) -> Option<Window> {
        let (a, b) = text.split_once('-')?;
        let at = |s: &str| -> Option<u32> {
            let mut p = s.trim().splitn(3, ':');
            let day: Weekday = p.next()?.parse().ok()?;
            let h: u32 = p.next()?.parse().ok()?;
            let m: u32 = p.next()?.parse().ok()?;
            (h < 24 && m < 60).then_some(day.num_days_from_monday() * 24 * 60 + h * 60 + m)
        };
        Some(Window { from: at(a)?, to: at(b)? })
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let now = t.weekday().num_days_from_monday() * 24 * 60 + t.hour() * 60 + t.minute();
        if self.from <= self.to {
            (self.from..self.to).contains(&now)
        } else {
            // Wraps over the end of the week (Sun -> Mon).
            now >= self.from || now < self.to % WEEK
        }
    }
}

impl PracticeDrillConfig {
    /// The trigger as a data-plane switch: publishing 1 for the drilled region (in that region,
    /// where the trigger alarms live) pulls it, 0 releases it. The same code as the production drain metric, one datapoint per change.
    pub fn trigger_switch_metric(&self) -> super::HealthMetricConfig {
        super::HealthMetricConfig {
            namespace: self.trigger_metric.namespace.clone(),
            metric_name: self.trigger_metric.metric_name.clone(),
            region_dimension: "Region".into(),
            alarm_name: self.trigger_alarms.first().cloned().unwrap_or_default(),
            // No wait: the trigger alarms' own state change, delivered, is what the drill waits
            // for (a pull or release is "unconfirmed" until then).
            confirm_seconds: 0,
        }
    }

    /// The blocked window or date `t` falls in, named.
    pub fn blocked_at(&self, t: DateTime<Utc>) -> Option<String> {
        let day = t.date_naive();
        if let Some(d) = self
            .blocked_dates
            .iter()
            .find(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok() == Some(day))
        {
            return Some(format!("blocked date {d}"));
        }
        self.blocked_windows
            .iter()
            .find(|w| Window::parse(w).is_some_and(|w| w.contains(t)))
            .map(|w| format!("blocked window {w} (UTC)"))
    }
}

impl SuiteConfig {
    /// The configuration the practice run reacts with: the practice name, records and drain
    /// metric in place of production's, the practice trigger alarms as the drilled region's
    /// health alarms (the other regions keep theirs: the drill never drains into an unhealthy
    /// region), no capacity actions (a practice moves no real load), and a failback as soon as
    /// the trigger alarms are OK again. None without `failover_drill`.
    pub fn practice(&self) -> Option<SuiteConfig> {
        let d = self.practice_drill.as_ref()?;
        let mut c = self.clone();
        c.practice_drill = None;
        if !d.use_production_record {
            c.dns.record_name = d.record_name.clone();
            c.dns.records = d.records.clone();
            c.dns.health_metric = d.health_metric.clone();
            // The practice name has no routing controls of its own.
            c.dns.strategies.retain(|s| *s != Strategy::RoutingControl);
            c.dns.routing_control = None;
        }
        if let Some(r) = c.regions.get_mut(&d.region) {
            r.health_alarms = d.trigger_alarms.clone();
            r.composite_alarm = None;
        }
        // The practice name carries no traffic; the production record does, so its drill raises
        // capacity before the shift like any production failover.
        if !d.use_production_record {
            c.capacity.resources.clear();
        }
        c.policy.auto_failback = true;
        c.policy.hold_down_seconds = 0;
        c.policy.failback_healthy_seconds = 0;
        c.policy.cooldown_seconds = 0;
        Some(c)
    }

    pub(super) fn check_practice_drill(&self, out: &mut Problems) {
        let Some(d) = &self.practice_drill else { return };
        let f = |s: &str| format!("failover_drill.{s}");
        if !self.regions.contains_key(&d.region) {
            out.bad(
                f("region"),
                &format!("{} is not a configured region", d.region),
                "use one of regions",
            );
        }
        if self.regions.len() != 2 {
            // One conducting region: with more, two could start a run at once (the run's
            // document is replicated asynchronously).
            out.bad(f("region"), "a drill needs exactly two configured regions", "configure two regions");
        }
        if self.practice().is_some_and(|p| p.dns.strategies.is_empty()) {
            out.bad(
                f("record_name"),
                "the practice name has no strategy: it has no routing controls of its own",
                "add health-metric or control-plane to dns.strategies",
            );
        }
        if d.trigger_alarms.len() < self.policy.quorum.max(1) {
            out.bad(
                f("trigger_alarms"),
                &format!("{} alarms cannot meet policy.quorum {}", d.trigger_alarms.len(), self.policy.quorum),
                "name at least quorum practice alarms",
            );
        }
        if d.use_production_record {
            if d.record_name != self.dns.record_name {
                out.bad(
                    f("record_name"),
                    "differs from dns.record_name while use_production_record is set",
                    "name the production record, or unset use_production_record",
                );
            }
        } else {
            if d.record_name == self.dns.record_name {
                out.bad(
                    f("record_name"),
                    "is the production record",
                    "a practice name of its own, or set use_production_record to drill production",
                );
            }
            if d.records.keys().collect::<Vec<_>>() != self.regions.keys().collect::<Vec<_>>() {
                out.bad(
                    f("records"),
                    "must name a practice record for every configured region",
                    "one per region",
                );
            }
            if self.dns.strategies.contains(&Strategy::HealthMetric) {
                match &d.health_metric {
                    None => out.bad(
                        f("health_metric"),
                        "missing while dns.strategies has health-metric",
                        "a practice drain metric and alarm",
                    ),
                    Some(h) if self.dns.health_metric.as_ref().is_some_and(|p| p.namespace == h.namespace) => out.bad(
                        f("health_metric.namespace"),
                        "is the production drain namespace",
                        "a namespace of its own, e.g. <platform>/FailoverDrill",
                    ),
                    Some(_) => {}
                }
            }
        }
        for w in &d.blocked_windows {
            if Window::parse(w).is_none() {
                out.bad(
                    f("blocked_windows"),
                    &format!("{w:?} is not Day:HH:MM-Day:HH:MM"),
                    "e.g. Sat:00:00-Sun:06:00",
                );
            }
        }
        for day in &d.blocked_dates {
            if NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err() {
                out.bad(f("blocked_dates"), &format!("{day:?} is not YYYY-MM-DD"), "e.g. 2026-12-24");
            }
        }
        if self
            .dns
            .health_metric
            .as_ref()
            .is_some_and(|p| p.namespace == d.trigger_metric.namespace)
        {
            out.bad(
                f("trigger_metric.namespace"),
                "is the production drain namespace",
                "the practice namespace, e.g. <platform>/FailoverDrill",
            );
        }
        // The drain's worst case, the wait for the answer and the hold all happen in the one
        // invocation that reacts to the trigger's ALARM.
        let drain = self.practice().map_or(0, |p| p.dns.worst_case_seconds());
        // Plus the guard reads, the lease wait and the release around them.
        let needed = drain
            .saturating_add(d.answer_wait_seconds)
            .saturating_add(d.hold_seconds)
            .saturating_add(self.policy.lease_wait_seconds)
            .saturating_add(15);
        if needed > self.dns.function_timeout_seconds {
            out.bad(
                f("answer_wait_seconds"),
                &format!(
                    "the practice drain's worst case ({drain} s) with answer_wait_seconds and hold_seconds is {needed} s, beyond the dns-failover function's timeout ({} s)",
                    self.dns.function_timeout_seconds
                ),
                "shorter waits",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn problems(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<String> {
        let mut v: serde_json::Value = serde_json::from_str(crate::config::EXAMPLE).unwrap();
        edit(&mut v);
        match SuiteConfig::from_json(&v.to_string()) {
            Ok(_) => vec![],
            Err(crate::config::ConfigError::Invalid(p)) => p.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn the_example_drill_is_valid_and_each_bad_setting_is_named() {
        assert_eq!(problems(|_| {}), Vec::<String>::new());
        let named = |edit: fn(&mut serde_json::Value), field: &str| {
            let p = problems(edit);
            assert!(p.iter().any(|x| x.starts_with(field)), "{field}: {p:?}");
        };
        named(
            |v| v["failover_drill"]["record_name"] = v["dns"]["record_name"].clone(),
            "failover_drill.record_name",
        );
        named(
            |v| v["failover_drill"]["trigger_alarms"] = serde_json::json!(["one"]),
            "failover_drill.trigger_alarms",
        );
        named(
            |v| v["failover_drill"]["region"] = serde_json::json!("us-east-1"),
            "failover_drill.region",
        );
        named(
            |v| v["failover_drill"]["blocked_windows"] = serde_json::json!(["weekends"]),
            "failover_drill.blocked_windows",
        );
        named(
            |v| v["failover_drill"]["blocked_dates"] = serde_json::json!(["24/12/2026"]),
            "failover_drill.blocked_dates",
        );
        named(
            |v| v["failover_drill"]["answer_wait_seconds"] = serde_json::json!(600),
            "failover_drill.answer_wait_seconds",
        );
        named(
            |v| v["failover_drill"]["health_metric"]["namespace"] = v["dns"]["health_metric"]["namespace"].clone(),
            "failover_drill.health_metric.namespace",
        );
        named(|v| v["failover_drill"]["records"] = serde_json::json!({}), "failover_drill.records");
    }

    #[test]
    fn the_practice_configuration_changes_only_the_practice_names_and_never_raises_capacity() {
        let c = SuiteConfig::from_json(crate::config::EXAMPLE).unwrap();
        let d = c.practice_drill.clone().unwrap();
        let p = c.practice().unwrap();
        assert_eq!(p.dns.record_name, d.record_name);
        assert_eq!(p.dns.health_metric, d.health_metric);
        assert_eq!(p.dns.hosted_zone_id, c.dns.hosted_zone_id);
        assert_eq!(p.regions[&d.region].health_alarms, d.trigger_alarms);
        let other: Region = "eu-north-1".parse().unwrap();
        assert_eq!(
            p.regions[&other].health_alarms, c.regions[&other].health_alarms,
            "the target keeps its real alarms"
        );
        assert!(p.capacity.resources.is_empty());
        assert!(p.policy.auto_failback && p.practice_drill.is_none());
        assert_eq!(p.region_of_alarm(&d.trigger_alarms[0]), Some(&d.region));
        assert_eq!(
            c.region_of_alarm(&d.trigger_alarms[0]),
            Some(&d.region),
            "production resolves the trigger's region too"
        );
    }

    #[test]
    fn windows_are_weekly_utc_and_may_wrap_over_the_week_end() {
        let w = Window::parse("Sat:00:00-Sun:06:00").unwrap();
        assert!(w.contains(at("2026-11-28T12:00:00Z")), "a Saturday");
        assert!(w.contains(at("2026-11-29T05:59:00Z")), "Sunday morning");
        assert!(!w.contains(at("2026-11-29T06:00:00Z")), "the end is excluded");
        assert!(!w.contains(at("2026-11-26T12:00:00Z")), "a Thursday");
        let wrap = Window::parse("Sun:22:00-Mon:02:00").unwrap();
        assert!(wrap.contains(at("2026-11-30T01:00:00Z")), "Monday 01:00");
        assert!(wrap.contains(at("2026-11-29T23:00:00Z")), "Sunday 23:00");
        assert!(!wrap.contains(at("2026-11-30T03:00:00Z")));
        assert_eq!(Window::parse("Sat 00:00-Sun 06:00"), None);
        assert_eq!(Window::parse("Sat:25:00-Sun:06:00"), None);
    }
}
