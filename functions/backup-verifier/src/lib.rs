//! backup-verifier: on a schedule (and on the operator's "verify now"), prove the data can be
//! recovered. Checks every protected table in every region; the restore drill starts on its own
//! schedules and on "verify now", and moves a step on every later tick (the progress schedule's
//! every few minutes) until it is over: its state is in the state table, no invocation waits for
//! a restore. A failed check is a result, not a crash: the run always produces a report, an audit
//! record, EMF metrics, and an SNS notification on WARN or FAIL.

use chrono::{DateTime, Utc};
use resilience_core::act::backup::BackupInspector;
use resilience_core::config::SuiteConfig;
use resilience_core::decide::backup::{BackupReport, Status};
use resilience_core::decide::drills;
use resilience_core::decide::restore_drill::DrillState;
use resilience_core::documents;
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::evidence::telemetry::{Metrics, Unit};
use resilience_core::handler::reaction::{Core, once};
use resilience_core::handler::{Answer, ReactError, Reaction, serve};
use resilience_core::model::audit::{AuditRecord, DecisionName, Outcome};
use resilience_core::model::{Function, Region};
use resilience_core::model::{Notification, Severity};
use resilience_core::signal::{OperatorCommandKind, Signal, SignalKind};
use resilience_core::store::{StateStore, StoreError};
use serde_json::{Value, json};

pub const FUNCTION: &str = Function::BackupVerifier.as_str();
/// The state document holding the last report (read by the operator CLI).

#[derive(Debug)]
pub struct BackupVerifier<S, N> {
    pub config: SuiteConfig,
    pub region: Region,
    pub store: S,
    pub notifier: N,
    pub inspector: BackupInspector,
}

/// Its failures: the store, the exactly-once guard, input that is not a signal.
pub type VerifierError = ReactError;

/// What a signal asks for (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// The checks; a restore drill in progress moves a step.
    Checks,
    /// The checks; a drill in progress moves a step, else a new one starts (a schedule's tick:
    /// no sooner than `backup.drill.min_interval_hours` after the last start).
    ChecksAndDrill,
    /// As `ChecksAndDrill`, asked for by a signed verify-now: not held to the interval.
    ChecksAndCommandedDrill,
    /// Only a step of the drill in progress (the progress schedule): no checks.
    DrillProgress,
    Refused(String),
    Nothing(String),
}

/// The restore drill runs from `backup.drill.region` only: both regions' schedules fire, and
/// two drills of one table would double the cost and could remove each other's scratch table.
pub fn run_for(config: &SuiteConfig, home: &Region, signal: &Signal, now: DateTime<Utc>) -> Run {
    let drills_here = config.backup.drill.as_ref().is_some_and(|d| &d.region == home);
    match run_anywhere(config, signal, now) {
        Run::ChecksAndDrill | Run::ChecksAndCommandedDrill if !drills_here => Run::Checks,
        Run::DrillProgress if !drills_here => Run::Nothing("the restore drill runs in another region".into()),
        run => run,
    }
}

/// The schedule that moves a restore drill in progress on, every few minutes: its name contains
/// this (template: `<platform>-restore-progress-<region>`).
pub const PROGRESS_SCHEDULE: &str = "restore-progress";

fn run_anywhere(config: &SuiteConfig, signal: &Signal, now: DateTime<Utc>) -> Run {
    match &signal.kind {
        SignalKind::Schedule(tick) => {
            let name = tick.schedule.rsplit('/').next().unwrap_or_default();
            if name.contains(PROGRESS_SCHEDULE) {
                return Run::DrillProgress;
            }
            let drill = config.backup.drill.as_ref().is_some_and(|d| {
                if d.schedules.is_empty() {
                    name.contains("drill")
                } else {
                    d.schedules.iter().any(|s| s == name)
                }
            });
            if drill { Run::ChecksAndDrill } else { Run::Checks }
        }
        SignalKind::Operator(cmd) if cmd.command == OperatorCommandKind::VerifyNow => match cmd.authorize(config, signal.channel, now) {
            Ok(()) => Run::ChecksAndCommandedDrill,
            Err(refusal) => Run::Refused(format!("verify-now refused: {refusal}")),
        },
        SignalKind::Operator(cmd) => Run::Nothing(format!("{:?} is not a backup-verifier command", cmd.command)),
        _ => Run::Nothing("backup-verifier runs on schedules and verify-now commands only".into()),
    }
}

impl<S: StateStore, N: Notifier> Reaction for BackupVerifier<S, N> {
    type Store = S;
    type Error = VerifierError;
    const FUNCTION: Function = Function::BackupVerifier;

