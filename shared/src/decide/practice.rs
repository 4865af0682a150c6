//! The practice failover drill, pure: its guards, its state between invocations, and its report
//! (the phase table and the timeline picture).
//!
//! A practice run goes through the production path end to end. dns-failover's drill schedule
//! checks the guards and pulls the trigger (a metric the practice trigger alarms of the drilled
//! region watch, so CloudWatch evaluates them as real health alarms); their state change is
//! delivered to dns-failover like any alarm's, which drains the practice record with the
//! production strategies (applied, then confirmed by the switch), and then watches Route 53's
//! answer (`TestDNSAnswer`) until the drained region's value is gone; it then releases the
//! trigger, whose alarms' OK, delivered, fails back the same way. Every phase is timed from the
//! trigger alarm's state-change time, and the total (trigger to DNS answer changed) is the RTO
//! measured against the target.
//!
//! Guards, modelled on zonal autoshift's practice runs: the kill switch, a blocked window or
//! date, a real incident (production drained or frozen, a production health alarm in ALARM),
//! a blocking alarm and an outcome alarm. Before the start they refuse it; during the run they
//! stop it, and the practice record is restored at once.

use super::backup::Status;
use crate::config::PracticeDrillConfig;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What the guards look at, read by the adapter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardFacts {
    pub kill_switch: bool,
    /// Production: regions drained, and whether automation is frozen.
    pub production_drained: Vec<String>,
    pub production_frozen: bool,
    /// Production health alarms in ALARM (any region).
    pub production_alarms: Vec<String>,
    /// Blocking alarms in ALARM, and those that exist nowhere (a guard that cannot be read
    /// stops the drill: it fails closed).
    pub blocking_alarms: Vec<String>,
    pub blocking_missing: Vec<String>,
    pub outcome_alarms: Vec<String>,
}

/// Why a drill does not start, or stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "guard", content = "detail", rename_all = "kebab-case")]
pub enum Stop {
    KillSwitch,
    Blocked(String),
    RealIncident(String),
    BlockingAlarm(String),
    OutcomeAlarm(String),
    /// The run could not go on (the reaction did not drain, the answer never changed).
    Refused(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::KillSwitch => write!(f, "the kill switch is on"),
            Stop::Blocked(w) => write!(f, "inside a {w}"),
            Stop::RealIncident(d) => write!(f, "a real incident: {d}"),
            Stop::BlockingAlarm(a) => write!(f, "blocking alarm {a}"),
            Stop::OutcomeAlarm(a) => write!(f, "outcome alarm {a} in ALARM"),
            Stop::Refused(why) => write!(f, "{why}"),
        }
    }
}

/// The first guard that stops a drill now, in this order: kill switch, blocked window or date,
/// real incident, blocking alarm, outcome alarm.
pub fn stop(cfg: &PracticeDrillConfig, facts: &GuardFacts, now: DateTime<Utc>) -> Option<Stop> {
    if facts.kill_switch {
        return Some(Stop::KillSwitch);
    }
    if let Some(b) = cfg.blocked_at(now) {
        return Some(Stop::Blocked(b));
    }
    if !facts.production_drained.is_empty() {
        return Some(Stop::RealIncident(format!(
            "production has {} drained",
            facts.production_drained.join(", ")
        )));
    }
    if facts.production_frozen {
        return Some(Stop::RealIncident("production automation is frozen".into()));
    }
    if let Some(a) = facts.production_alarms.first() {
        return Some(Stop::RealIncident(format!("production health alarm {a} is in ALARM")));
    }
    if let Some(a) = facts.blocking_alarms.first() {
        return Some(Stop::BlockingAlarm(format!("{a} is in ALARM")));
    }
    if let Some(a) = facts.blocking_missing.first() {
        return Some(Stop::BlockingAlarm(format!(
            "{a} does not exist (a guard that cannot be read stops the drill)"
        )));
    }
    facts.outcome_alarms.first().map(|a| Stop::OutcomeAlarm(a.clone()))
}

/// Which way traffic is moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Leg {
    Failover,
    Failback,
}

