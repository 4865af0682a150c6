//! Backup verification, the pure part: what each reading means (PASS / WARN / FAIL), and the
//! comparison of restored items with their source. The readings themselves are taken by
//! `verify`; a failed check is a result, an API error is reported as such.

use crate::config::BackupConfig;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    /// Disabled by configuration (said so in the detail), never counted as a pass.
    Skip,
    Warn,
    Fail,
}

/// A figure against its thresholds: above `fail` fails, above `warn` warns.
fn grade(value: f64, warn: f64, fail: f64) -> Status {
    if value > fail {
        Status::Fail
    } else if value > warn {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// One check of one table in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub table: String,
    pub region: String,
    pub check: String,
    pub status: Status,
    /// The measured figure (seconds, milliseconds, days, items), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figure: Option<f64>,
    pub detail: String,
}

impl CheckResult {
    pub fn new(table: &str, region: &str, check: &str, status: Status, figure: Option<f64>, detail: impl Into<String>) -> Self {
        CheckResult {
            table: table.to_owned(),
            region: region.to_owned(),
            check: check.to_owned(),
            status,
            figure,
            detail: detail.into(),
        }
    }
}

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupReport {
    pub at: DateTime<Utc>,
    pub checks: Vec<CheckResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillReport>,
    /// What this run did to a restore drill that is not finished (started, waiting, restoring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_progress: Option<String>,
}

impl BackupReport {
    /// The worst status of any check (SKIP counts as nothing).
    pub fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .chain(self.drill.iter().map(|d| d.status))
            .filter(|s| *s != Status::Skip)
            .max()
            .unwrap_or(Status::Pass)
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count() + self.drill.iter().filter(|d| d.status == status).count()
    }

    /// The largest RPO measured, in seconds.
    pub fn worst_rpo_seconds(&self) -> Option<f64> {
        self.checks
            .iter()
            .filter(|c| c.check == "rpo")
            .filter_map(|c| c.figure)
            .reduce(f64::max)
    }
}

/// Replication lag from one region to another, measured by the RPO probe's canaries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagStats {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

/// Nearest-rank percentiles of the canaries seen (`None` when none was).
pub fn lag_stats(seen_ms: &[f64]) -> Option<LagStats> {
    let mut v: Vec<f64> = seen_ms.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Some(LagStats {
        p50_ms: rank(0.50),
        p99_ms: rank(0.99),
        max_ms: v[v.len() - 1],
        samples: v.len(),
    })
}

/// The RPO probe's result for one region pair: a canary not seen within the timeout means
/// replication is stalled (FAIL: the RPO is at least the timeout, and growing); a lag above the
/// RPO target fails; a p99 above `replication_latency_warn_ms` warns.
pub fn grade_lag(cfg: &BackupConfig, table: &str, from: &str, to: &str, seen_ms: &[f64], missing: usize, timeout_s: u64) -> CheckResult {
    let pair = format!("{from}->{to}");
    let stats = lag_stats(seen_ms);
    let described = stats.map_or("no canary seen".to_owned(), |s| {
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} canaries",
            s.p50_ms, s.p99_ms, s.max_ms, s.samples
        )
    });
    if missing > 0 {
        return CheckResult::new(
            table,
            &pair,
            "replication-lag",
            Status::Fail,
            Some(timeout_s as f64 * 1000.0),
            format!(
                "{missing} canary item(s) written in {from} not in {to} after {timeout_s} s: replication stalled, RPO at least {timeout_s} s ({described})"
            ),
        );
    }
    let Some(s) = stats else {
        return CheckResult::new(table, &pair, "replication-lag", Status::Skip, None, "no canary written");
    };
    let status = if s.max_ms > cfg.rpo_target_seconds as f64 * 1000.0 {
        Status::Fail
    } else if s.p99_ms > cfg.replication_latency_warn_ms {
        Status::Warn
    } else {
        Status::Pass
    };
    CheckResult::new(table, &pair, "replication-lag", status, Some(s.p99_ms), described)
}

/// The outcome of a restore drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReport {
    pub table: String,
    pub region: String,
    pub scratch_table: String,
    pub status: Status,
    /// Restore submitted to the scratch table first seen ACTIVE: an RTO data point (an upper
    /// bound, to the schedule tick that saw it).
    pub restore_seconds: Option<f64>,
    /// The explicit point in time restored.
    #[serde(default)]
    pub restore_point: Option<DateTime<Utc>>,
    /// Drill start to PITR having reached the restore point (LatestRestorableDateTime lags the
    /// current time by about 5 minutes).
    #[serde(default)]
    pub pitr_wait_seconds: Option<f64>,
    /// Canary items checked in the restore, and those that were wrong.
    pub sampled: usize,
    pub mismatched: usize,
    /// Invocations the drill took, start to finish.
    #[serde(default)]
    pub steps: u32,
    /// The scratch table and the canaries were deleted (always attempted).
    pub cleaned_up: bool,
    pub detail: String,
}

