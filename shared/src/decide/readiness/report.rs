//! The report every area grades into, kept apart from the areas so that none of them owns it:
//! an item and its grade, why a read did not answer (a failed read is graded as such, never as
//! a pass), one check's report, and what changed since the last one (so a broken item is told
//! once, not every run).

use crate::model::{ReadError, ReadErrorKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Grade {
    Pass,
    Warn,
    Fail,
}

impl Grade {
    /// The EMF value of a grade (0 pass, 1 warn, 2 fail): one metric a dashboard can plot.
    pub fn level(self) -> f64 {
        match self {
            Grade::Pass => 0.0,
            Grade::Warn => 1.0,
            Grade::Fail => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    Signals,
    Dns,
    Capacity,
    Data,
    Notifications,
    Permissions,
    Configuration,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Signals => "signals",
            Area::Dns => "dns",
            Area::Capacity => "capacity",
            Area::Data => "data",
            Area::Notifications => "notifications",
            Area::Permissions => "permissions",
            Area::Configuration => "configuration",
        }
    }
}

/// One graded item. `item` names what was checked, stably, so runs can be compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub area: Area,
    /// The region the item lives in (`global` for Route 53 and IAM).
    pub region: String,
    pub item: String,
    pub grade: Grade,
    pub detail: String,
    /// What to do about it (empty on PASS).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Item {
    pub fn pass(area: Area, region: &str, item: impl Into<String>, detail: impl Into<String>) -> Self {
        Item::new(area, region, item, Grade::Pass, detail, "")
    }

    pub fn new(area: Area, region: &str, item: impl Into<String>, grade: Grade, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Item {
            area,
            region: region.to_owned(),
            item: item.into(),
            grade,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    /// The identity of the item across runs.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.area.as_str(), self.region, self.item)
    }
}

/// The grade of an item whose reading failed: denied fails (the check itself is mis-wired and
/// the item is unknown), throttled or unavailable warns (unknown this time).
pub fn unreadable(area: Area, region: &str, item: impl Into<String>, action: &str, failure: &ReadError) -> Item {
    let m = failure.said();
    match failure.kind {
        ReadErrorKind::Denied => Item::new(
            area,
            region,
            item,
            Grade::Fail,
            format!("not checked: {action} was denied ({m})"),
            format!("grant {action} to the readiness-check role (infra/template.yaml, ReadinessCheck)"),
        ),
        ReadErrorKind::Throttled => Item::new(
            area,
            region,
            item,
            Grade::Warn,
            format!("not checked: {action} was throttled ({m})"),
            "none if the next check passes; otherwise ask for a higher API rate quota",
        ),
        ReadErrorKind::Unreachable | ReadErrorKind::Missing | ReadErrorKind::Other => Item::new(
            area,
            region,
            item,
            Grade::Warn,
            format!("not checked: {action} did not answer ({m})"),
            "check the endpoint and the account's access to this API",
        ),
    }
}

/// One full check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessReport {
    pub at: DateTime<Utc>,
    /// The region the check ran from (it reads every configured region).
    pub checked_from: String,
    pub items: Vec<Item>,
    /// AWS API calls the check made, and how long it took.
    #[serde(default)]
    pub api_calls: u64,
    #[serde(default)]
    pub seconds: f64,
}

impl ReadinessReport {
    pub fn grade(&self) -> Grade {
        self.items.iter().map(|i| i.grade).max().unwrap_or(Grade::Pass)
    }

    pub fn count(&self, grade: Grade) -> usize {
        self.items.iter().filter(|i| i.grade == grade).count()
    }

    pub fn summary(&self) -> String {
        format!(
            "{:?}: {} PASS, {} WARN, {} FAIL ({} items, {} API calls, {:.1} s)",
            self.grade(),
            self.count(Grade::Pass),
            self.count(Grade::Warn),
            self.count(Grade::Fail),
            self.items.len(),
            self.api_calls,
            self.seconds
        )
    }
}

/// An item whose grade changed since the last check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub key: String,
    pub from: Option<Grade>,
    pub to: Grade,
    pub detail: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// What to tell the on-call engineer: items whose grade changed (a new item counts as changed
/// from PASS, so a first check reports only what is wrong, and an item that stays broken is
/// told once, not every 30 minutes).
pub fn changes(previous: Option<&ReadinessReport>, next: &ReadinessReport) -> Vec<Change> {
    let before: BTreeMap<String, Grade> = previous
        .map(|p| p.items.iter().map(|i| (i.key(), i.grade)).collect())
        .unwrap_or_default();
    next.items
        .iter()
        .filter_map(|i| {
            let from = before.get(&i.key()).copied();
            (from.unwrap_or(Grade::Pass) != i.grade).then(|| Change {
                key: i.key(),
                from,
                to: i.grade,
                detail: i.detail.clone(),
                fix: i.fix.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(items: Vec<Item>) -> ReadinessReport {
        ReadinessReport {
            at: Utc::now(),
            checked_from: "eu-south-1".into(),
            items,
            api_calls: 0,
            seconds: 0.0,
        }
    }

    #[test]
    fn a_change_of_grade_is_told_once_and_a_first_check_tells_only_what_is_wrong() {
        let ok = Item::pass(Area::Data, "eu-south-1", "pitr", "fine");
        let broken = Item::new(Area::Data, "eu-south-1", "pitr", Grade::Fail, "off", "enable");
        assert_eq!(changes(None, &report(vec![ok.clone()])), vec![]);
        let first = changes(None, &report(vec![broken.clone()]));
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].from, first[0].to), (None, Grade::Fail));
        assert_eq!(changes(Some(&report(vec![broken.clone()])), &report(vec![broken.clone()])), vec![]);
        let healed = changes(Some(&report(vec![broken])), &report(vec![ok]));
        assert_eq!((healed[0].from, healed[0].to), (Some(Grade::Fail), Grade::Pass));
    }

    #[test]
    fn a_denied_read_fails_and_a_throttled_read_warns_never_passes() {
        let denied = unreadable(
            Area::Dns,
            "global",
            "x",
            "route53:GetHealthCheck",
            &ReadError::new(ReadErrorKind::Denied, "route53:GetHealthCheck", Some("AccessDenied".into()), "no"),
        );
        assert_eq!(denied.grade, Grade::Fail);
        assert!(denied.fix.contains("route53:GetHealthCheck"));
        let throttled = unreadable(
            Area::Dns,
            "global",
            "x",
            "a",
            &ReadError::new(ReadErrorKind::Throttled, "a", Some("Throttling".into()), "slow"),
        );
        assert_eq!(throttled.grade, Grade::Warn);
        assert!(throttled.detail.contains("throttled"));
    }
}