    fn core(&self) -> Core<'_, S> {
        Core::new(&self.config, &self.region, &self.store)
    }

    fn lease(&self, _signal: &Signal) -> String {
        "backup".to_owned()
    }

    /// The progress schedule ticks every few minutes: with no drill in progress it has nothing
    /// to do, and leaves no audit record (one read).
    async fn route(&self, signal: &Signal) -> Result<Option<Answer>, VerifierError> {
        let idle = run_for(&self.config, &self.region, signal, Utc::now()) == Run::DrillProgress
            && matches!(self.drill_doc().await?, None | Some((_, _, Ok(None))));
        Ok(idle.then(|| Answer::decided(&signal.key, DecisionName::NoAction, "no restore drill in progress")))
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), VerifierError> {
        self.verify(signal).await
    }
}

impl<S: StateStore, N: Notifier> BackupVerifier<S, N> {
    pub async fn handle(&self, payload: Value) -> Result<Value, VerifierError> {
        serve(self, &payload).await
    }

    /// One signal, exactly once.
    pub async fn react(&self, signal: &Signal) -> Result<Answer, VerifierError> {
        once(self, signal).await
    }

    /// Runs what the signal asks for (checks, a drill step, or nothing), then records it: the
    /// report's verdict, metrics, notification and documents when there is a report, and the
    /// audit record always.
    async fn verify(&self, signal: &Signal) -> Result<(String, Answer), VerifierError> {
        let started = std::time::Instant::now();
        let now = Utc::now();
        let run = run_for(&self.config, &self.region, signal, now);
        let mut record = AuditRecord::new(
            FUNCTION,
            self.region.as_str(),
            now,
            &signal.key,
            serde_json::to_value(signal).unwrap_or_default(),
            DecisionName::NoAction,
            "",
        );
        let mut m = Metrics::for_function(&self.config.platform, FUNCTION, self.region.as_str());
        let report = self.carry_out(&run, now, &mut record).await?;
        if let Some(report) = &report {
            self.conclude(&run, report, &mut record, &mut m).await?;
        }
        evidence::record(&self.store, &self.config.policy, &record, &mut m, started).await?;
        Ok((
            record.decision.to_string(),
            Answer::audited(&record)
                .with("status", report.as_ref().map(BackupReport::status))
                .with("report", &report),
        ))
    }

    /// The report of the run: the checks (none on the progress schedule) and a step of the
    /// restore drill. None when there is nothing to do or the command is refused; the record
    /// then says which, and why.
    async fn carry_out(&self, run: &Run, now: DateTime<Utc>, record: &mut AuditRecord) -> Result<Option<BackupReport>, VerifierError> {
        match run {
            Run::Nothing(why) | Run::Refused(why) => {
                record.decision = if matches!(run, Run::Refused(_)) {
                    DecisionName::Refused
                } else {
                    DecisionName::NoAction
                };
                record.reason = why.clone();
                Ok(None)
            }
            Run::Checks | Run::ChecksAndDrill | Run::ChecksAndCommandedDrill | Run::DrillProgress => {
                let mut report = if *run == Run::DrillProgress {
                    BackupReport {
                        at: now,
                        checks: vec![],
                        drill: None,
                        drill_progress: None,
                    }
                } else {
                    self.inspector.run(&self.config, &self.region).await
                };
                let start = match run {
                    Run::ChecksAndDrill => Start::Spaced,
                    Run::ChecksAndCommandedDrill => Start::Now,
                    _ => Start::No,
                };
                self.drill_turn(start, &mut report).await?;
                Ok(Some(report))
            }
        }
    }

    /// Records a report: the verdict on the audit record, the metrics, a notification on WARN
    /// or FAIL, the last report of the checks for the operator CLI, and the drill history.
    async fn conclude(&self, run: &Run, report: &BackupReport, record: &mut AuditRecord, m: &mut Metrics) -> Result<(), VerifierError> {
        let status = report.status();
        record.decision = DecisionName::Verified;
        record.reason = summary(report);
        record.outcome = if status == Status::Fail {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };
        report_metrics(m, report);
        if status >= Status::Warn {
            self.notify(report, status, record).await;
        }
        // The last report of the checks, for the operator CLI; last writer wins.
        if *run != Run::DrillProgress {
            self.store
                .replace_state(
                    resilience_core::documents::BACKUP_REPORT,
                    &serde_json::to_value(report).unwrap_or_default(),
                )
                .await?;
        }
        // Each drill run (restore, RPO probe) joins this region's history: the trend.
        evidence::record_drills(&self.store, &self.region, drills::records_of(&self.config, &self.region, report)).await?;
        Ok(())
    }