/// The phases of one leg, in order. Each is timed from the leg's trigger.
pub const PHASES: [&str; 5] = ["triggered", "delivered", "decided", "switch applied", "switch effective"];
/// The last phase: Route 53 answers without (failover) or with (failback) the region.
pub const ANSWERED: &str = "DNS answer changed";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub leg: Leg,
    pub phase: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub detail: String,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Trigger pulled; waiting for its alarms' ALARM, delivered.
    Triggered,
    /// Drained; trigger released; waiting for its alarms' OK, delivered.
    FailingBack,
}

/// A practice run in progress, kept in the state table between its invocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub record_name: String,
    pub region: String,
    pub started_at: DateTime<Utc>,
    pub step: Step,
    pub marks: Vec<Mark>,
    /// Why it stopped early, if it did.
    #[serde(default)]
    pub stopped: Option<Stop>,
}

impl Run {
    pub fn mark(&mut self, leg: Leg, phase: &str, at: DateTime<Utc>, detail: impl Into<String>) {
        self.marks.push(Mark {
            leg,
            phase: phase.to_owned(),
            at,
            detail: detail.into(),
        });
    }

    fn at(&self, leg: Leg, phase: &str) -> Option<DateTime<Utc>> {
        self.marks.iter().find(|m| m.leg == leg && m.phase == phase).map(|m| m.at)
    }
}

/// One row of the phase table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub leg: Leg,
    pub phase: String,
    pub at: DateTime<Utc>,
    /// Since the leg's trigger.
    pub seconds: f64,
    /// Since the previous phase.
    pub step_seconds: f64,
    pub detail: String,
}

/// The report of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub id: String,
    pub record_name: String,
    pub region: String,
    pub status: Status,
    pub rows: Vec<Row>,
    /// Failover trigger to the DNS answer without the region: the RTO measured.
    pub rto_seconds: Option<f64>,
    pub rto_target_seconds: u64,
    /// Failback trigger to the DNS answer with the region again.
    pub failback_seconds: Option<f64>,
    /// The region serves again under the practice name.
    pub restored: bool,
    #[serde(default)]
    pub stopped: Option<Stop>,
    pub summary: String,
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

/// The report of `run`: PASS when the answer changed within the RTO target and the region was
/// restored, FAIL when the target was missed, the answer never changed, or the run was stopped
/// (the stop is named; the region is still restored).
pub fn report(run: &Run, rto_target_seconds: u64, restored: bool) -> Report {
    let mut rows = Vec::new();
    for leg in [Leg::Failover, Leg::Failback] {
        let Some(t0) = run.at(leg, "triggered") else { continue };
        let mut previous = t0;
        for m in run.marks.iter().filter(|m| m.leg == leg) {
            rows.push(Row {
                leg,
                phase: m.phase.clone(),
                at: m.at,
                seconds: secs(t0, m.at),
                step_seconds: secs(previous, m.at),
                detail: m.detail.clone(),
            });
            previous = m.at;
        }
    }
    let leg_total = |leg| Some(secs(run.at(leg, "triggered")?, run.at(leg, ANSWERED)?));
    let rto = leg_total(Leg::Failover);
    let failback = leg_total(Leg::Failback);
    let met = rto.is_some_and(|r| r <= rto_target_seconds as f64);
    let status = if met && restored && run.stopped.is_none() {
        Status::Pass
    } else {
        Status::Fail
    };
    let summary = match (&run.stopped, rto) {
        (Some(s), _) => format!(
            "stopped: {s}; {}",
            if restored {
                "the region serves again"
            } else {
                "the region is NOT restored yet"
            }
        ),
        (None, Some(r)) if met => format!(
            "{} drained and restored under {}: RTO {r:.1} s (target {rto_target_seconds} s), failback {}",
            run.region,
            run.record_name,
            failback.map_or("not measured".into(), |f| format!("{f:.1} s"))
        ),
        (None, Some(r)) => format!("RTO {r:.1} s missed the target {rto_target_seconds} s"),
        (None, None) => "the DNS answer never changed: no RTO measured".into(),
    };
    Report {
        id: run.id.clone(),
        record_name: run.record_name.clone(),
        region: run.region.clone(),
        status,
        rows,
        rto_seconds: rto,
        rto_target_seconds,
        failback_seconds: failback,
        restored,
        stopped: run.stopped.clone(),
        summary,
    }
}

