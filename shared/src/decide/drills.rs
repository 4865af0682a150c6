//! Drill results over time: each run of a recovery drill (the restore drill, the RPO probe, the
//! practice failover drill) is
//! kept as one record in its region's history (`drills#history@<region>`, the last
//! [`KEEP`] records), so the trend of the measured RTO and RPO figures is at hand
//! (`resilience drills`, and its picture, [`trend_svg`]). Pure: built from the reports.

use super::backup::{BackupReport, Status};
use crate::config::SuiteConfig;
use crate::model::Region;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Records kept per region.
pub const KEEP: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrillKind {
    /// A point-in-time restore into a scratch table, validated: an RTO data point (seconds).
    Restore,
    /// Canary items read back in another region: the replication lag, the RPO (milliseconds).
    RpoProbe,
    /// A practice failover drill: trigger alarm to DNS answer changed, the RTO (seconds).
    Failover,
}

/// One drill run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    pub at: DateTime<Utc>,
    /// Where it ran.
    pub region: String,
    pub kind: DrillKind,
    /// The table restored, or the region pair probed (`from->to`).
    pub subject: String,
    pub status: Status,
    /// Restore seconds, or the lag's p99 in milliseconds.
    pub figure: Option<f64>,
    /// The target in the figure's unit (the RPO target for the probe), when there is one.
    pub target: Option<f64>,
    pub summary: String,
}

/// The drill records of one backup-verifier run (none when it ran no drill and no probe).
pub fn records_of(config: &SuiteConfig, region: &Region, report: &BackupReport) -> Vec<DrillRecord> {
    let rpo_ms = config.backup.rpo_target_seconds as f64 * 1000.0;
    let probes = report.checks.iter().filter(|c| c.check == "replication-lag").map(|c| DrillRecord {
        at: report.at,
        region: region.to_string(),
        kind: DrillKind::RpoProbe,
        subject: c.region.clone(),
        status: c.status,
        figure: c.figure,
        target: Some(rpo_ms),
        summary: c.detail.clone(),
    });
    let restores = report.drill.iter().map(|d| DrillRecord {
        at: report.at,
        region: region.to_string(),
        kind: DrillKind::Restore,
        subject: d.table.clone(),
        status: d.status,
        figure: d.restore_seconds,
        target: None,
        summary: d.detail.clone(),
    });
    probes.chain(restores).collect()
}

/// The record of a practice failover drill started at `at`: its RTO against the target.
pub fn practice_record(region: &Region, at: DateTime<Utc>, report: &super::practice::Report) -> DrillRecord {
    DrillRecord {
        at,
        region: region.to_string(),
        kind: DrillKind::Failover,
        subject: format!("{} drained", report.region),
        status: report.status,
        figure: report.rto_seconds,
        target: Some(report.rto_target_seconds as f64),
        summary: report.summary.clone(),
    }
}

/// The history with `new` appended, oldest dropped beyond `keep`.
pub fn append(mut history: Vec<DrillRecord>, new: Vec<DrillRecord>, keep: usize) -> Vec<DrillRecord> {
    history.extend(new);
    let excess = history.len().saturating_sub(keep);
    history.drain(..excess);
    history
}

fn colour(status: Status) -> &'static str {
    match status {
        Status::Pass => "#2e7d32",
        Status::Skip => "#757575",
        Status::Warn => "#f9a825",
        Status::Fail => "#c62828",
    }
}

/// The picture's width, each panel's height, the left margin and the space above each panel.
const WIDTH: f64 = 720.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 60.0;
const TOP: f64 = 40.0;

/// A picture of the trend an on-call engineer can take in at a glance: one panel per kind
/// (replication lag p99 in ms, restore time in s), one line per subject over the runs, each run
/// a dot coloured by its grade, the target dashed where it fits the scale. Plain SVG, no script.
pub fn trend_svg(records: &[DrillRecord]) -> String {
    let kinds: Vec<DrillKind> = [DrillKind::Failover, DrillKind::RpoProbe, DrillKind::Restore]
        .into_iter()
        .filter(|k| records.iter().any(|r| r.kind == *k))
        .collect();
    let height = TOP + kinds.len().max(1) as f64 * (PANEL + TOP);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="20" font-size="15">Recovery drills: {} runs</text>"#,
        records.len()
    );
    if kinds.is_empty() {
        let _ = write!(svg, r#"<text x="{LEFT}" y="60">no drill has run yet</text>"#);
    }
    let mut order: Vec<&DrillRecord> = records.iter().collect();
    order.sort_by_key(|r| r.at);
    let time = Timeline::of(&order);
    for (n, kind) in kinds.iter().enumerate() {
        let y0 = TOP + n as f64 * (PANEL + TOP) + 20.0;
        let mine: Vec<&DrillRecord> = order.iter().copied().filter(|r| r.kind == *kind && r.figure.is_some()).collect();
        panel(&mut svg, *kind, y0, &mine, &time);
    }
    svg.push_str("</svg>");
    svg
}

/// The time axis every panel shares: from the first run to the last (at least a second).
struct Timeline {
    first: Option<DateTime<Utc>>,
    span: f64,
}

impl Timeline {
    /// The axis of runs sorted oldest first.
    fn of(order: &[&DrillRecord]) -> Timeline {
        let (first, last) = (order.first().map(|r| r.at), order.last().map(|r| r.at));
        let span = match (first, last) {
            (Some(a), Some(b)) => (b - a).num_seconds().max(1) as f64,
            _ => 1.0,
        };
        Timeline { first, span }
    }

    /// Where a run at `at` sits across the picture.
    fn x(&self, at: DateTime<Utc>) -> f64 {
        LEFT + (WIDTH - LEFT - 30.0) * self.first.map_or(0.0, |f| (at - f).num_seconds() as f64 / self.span)
    }
}