    /// Tells a person what failed or warned (critical on FAIL). The notification is an action
    /// of the record; one that could not be sent is also said in the record's reason.
    async fn notify(&self, report: &BackupReport, status: Status, record: &mut AuditRecord) {
        let n = Notification {
            severity: if status == Status::Fail {
                Severity::Critical
            } else {
                Severity::Warning
            },
            function: FUNCTION.into(),
            region: self.region.clone(),
            subject: format!("Backup verification {status:?}: {}", record.reason),
            summary: format!("{}\n\nAudit record {}.", failing(report).join("\n"), record.id),
            body: json!({ "report": report, "audit_id": record.id }),
        };
        let sent = evidence::notify(&self.notifier, &n).await;
        if sent.outcome == Outcome::Failed {
            record.reason.push_str(&format!(" (notification failed: {})", sent.detail));
        }
        record.actions.push(sent);
    }
}

/// The report's figures as EMF metrics: failed and warned checks always; the worst RPO, the
/// worst replication lag p99 and the restore time when the run measured them.
fn report_metrics(m: &mut Metrics, report: &BackupReport) {
    m.metric("FailedChecks", report.count(Status::Fail) as f64, Unit::Count).metric(
        "WarnedChecks",
        report.count(Status::Warn) as f64,
        Unit::Count,
    );
    if let Some(rpo) = report.worst_rpo_seconds() {
        m.metric("RpoSeconds", rpo, Unit::Seconds);
    }
    if let Some(worst) = report
        .checks
        .iter()
        .filter(|c| c.check == "replication-lag")
        .filter_map(|c| c.figure)
        .reduce(f64::max)
    {
        m.metric("ReplicationLagP99Millis", worst, Unit::Milliseconds);
    }
    if let Some(secs) = report.drill.as_ref().and_then(|d| d.restore_seconds) {
        m.metric("RestoreSeconds", secs, Unit::Seconds);
    }
}

/// One line per check, and for the restore drill, at WARN or worse.
fn failing(report: &BackupReport) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| c.status >= Status::Warn)
        .map(|c| format!("{} {} {}: {:?} {}", c.table, c.region, c.check, c.status, c.detail))
        .chain(
            report
                .drill
                .iter()
                .filter(|d| d.status >= Status::Warn)
                .map(|d| format!("restore drill of {}: {}", d.table, d.detail)),
        )
        .collect()
}

impl<S: StateStore, N: Notifier> BackupVerifier<S, N> {
    /// The restore drill's state document here: its name, its version and the drill in progress
    /// (Err: a document that is no drill's). None when drills run in another region.
    async fn drill_doc(&self) -> Result<Option<(String, u64, Result<Option<DrillState>, String>)>, VerifierError> {
        let Some(drill) = self.config.backup.drill.as_ref().filter(|d| d.region == self.region) else {
            return Ok(None);
        };
        let name = resilience_core::documents::restore_drill(&drill.table, drill.region.as_str());
        match documents::load::<DrillState, _>(&self.store, &name).await {
            Ok((drill, version)) => Ok(Some((name, version, Ok(drill)))),
            // Never written back: the drill's turn stops at an unreadable document.
            Err(StoreError::Corrupt { problem, .. }) => Ok(Some((name, 0, Err(problem)))),
            Err(e) => Err(e.into()),
        }
    }

    /// One step of the restore drill: the one in progress, or a new one when `start`. Its state
    /// is written back (null once it is over), so the next tick picks it up.
    async fn drill_turn(&self, start: Start, report: &mut BackupReport) -> Result<(), VerifierError> {
        let (Some(drill), Some((name, version, in_progress))) = (self.config.backup.drill.as_ref(), self.drill_doc().await?) else {
            return Ok(());
        };
        let in_progress = match in_progress {
            Ok(d) => d,
            // Never taken for "no drill": a new one would remove this one's scratch table.
            Err(e) => {
                report.drill_progress = Some(format!("the drill's state {name} is unreadable ({e}): no drill started"));
                return Ok(());
            }
        };
        let now = Utc::now();
        let started = resilience_core::documents::restore_drill_started(&drill.table, drill.region.as_str());
        let turn = match (in_progress, start) {
            (Some(state), _) => self.inspector.drill_advance(drill, state, now).await,
            (None, Start::No) => return Ok(()),
            (None, start) => {
                let (last, last_version) = documents::load::<LastStart, _>(&self.store, &started).await?;
                let min = chrono::Duration::hours(i64::try_from(drill.min_interval_hours).unwrap_or(i64::MAX));
                if let Some(last) = last.filter(|l| start == Start::Spaced && now - l.at < min) {
                    report.drill_progress = Some(format!(
                        "no drill started: the last one started at {}, less than {} h ago (backup.drill.min_interval_hours; a signed verify-now is not held to it)",
                        last.at.to_rfc3339(),
                        drill.min_interval_hours
                    ));
                    return Ok(());
                }
                let turn = self.inspector.drill_start(drill, now).await;
                if turn.state.is_some() {
                    let at = serde_json::to_value(LastStart { at: now }).unwrap_or_default();
                    self.store.put_state(&started, &at, last_version).await?;
                }
                turn
            }
        };
        let kept = turn
            .state
            .as_ref()
            .map_or(Value::Null, |s| serde_json::to_value(s).unwrap_or_default());
        self.store.put_state(&name, &kept, version).await?;
        report.drill = turn.report;
        report.drill_progress = Some(turn.progress);
        Ok(())
    }
}