/// The phase table, as an on-call engineer reads it in a terminal.
pub fn phase_table(r: &Report) -> String {
    let mut out = format!(
        "practice failover drill {} of {} ({}): {:?} — {}\n",
        r.id, r.region, r.record_name, r.status, r.summary
    );
    let _ = writeln!(out, "{:<9} {:<20} {:>9} {:>9}  detail", "leg", "phase", "t+ s", "step s");
    for row in &r.rows {
        let leg = match row.leg {
            Leg::Failover => "failover",
            Leg::Failback => "failback",
        };
        let _ = writeln!(
            out,
            "{leg:<9} {:<20} {:>9.3} {:>9.3}  {}",
            row.phase, row.seconds, row.step_seconds, row.detail
        );
    }
    out
}

/// The timeline of the run as SVG: a lane per leg, a bar per phase from the previous one, the
/// RTO target dashed. Plain SVG, no script.
pub fn timeline_svg(r: &Report) -> String {
    const W: f64 = 760.0;
    const LEFT: f64 = 150.0;
    const ROW: f64 = 22.0;
    let longest = r.rows.iter().map(|x| x.seconds).fold(0.0_f64, f64::max);
    let scale_max = longest.max(1.0) * 1.1;
    let height = 70.0 + ROW * (r.rows.len() as f64 + 2.0);
    let x = |s: f64| LEFT + (W - LEFT - 20.0) * (s / scale_max);
    let colour = match r.status {
        Status::Pass => "#2e7d32",
        _ => "#c62828",
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="15">Practice failover drill {} of {}: {:?}</text><text x="10" y="38" fill="{colour}">{}</text>"#,
        xml(&r.id),
        xml(&r.region),
        r.status,
        xml(&r.summary)
    );
    let mut y = 55.0;
    for row in &r.rows {
        let fill = match row.leg {
            Leg::Failover => "#1565c0",
            Leg::Failback => "#6a1b9a",
        };
        let start = x(row.seconds - row.step_seconds);
        let width = (x(row.seconds) - start).max(1.5);
        let _ = write!(
            svg,
            r#"<text x="10" y="{}">{} {}</text><rect x="{start:.1}" y="{y:.1}" width="{width:.1}" height="{}" fill="{fill}"/><text x="{:.1}" y="{}">{:.2} s</text>"#,
            y + 13.0,
            if row.leg == Leg::Failover { "↓" } else { "↑" },
            xml(&row.phase),
            ROW - 6.0,
            x(row.seconds) + 4.0,
            y + 13.0,
            row.seconds
        );
        y += ROW;
    }
    let target = r.rto_target_seconds as f64;
    if target <= scale_max {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="50" x2="{0:.1}" y2="{y:.1}" stroke="#c62828" stroke-dasharray="6 4"/><text x="{1:.1}" y="{2:.1}" fill="#c62828">RTO target {target:.0} s</text>"##,
            x(target),
            x(target) - 60.0,
            y + 14.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}">0 s</text><text x="{:.1}" y="{:.1}">{scale_max:.1} s</text></svg>"#,
        y + 30.0,
        W - 70.0,
        y + 30.0
    );
    svg
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PracticeDrillConfig {
        serde_json::from_value(serde_json::json!({
            "record_name": "drill.api.aworld.example.",
            "region": "eu-south-1",
            "trigger_alarms": ["a", "b"],
            "trigger_metric": { "namespace": "aworld/FailoverDrill", "metric_name": "PracticeTrigger" },
            "blocked_windows": ["Sat:00:00-Sun:06:00"],
            "blocked_dates": ["2026-12-24"]
        }))
        .unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const THURSDAY: &str = "2026-11-26T10:00:00Z";

    #[test]
    fn each_guard_stops_the_drill_and_is_named_in_order() {
        let c = cfg();
        let now = at(THURSDAY);
        assert_eq!(stop(&c, &GuardFacts::default(), now), None);
        let mut f = GuardFacts {
            outcome_alarms: vec!["errors".into()],
            ..Default::default()
        };
        assert_eq!(stop(&c, &f, now), Some(Stop::OutcomeAlarm("errors".into())));
        f.blocking_missing = vec!["gone".into()];
        assert!(matches!(stop(&c, &f, now), Some(Stop::BlockingAlarm(d)) if d.contains("does not exist")));
        f.blocking_alarms = vec!["deploys".into()];
        assert!(matches!(stop(&c, &f, now), Some(Stop::BlockingAlarm(d)) if d.starts_with("deploys")));
        f.production_alarms = vec!["api-5xx".into()];
        assert!(matches!(stop(&c, &f, now), Some(Stop::RealIncident(d)) if d.contains("api-5xx")));
        f.production_drained = vec!["eu-north-1".into()];
        assert!(matches!(stop(&c, &f, now), Some(Stop::RealIncident(d)) if d.contains("drained")));
        assert!(matches!(stop(&c, &f, at("2026-11-28T10:00:00Z")), Some(Stop::Blocked(w)) if w.contains("Sat:00:00")));
        assert!(matches!(stop(&c, &f, at("2026-12-24T10:00:00Z")), Some(Stop::Blocked(w)) if w.contains("2026-12-24")));
        f.kill_switch = true;
        assert_eq!(stop(&c, &f, at("2026-12-24T10:00:00Z")), Some(Stop::KillSwitch));
    }

    fn run() -> Run {
        let t = |s: f64| at(THURSDAY) + chrono::Duration::milliseconds((s * 1000.0) as i64);
        let mut r = Run {
            id: "d1".into(),
            record_name: "drill.api.aworld.example.".into(),
            region: "eu-south-1".into(),
            started_at: t(0.0),
            step: Step::FailingBack,
            marks: vec![],
            stopped: None,
        };
        for (leg, base) in [(Leg::Failover, 0.0), (Leg::Failback, 100.0)] {
            r.mark(leg, "triggered", t(base), "");
            r.mark(leg, "delivered", t(base + 0.5), "");
            r.mark(leg, "decided", t(base + 0.6), "");
            r.mark(leg, "switch applied", t(base + 0.7), "");
            r.mark(leg, "switch effective", t(base + 60.0), "");
            r.mark(leg, ANSWERED, t(base + 75.0), "");
        }
        r
    }

    #[test]
    fn the_report_times_each_phase_from_its_legs_trigger_and_grades_the_rto() {
        let r = report(&run(), 900, true);
        assert_eq!(r.status, Status::Pass, "{}", r.summary);
        assert_eq!(r.rows.len(), 12);
        assert_eq!(r.rto_seconds, Some(75.0));
        assert_eq!(r.failback_seconds, Some(75.0));
        let effective = r
            .rows
            .iter()
            .find(|x| x.phase == "switch effective" && x.leg == Leg::Failback)
            .unwrap();
        assert!((effective.seconds - 60.0).abs() < 1e-9 && (effective.step_seconds - 59.3).abs() < 1e-9);
        assert_eq!(report(&run(), 60, true).status, Status::Fail, "75 s misses a 60 s target");
        assert_eq!(report(&run(), 900, false).status, Status::Fail, "not restored");
        let mut stopped = run();
        stopped.stopped = Some(Stop::OutcomeAlarm("errors".into()));
        let s = report(&stopped, 900, true);
        assert_eq!(s.status, Status::Fail);
        assert!(s.summary.contains("outcome alarm errors"), "{}", s.summary);
        let mut never = run();
        never.marks.retain(|m| m.phase != ANSWERED);
        assert!(report(&never, 900, true).summary.contains("never changed"));
    }

    #[test]
    fn the_table_and_the_timeline_show_every_phase() {
        let r = report(&run(), 900, true);
        let table = phase_table(&r);
        assert_eq!(table.lines().count(), 14, "{table}");
        assert!(table.contains("failback  DNS answer changed"), "{table}");
        let svg = timeline_svg(&r);
        assert_eq!(svg.matches("<rect x=").count(), 12, "a bar per phase");
        // The target is drawn where it fits the scale (75 s of phases): 60 s does, 900 s does not.
        assert!(!svg.contains("RTO target"), "900 s is off the scale");
        assert!(timeline_svg(&report(&run(), 60, true)).contains("RTO target 60 s"));
        assert!(svg.ends_with("</svg>"));
    }
}