/// One kind's panel, its top at `y0`: axes and title, the target dashed where it fits the
/// scale (a tenth above the highest figure), and one line of dots per subject.
fn panel(svg: &mut String, kind: DrillKind, y0: f64, mine: &[&DrillRecord], time: &Timeline) {
    let max = mine.iter().filter_map(|r| r.figure).fold(0.0_f64, f64::max).max(1.0) * 1.1;
    axes(svg, kind, y0, max);
    let y = |v: f64| y0 + PANEL - PANEL * (v / max);
    if let Some(target) = mine.iter().find_map(|r| r.target).filter(|t| *t <= max) {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#c62828" stroke-dasharray="6 4"/><text x="{2}" y="{3}" fill="#c62828">target {target:.0}</text>"##,
            y(target),
            WIDTH - 20.0,
            WIDTH - 120.0,
            y(target) - 4.0
        );
    }
    let mut lines: BTreeMap<&str, Vec<(f64, f64, Status)>> = BTreeMap::new();
    for r in mine {
        if let Some(v) = r.figure {
            lines.entry(r.subject.as_str()).or_default().push((time.x(r.at), y(v), r.status));
        }
    }
    for (i, (subject, points)) in lines.iter().enumerate() {
        let path: Vec<String> = points.iter().map(|(px, py, _)| format!("{px:.1},{py:.1}")).collect();
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{}"/><text x="{}" y="{}" fill="#1565c0">{}</text>"##,
            path.join(" "),
            LEFT + 10.0,
            y0 + 15.0 + 14.0 * i as f64,
            xml(subject)
        );
        for (px, py, status) in points {
            let _ = write!(svg, r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{}"/>"#, colour(*status));
        }
    }
}

/// A panel's title (what is measured, in which unit) and its axes, the scale from 0 to `max`.
fn axes(svg: &mut String, kind: DrillKind, y0: f64, max: f64) {
    let (title, unit) = match kind {
        DrillKind::RpoProbe => ("Replication lag p99 (RPO probe)", "ms"),
        DrillKind::Restore => ("Restore to ACTIVE (restore drill)", "s"),
        DrillKind::Failover => ("Alarm to DNS answer changed (practice failover drill)", "s"),
    };
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="{}" font-size="13">{title}, {unit}</text><line x1="{LEFT}" y1="{}" x2="{LEFT}" y2="{}" stroke="black"/><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="black"/><text x="5" y="{}">{max:.0}</text><text x="5" y="{}">0</text>"#,
        y0 - 5.0,
        y0,
        y0 + PANEL,
        y0 + PANEL,
        WIDTH - 20.0,
        y0 + PANEL,
        y0 + 12.0,
        y0 + PANEL
    );
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::backup::{CheckResult, DrillReport};

    fn report(at: &str, lag_ms: f64, status: Status, restore: Option<f64>) -> BackupReport {
        BackupReport {
            at: at.parse().unwrap(),
            checks: vec![
                CheckResult::new("t", "eu-north-1", "pitr", Status::Pass, None, "ok"),
                CheckResult::new("state", "eu-north-1->eu-south-1", "replication-lag", status, Some(lag_ms), "p99"),
            ],
            drill: restore.map(|s| DrillReport {
                table: "aworld-orders".into(),
                region: "eu-north-1".into(),
                scratch_table: "x".into(),
                status: Status::Pass,
                restore_seconds: Some(s),
                sampled: 1,
                mismatched: 0,
                restore_point: None,
                pitr_wait_seconds: None,
                steps: 3,
                cleaned_up: true,
                detail: "restored".into(),
            }),
            drill_progress: None,
        }
    }

    #[test]
    fn each_run_leaves_one_record_per_probe_pair_and_restore_and_the_history_keeps_the_newest() {
        let c = SuiteConfig::from_json(crate::config::EXAMPLE).unwrap();
        let north: Region = "eu-north-1".parse().unwrap();
        let r = records_of(&c, &north, &report("2026-11-26T01:00:00Z", 300.0, Status::Pass, Some(42.0)));
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            (r[0].kind, r[0].figure, r[0].target),
            (DrillKind::RpoProbe, Some(300.0), Some(3_600_000.0))
        );
        assert_eq!((r[1].kind, r[1].figure), (DrillKind::Restore, Some(42.0)));
        let history = (0..60).fold(Vec::new(), |h, _| append(h, r.clone(), KEEP));
        assert_eq!(history.len(), KEEP);
        let plain = BackupReport {
            drill: None,
            checks: vec![],
            ..report("2026-11-26T01:00:00Z", 0.0, Status::Pass, None)
        };
        assert!(records_of(&c, &north, &plain).is_empty(), "a run without drills records nothing");
    }

    #[test]
    fn the_trend_picture_has_a_dot_per_run_coloured_by_grade_and_a_line_per_subject() {
        let c = SuiteConfig::from_json(crate::config::EXAMPLE).unwrap();
        let north: Region = "eu-north-1".parse().unwrap();
        let mut records = Vec::new();
        for (at, lag, status) in [
            ("2026-11-26T01:00:00Z", 300.0, Status::Pass),
            ("2026-11-26T02:00:00Z", 1800.0, Status::Warn),
            ("2026-11-26T03:00:00Z", 3000.0, Status::Fail),
        ] {
            records.extend(records_of(&c, &north, &report(at, lag, status, Some(30.0))));
        }
        let svg = trend_svg(&records);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 6, "3 probe runs and 3 restores");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(colour(Status::Fail)) && svg.contains(colour(Status::Warn)));
        assert!(svg.contains("eu-north-1-&gt;eu-south-1"), "subjects escaped");
        assert!(trend_svg(&[]).contains("no drill has run yet"));
    }
}