/// Whether this run may start a restore drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    No,
    /// A schedule's tick: spaced by `backup.drill.min_interval_hours`.
    Spaced,
    /// A signed verify-now.
    Now,
}

/// When the last restore drill started.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LastStart {
    at: DateTime<Utc>,
}

fn summary(report: &BackupReport) -> String {
    let drill = report.drill.as_ref().map_or(String::new(), |d| {
        format!(
            "; drill {:?}{}",
            d.status,
            d.restore_seconds.map(|s| format!(" (restored in {s:.1} s)")).unwrap_or_default()
        )
    });
    if report.checks.is_empty() {
        return format!(
            "{:?}: restore drill step{}{}",
            report.status(),
            drill,
            report.drill_progress.as_ref().map(|p| format!("; {p}")).unwrap_or_default()
        );
    }
    format!(
        "{:?}: {} PASS, {} WARN, {} FAIL, {} SKIP{}{}",
        report.status(),
        report.count(Status::Pass),
        report.count(Status::Warn),
        report.count(Status::Fail),
        report.count(Status::Skip),
        report
            .worst_rpo_seconds()
            .map(|r| format!("; worst RPO {r:.0} s"))
            .unwrap_or_default(),
        drill
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience_core::signal::normalise;

    fn config() -> SuiteConfig {
        resilience_core::fixtures::example_config()
    }

    fn north() -> Region {
        "eu-north-1".parse().unwrap()
    }

    /// A fixture event after `edit`, signed by the test operator key when it is a command.
    fn signal(path: &str, edit: impl FnOnce(&mut Value)) -> Signal {
        let mut v: Value = resilience_core::fixtures::event(path);
        edit(&mut v);
        resilience_core::fixtures::sign_if_command(&mut v);
        normalise(&v, &config()).remove(0).signal.unwrap()
    }

    #[test]
    fn frequent_schedule_runs_checks_and_the_drill_schedule_runs_the_drill() {
        assert_eq!(
            run_for(&config(), &north(), &signal("scheduled-rule.json", |_| {}), Utc::now()),
            Run::Checks
        );
        assert_eq!(
            run_for(&config(), &north(), &signal("scheduler-schedule.json", |_| {}), Utc::now()),
            Run::ChecksAndDrill
        );
        // The drill region is eu-north-1: the other region's drill schedule only checks.
        assert_eq!(
            run_for(
                &config(),
                &"eu-south-1".parse().unwrap(),
                &signal("scheduler-schedule.json", |_| {}),
                Utc::now()
            ),
            Run::Checks
        );
    }

    #[test]
    fn the_progress_schedule_only_moves_a_drill_on_and_only_in_the_drill_region() {
        let tick = signal("scheduler-schedule.json", |v| {
            v["resources"] = json!(["arn:aws:scheduler:eu-north-1:123456789012:schedule/default/aworld-restore-progress-eu-north-1"]);
        });
        assert_eq!(run_for(&config(), &north(), &tick, Utc::now()), Run::DrillProgress);
        assert!(matches!(
            run_for(&config(), &"eu-south-1".parse().unwrap(), &tick, Utc::now()),
            Run::Nothing(_)
        ));
    }

    #[test]
    fn verify_now_runs_everything_for_allowed_operators_only() {
        let cmd = |v: &mut Value| v["detail-type"] = "Resilience Verify Now Command".into();
        assert_eq!(
            run_for(&config(), &north(), &signal("operator-failover.json", cmd), Utc::now()),
            Run::ChecksAndCommandedDrill
        );
        let forged = signal("operator-failover.json", |v| {
            cmd(v);
            v["source"] = "x".into();
        });
        assert!(matches!(run_for(&config(), &north(), &forged, Utc::now()), Run::Refused(_)));
    }

    #[test]
    fn alarms_do_not_start_a_verification() {
        assert!(matches!(
            run_for(&config(), &north(), &signal("eventbridge-alarm-metric.json", |_| {}), Utc::now()),
            Run::Nothing(_)
        ));
    }
}