/// What DescribeContinuousBackups and DescribeTable say about a table's PITR.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PitrReading {
    pub enabled: bool,
    pub period_days: Option<i32>,
    pub earliest: Option<DateTime<Utc>>,
    pub created: Option<DateTime<Utc>>,
}

/// PITR status, recovery period and window completeness.
pub fn pitr(cfg: &BackupConfig, table: &str, region: &str, reading: PitrReading, now: DateTime<Utc>) -> Vec<CheckResult> {
    let PitrReading {
        enabled,
        period_days,
        earliest,
        created,
    } = reading;
    if !enabled {
        return vec![CheckResult::new(
            table,
            region,
            "pitr",
            Status::Fail,
            None,
            "point-in-time recovery is DISABLED",
        )];
    }
    let mut out = Vec::new();
    let days = period_days.unwrap_or(35);
    let wanted = i32::try_from(cfg.recovery_period_days).unwrap_or(35);
    out.push(CheckResult::new(
        table,
        region,
        "pitr",
        if days >= wanted { Status::Pass } else { Status::Fail },
        Some(f64::from(days)),
        format!("ENABLED, recovery period {days} days (wanted {wanted})"),
    ));
    // The window is complete when it reaches back as far as the table's age allows.
    let reach = now - Duration::days(i64::from(days));
    let expected = created.map_or(reach, |c| c.max(reach));
    let (status, detail) = match earliest {
        None => (Status::Warn, "no EarliestRestorableDateTime reported".to_owned()),
        Some(e) if e <= expected + Duration::hours(1) => (Status::Pass, format!("earliest restorable {e}, complete for the table's age")),
        Some(e) => (
            Status::Warn,
            format!("earliest restorable {e}, but the window should reach {expected}: PITR was off for a while, or re-enabled"),
        ),
    };
    out.push(CheckResult::new(
        table,
        region,
        "pitr-window",
        status,
        earliest.map(|e| (now - e).num_seconds() as f64 / 86400.0),
        detail,
    ));
    out
}

