//! Regions, their health alarms, and the SNS topic of each region.

use super::{Problems, SuiteConfig};
use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionRole {
    Primary,
    Backup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    pub role: RegionRole,
    /// Names of the CloudWatch alarms (in this region) whose ALARM state says it is failing.
    #[serde(default)]
    pub health_alarms: Vec<String>,
    /// A composite "region unhealthy" alarm: in ALARM it fails the region on its own.
    #[serde(default)]
    pub composite_alarm: Option<String>,
    /// Order of preference, lowest first: where a drained region's traffic goes, and which
    /// region's dns-failover acts on another's failure. Default: the primary 0, backups 100;
    /// ties go by region code.
    #[serde(default)]
    pub priority: Option<u32>,
}

impl RegionConfig {
    pub fn effective_priority(&self) -> u32 {
        self.priority.unwrap_or(match self.role {
            RegionRole::Primary => 0,
            RegionRole::Backup => 100,
        })
    }
}

impl SuiteConfig {
    /// The configured regions in order of preference.
    pub fn regions_by_priority(&self) -> Vec<&Region> {
        let mut regions: Vec<(&Region, u32)> = self.regions.iter().map(|(r, rc)| (r, rc.effective_priority())).collect();
        regions.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
        regions.into_iter().map(|(r, _)| r).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// SNS topic of each region; a function publishes to the topic of the region it runs in.
    pub topics: BTreeMap<Region, String>,
}

impl SuiteConfig {
    pub(super) fn check_regions(&self, out: &mut Problems) {
        if self.platform.trim().is_empty() {
            out.bad("platform".into(), "is empty", "name the platform, e.g. \"aworld\"");
        }
        if self.regions.len() < 2 {
            out.bad(
                "regions".into(),
                "fewer than two regions",
                "list every serving region; failover needs somewhere to go",
            );
        }
        if !self.regions.values().any(|r| r.role == RegionRole::Primary) {
            out.bad(
                "regions".into(),
                "no region has role \"primary\"",
                "give one region the role \"primary\"",
            );
        }
        let mut seen_alarms = BTreeSet::new();
        for (region, rc) in &self.regions {
            if rc.health_alarms.is_empty() && rc.composite_alarm.is_none() {
                out.bad(
                    format!("regions.{region}.health_alarms"),
                    "the region has no health alarms and no composite alarm, so its failure can never be seen",
                    "list the alarms that speak for its health",
                );
            }
            for name in rc.health_alarms.iter().chain(rc.composite_alarm.iter()) {
                if name.trim().is_empty() {
                    out.bad(
                        format!("regions.{region}.health_alarms"),
                        "contains an empty alarm name",
                        "remove it",
                    );
                } else if !seen_alarms.insert(name.as_str()) {
                    out.bad(
                        format!("regions.{region}.health_alarms"),
                        &format!("alarm {name:?} is listed for more than one region"),
                        "an alarm speaks for one region only",
                    );
                }
            }
            let effective = rc.health_alarms.len();
            if effective > 0 && self.policy.quorum > effective && !(effective == 1 && self.policy.single_alarm_fails_region) {
                out.bad(
                    format!("regions.{region}.health_alarms"),
                    &format!("{effective} alarm(s) can never reach policy.quorum = {}", self.policy.quorum),
                    "add alarms, lower the quorum, or set policy.single_alarm_fails_region",
                );
            }
            if !self.dns.records.contains_key(region) {
                out.bad(format!("dns.records.{region}"), "missing", "give every region its DNS record");
            }
            if !self.notifications.topics.contains_key(region) {
                out.bad(
                    format!("notifications.topics.{region}"),
                    "missing",
                    "give every region the ARN of its SNS topic",
                );
            }
        }
        for region in self.dns.records.keys() {
            if !self.regions.contains_key(region) {
                out.bad(
                    format!("dns.records.{region}"),
                    "names a region that is not in regions",
                    "add the region or remove the record",
                );
            }
        }
        for (region, arn) in &self.notifications.topics {
            if !arn.starts_with("arn:") || !arn.contains(":sns:") {
                out.bad(
                    format!("notifications.topics.{region}"),
                    "is not an SNS topic ARN",
                    "use arn:aws:sns:<region>:<account>:<topic>",
                );
            }
        }
        if self.state_table.trim().is_empty() {
            out.bad("state_table".into(), "is empty", "name the DynamoDB state table");
        }
    }
}