/// RPO: how far behind now the latest restorable time is.
pub fn rpo(cfg: &BackupConfig, table: &str, region: &str, latest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> CheckResult {
    let Some(latest) = latest else {
        return CheckResult::new(
            table,
            region,
            "rpo",
            Status::Fail,
            None,
            "no LatestRestorableDateTime: nothing can be restored",
        );
    };
    let secs = (now - latest).num_milliseconds().max(0) as f64 / 1000.0;
    let status = grade(secs, cfg.rpo_warn_seconds as f64, cfg.rpo_target_seconds as f64);
    CheckResult::new(
        table,
        region,
        "rpo",
        status,
        Some(secs),
        format!("{secs:.0} s behind now (target {} s)", cfg.rpo_target_seconds),
    )
}

/// Replicas present and ACTIVE in every expected region.
pub fn replicas(cfg: &BackupConfig, table: &str, region: &str, found: &BTreeMap<String, String>, expected: &[String]) -> CheckResult {
    if !cfg.global_tables {
        return CheckResult::new(
            table,
            region,
            "replicas",
            Status::Skip,
            None,
            "backup.global_tables is false: replicas not checked",
        );
    }
    let missing: Vec<String> = expected
        .iter()
        .filter(|r| *r != region)
        .filter(|r| found.get(*r).map(String::as_str) != Some("ACTIVE"))
        .map(|r| format!("{r}: {}", found.get(r).map_or("missing", String::as_str)))
        .collect();
    if missing.is_empty() {
        CheckResult::new(
            table,
            region,
            "replicas",
            Status::Pass,
            Some(found.len() as f64),
            format!("replicas ACTIVE: {}", found.keys().cloned().collect::<Vec<_>>().join(", ")),
        )
    } else {
        CheckResult::new(
            table,
            region,
            "replicas",
            Status::Fail,
            Some(found.len() as f64),
            format!("replicas not ACTIVE: {}", missing.join(", ")),
        )
    }
}

/// ReplicationLatency (maximum, milliseconds) towards `receiving`.
pub fn replication_latency(cfg: &BackupConfig, table: &str, region: &str, receiving: &str, max_ms: Option<f64>) -> CheckResult {
    let check = format!("replication-latency-to-{receiving}");
    if !cfg.global_tables {
        return CheckResult::new(
            table,
            region,
            &check,
            Status::Skip,
            None,
            "backup.global_tables is false: latency not checked",
        );
    }
    match max_ms {
        None => CheckResult::new(
            table,
            region,
            &check,
            Status::Warn,
            None,
            "no ReplicationLatency datapoints in the last 15 minutes",
        ),
        Some(ms) => {
            let warn = cfg.replication_latency_warn_ms;
            let status = grade(ms, warn, warn * 10.0);
            CheckResult::new(
                table,
                region,
                &check,
                status,
                Some(ms),
                format!("max {ms:.0} ms over 15 minutes (warn above {warn:.0} ms)"),
            )
        }
    }
}

/// The newest on-demand backup's age.
pub fn backup_age(cfg: &BackupConfig, table: &str, region: &str, newest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> CheckResult {
    let Some(max_hours) = cfg.max_backup_age_hours else {
        return CheckResult::new(
            table,
            region,
            "on-demand-backup",
            Status::Skip,
            None,
            "backup.max_backup_age_hours not set",
        );
    };
    match newest {
        None => CheckResult::new(table, region, "on-demand-backup", Status::Fail, None, "no on-demand backup"),
        Some(at) => {
            let hours = (now - at).num_seconds() as f64 / 3600.0;
            let status = if hours <= max_hours as f64 { Status::Pass } else { Status::Fail };
            CheckResult::new(
                table,
                region,
                "on-demand-backup",
                status,
                Some(hours),
                format!("newest {hours:.1} h old (max {max_hours} h)"),
            )
        }
    }
}

#[cfg(test)]
mod lag_tests {
    use super::*;

    #[test]
    fn lag_percentiles_are_nearest_rank_and_a_missing_canary_fails() {
        let s = lag_stats(&[300.0, 100.0, 200.0, 400.0, 5000.0]).unwrap();
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms, s.samples), (300.0, 5000.0, 5000.0, 5));
        assert_eq!(lag_stats(&[]), None);
        let cfg = BackupConfig::default();
        let ok = grade_lag(&cfg, "t", "a", "b", &[120.0, 180.0], 0, 30);
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert_eq!(ok.region, "a->b");
        let slow = grade_lag(&cfg, "t", "a", "b", &[120.0, 1800.0], 0, 30);
        assert_eq!(slow.status, Status::Warn, "p99 above replication_latency_warn_ms: {slow:?}");
        let stalled = grade_lag(&cfg, "t", "a", "b", &[120.0], 4, 30);
        assert_eq!(stalled.status, Status::Fail);
        assert!(
            stalled.detail.contains("4 canary item(s)") && stalled.detail.contains("30 s"),
            "{stalled:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-24T17:00:00Z".parse().unwrap()
    }

    #[test]
    fn pitr_disabled_fails_and_short_period_fails() {
        let c = BackupConfig::default();
        assert_eq!(
            pitr(
                &c,
                "t",
                "r",
                PitrReading {
                    enabled: false,
                    period_days: None,
                    earliest: None,
                    created: None
                },
                t0()
            )[0]
            .status,
            Status::Fail
        );
        let r = pitr(
            &c,
            "t",
            "r",
            PitrReading {
                enabled: true,
                period_days: Some(7),
                earliest: Some(t0() - Duration::days(7)),
                created: None,
            },
            t0(),
        );
        assert_eq!(r[0].status, Status::Fail);
    }

    #[test]
    fn pitr_window_is_complete_for_a_young_table_and_incomplete_when_it_was_off() {
        let c = BackupConfig::default();
        let created = t0() - Duration::days(3);
        let ok = pitr(
            &c,
            "t",
            "r",
            PitrReading {
                enabled: true,
                period_days: Some(35),
                earliest: Some(created),
                created: Some(created),
            },
            t0(),
        );
        assert_eq!(ok[1].status, Status::Pass);
        let reading = PitrReading {
            enabled: true,
            period_days: Some(35),
            earliest: Some(t0() - Duration::days(1)),
            created: Some(t0() - Duration::days(90)),
        };
        let gap = pitr(&c, "t", "r", reading, t0());
        assert_eq!(gap[1].status, Status::Warn);
    }

    #[test]
    fn rpo_against_the_one_hour_target() {
        let c = BackupConfig::default();
        assert_eq!(rpo(&c, "t", "r", Some(t0() - Duration::seconds(300)), t0()).status, Status::Pass);
        assert_eq!(rpo(&c, "t", "r", Some(t0() - Duration::seconds(1200)), t0()).status, Status::Warn);
        let late = rpo(&c, "t", "r", Some(t0() - Duration::hours(2)), t0());
        assert_eq!((late.status, late.figure), (Status::Fail, Some(7200.0)));
        assert_eq!(rpo(&c, "t", "r", None, t0()).status, Status::Fail);
    }

    #[test]
    fn replicas_must_be_active_in_every_other_region() {
        let c = BackupConfig::default();
        let expected = vec!["eu-south-1".to_owned(), "eu-north-1".to_owned()];
        let ok: BTreeMap<String, String> = [("eu-north-1".to_owned(), "ACTIVE".to_owned())].into();
        assert_eq!(replicas(&c, "t", "eu-south-1", &ok, &expected).status, Status::Pass);
        let creating: BTreeMap<String, String> = [("eu-north-1".to_owned(), "CREATING".to_owned())].into();
        assert_eq!(replicas(&c, "t", "eu-south-1", &creating, &expected).status, Status::Fail);
        assert_eq!(replicas(&c, "t", "eu-south-1", &BTreeMap::new(), &expected).status, Status::Fail);
    }

    #[test]
    fn skipped_checks_never_make_a_report_pass_or_fail() {
        let report = BackupReport {
            at: t0(),
            checks: vec![
                CheckResult::new("t", "r", "a", Status::Skip, None, ""),
                CheckResult::new("t", "r", "b", Status::Warn, None, ""),
            ],
            drill: None,
            drill_progress: None,
        };
        assert_eq!(report.status(), Status::Warn);
    }
}
