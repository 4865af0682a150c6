//! capacity-scaler: raise capacity where the load is going, restore the baseline afterwards.
//!
//! Signals and what they mean here:
//! - a saturation alarm (configured per resource) in ALARM → one step for its resources;
//! - the same alarm back to OK → restore, once OK has been sustained;
//! - an operator "failover" command → the configured failover steps in the region taking the
//!   traffic (dns-failover also calls the same code directly before it shifts);
//! - an operator "failback" command → restore the baselines in the other regions now;
//! - a scheduled tick → restore wherever OK has been sustained.
//!
//! Everything runs once per signal under the capacity lease; every change and every refusal
//! is audited, logged, counted (EMF) and notified.

use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use resilience_core::act::capacity::CapacityActuator;
use resilience_core::act::health::CloudWatchHealth;
use resilience_core::config::{CapacityResource, SuiteConfig};
use resilience_core::decide::capacity::{CapacityStep, Intent};
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::evidence::telemetry::Unit;
use resilience_core::handler::once::GuardError;
use resilience_core::handler::reaction::{Core, once};
use resilience_core::handler::{Answer, Reaction, Retryable, diagnostic, serve};
use resilience_core::model::AlarmState;
use resilience_core::model::RegionHealth;
use resilience_core::model::audit::{ActionRecord, AuditRecord, DecisionName, Outcome};
use resilience_core::model::{Function, Region};
use resilience_core::model::{Notification, Severity};
use resilience_core::scaling::{CAPACITY_LEASE, ScaleReport, scale_region};
use resilience_core::signal::{OperatorCommandKind, Signal, SignalError, SignalKind};
use resilience_core::store::{StateStore, StoreError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

pub const FUNCTION: &str = "capacity-scaler";

#[derive(Debug)]
pub struct CapacityScaler<S, N> {
    pub config: SuiteConfig,
    pub region: Region,
    pub store: S,
    pub notifier: N,
    pub alarms: CloudWatchHealth,
    pub actuator: CapacityActuator,
}

#[derive(Debug, thiserror::Error)]
pub enum ScalerError {
    #[error("{0} (no action taken blind; retry)")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("{failed} capacity change(s) failed: {detail}; safe to re-drive")]
    ActionFailed { failed: usize, detail: String },
    #[error("bad input: {0}")]
    BadInput(#[from] SignalError),
}

impl Retryable for ScalerError {
    fn kind(&self) -> &'static str {
        match self {
            ScalerError::Store(_) => "StoreUnavailable",
            ScalerError::Guard(g) => g.kind(),
            ScalerError::ActionFailed { .. } => "ActionFailed",
            ScalerError::BadInput(_) => "BadInput",
        }
    }

    fn is_retryable(&self) -> bool {
        !matches!(self, ScalerError::BadInput(_))
    }
}

impl From<ScalerError> for Diagnostic {
    fn from(e: ScalerError) -> Diagnostic {
        diagnostic(&e)
    }
}

/// What a signal asks of capacity, per region (pure).
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    /// Intents for some resources, by region; resources not named are left alone.
    Scale(BTreeMap<Region, BTreeMap<String, Intent>>),
    Refused(String),
    Nothing(String),
}

/// Reads the signal against the configuration (pure).
pub fn ask(config: &SuiteConfig, signal: &Signal, now: DateTime<Utc>) -> Ask {
    let resources = &config.capacity.resources;
    let by_region = |f: &dyn Fn(&CapacityResource) -> Option<Intent>| {
        let mut out: BTreeMap<Region, BTreeMap<String, Intent>> = BTreeMap::new();
        for r in resources {
            if let Some(i) = f(r) {
                out.entry(r.region.clone()).or_default().insert(r.id(), i);
            }
        }
        out
    };
    let scale = |m: BTreeMap<Region, BTreeMap<String, Intent>>, none: String| if m.is_empty() { Ask::Nothing(none) } else { Ask::Scale(m) };
    match &signal.kind {
        SignalKind::Alarm(a) => {
            let intent = match a.state {
                AlarmState::Alarm => Intent::Saturation,
                AlarmState::Ok => Intent::Recovery { ok_since: None },
                AlarmState::InsufficientData => return Ask::Nothing(format!("alarm {} has insufficient data", a.alarm_name)),
            };
            scale(
                by_region(&|r| (r.saturation_alarms.contains(&a.alarm_name) && r.region == a.region).then_some(intent)),
                format!("alarm {} is not a saturation alarm of any configured resource", a.alarm_name),
            )
        }
        SignalKind::Operator(cmd) => {
            if let Err(refusal) = cmd.authorize(config, signal.channel, now) {
                return Ask::Refused(format!("operator command {:?} refused: {refusal}", cmd.command));
            }
            match (cmd.command, &cmd.detail.region) {
                (OperatorCommandKind::Failover, Some(target)) => {
                    let steps = config.capacity.failover_steps;
                    scale(
                        by_region(&|r| (r.region == *target).then_some(Intent::Failover { steps })),
                        format!("no capacity configured in {target}"),
                    )
                }
                (OperatorCommandKind::Failback, Some(restored)) => scale(
                    by_region(&|r| (r.region != *restored).then_some(Intent::Failback)),
                    "no capacity configured outside the restored region".into(),
                ),
                (OperatorCommandKind::Failover | OperatorCommandKind::Failback, None) => Ask::Nothing("command names no region".into()),
                (other, _) => Ask::Nothing(format!("{other:?} is not a capacity command")),
            }
        }
        SignalKind::Schedule(_) => scale(
            by_region(&|_| Some(Intent::Recovery { ok_since: None })),
            "no capacity configured".into(),
        ),
        SignalKind::Health(_) => Ask::Nothing("AWS Health events do not change capacity".into()),
        SignalKind::Suspicious(_) => Ask::Nothing("suspicious-activity events are for user-throttle".into()),
    }
}

impl<S: StateStore, N: Notifier> Reaction for CapacityScaler<S, N> {
    type Store = S;
    type Error = ScalerError;
    const FUNCTION: Function = Function::CapacityScaler;

    fn core(&self) -> Core<'_, S> {
        Core::new(&self.config, &self.region, &self.store)
    }

    fn lease(&self, _signal: &Signal) -> String {
        CAPACITY_LEASE.to_owned()
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), ScalerError> {
        self.react_leased(signal, Instant::now()).await
    }
}

impl<S: StateStore, N: Notifier> CapacityScaler<S, N> {
    pub async fn handle(&self, payload: Value) -> Result<Value, ScalerError> {
        serve(self, &payload).await
    }

    /// One signal, exactly once.
    pub async fn react(&self, signal: &Signal) -> Result<Answer, ScalerError> {
        once(self, signal).await
    }

    /// Whether each resource's saturation alarms are all OK now, per region (DescribeAlarms).
    async fn saturation_ok(&self, region: &Region) -> BTreeMap<String, bool> {
        let resources: Vec<&CapacityResource> = self.config.capacity.resources.iter().filter(|r| r.region == *region).collect();
        let names: BTreeSet<String> = resources.iter().flat_map(|r| r.saturation_alarms.iter().cloned()).collect();
        if names.is_empty() {
            return BTreeMap::new();
        }
        let health: RegionHealth = self.alarms.read_alarms(region.clone(), names.into_iter().collect()).await.1;
        resources
            .iter()
            .map(|r| {
                let ok = health.reachable && r.saturation_alarms.iter().all(|a| health.alarms.get(a) == Some(&AlarmState::Ok));
                (r.id(), ok)
            })
            .collect()
    }

    /// Under the capacity lease: reads what the signal asks, scales (unless the kill switch is
    /// on), and records it: audit record, notification when anything changed, was refused or
    /// failed, and metrics. A failed change is an error after it is recorded: safe to re-drive.
    async fn react_leased(&self, signal: &Signal, started: Instant) -> Result<(String, Answer), ScalerError> {
        let now = Utc::now();
        let dry_run = self.config.dry_run;
        let decision = ask(&self.config, signal, now);
        let mut record = AuditRecord::new(
            FUNCTION,
            self.region.as_str(),
            now,
            &signal.key,
            serde_json::to_value(signal).unwrap_or_default(),
            DecisionName::NoAction,
            "",
        );
        record.dry_run = dry_run;
        let reports = self.carry_out(&decision, &mut record).await?;
        let tally = Tally::of(&reports);
        record.outcome = tally.outcome(dry_run);
        if tally.any() || record.decision == DecisionName::Refused {
            let sent = self.notify(&record, &reports, &tally).await;
            record.actions.push(sent);
        }
        let mut m = self.metrics();
        m.metric("CapacityChanges", tally.changed as f64, Unit::Count)
            .metric("CapacityRefusals", tally.refused as f64, Unit::Count)
            .metric("CapacityFailures", tally.failed as f64, Unit::Count);
        evidence::record(&self.store, &self.config.policy, &record, &mut m, started).await?;
        let result = Answer::audited(&record)
            .with("outcome", record.outcome)
            .with("dry_run", dry_run)
            .with("reports", &reports)
            .with("actions", &record.actions);
        if tally.failed > 0 {
            return Err(ScalerError::ActionFailed {
                failed: tally.failed,
                detail: record.reason,
            });
        }
        Ok((record.decision.to_string(), result))
    }

    /// Carries out the ask: nothing, a refusal, or the scaling of each region it names (none
    /// while the kill switch is on). The record gets the decision, the reason and the actions;
    /// the reports are by region.
    async fn carry_out(&self, decision: &Ask, record: &mut AuditRecord) -> Result<BTreeMap<Region, ScaleReport>, ScalerError> {
        let mut reports: BTreeMap<Region, ScaleReport> = BTreeMap::new();
        match decision {
            Ask::Nothing(why) => record.reason = why.clone(),
            Ask::Refused(why) => {
                record.decision = DecisionName::Refused;
                record.reason = why.clone();
            }
            Ask::Scale(_) if self.config.kill_switch => {
                record.reason = "kill switch is on: no capacity action".into();
            }
            Ask::Scale(plan) => {
                for (region, intents) in plan {
                    let ok = self.saturation_ok(region).await;
                    let report = scale_region(
                        &self.actuator,
                        &self.store,
                        &self.config,
                        region,
                        |r| intents.get(&r.id()).copied(),
                        &ok,
                        self.config.dry_run,
                    )
                    .await?;
                    reports.insert(region.clone(), report);
                }
                record.decision = scale_decision(&reports);
                record.reason = reason(&reports);
                record.actions = reports.values().flat_map(|r| r.actions.clone()).collect();
            }
        }
        Ok(reports)
    }

    /// The notification of a scaling: a warning when anything was refused or failed.
    async fn notify(&self, record: &AuditRecord, reports: &BTreeMap<Region, ScaleReport>, tally: &Tally) -> ActionRecord {
        let dry_run = record.dry_run;
        let Tally { changed, refused, failed } = *tally;
        let severity = if failed > 0 || refused > 0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let subject = format!(
            "{}capacity: {changed} change(s), {refused} refused, {failed} failed",
            if dry_run { "[DRY RUN] " } else { "" }
        );
        let n = Notification {
            severity,
            function: FUNCTION.into(),
            region: self.region.clone(),
            subject,
            summary: format!("{}.\nAudit record {}.", record.reason, record.id),
            body: json!({ "reports": reports, "audit_id": record.id, "dry_run": dry_run }),
        };
        evidence::notify(&self.notifier, &n).await
    }
}

/// The changes, refusals and failures of a run, over every region.
#[derive(Debug, Clone, Copy)]
struct Tally {
    changed: usize,
    refused: usize,
    failed: usize,
}

impl Tally {
    /// Counts every region's report.
    fn of(reports: &BTreeMap<Region, ScaleReport>) -> Tally {
        Tally {
            changed: reports.values().map(ScaleReport::changed).sum(),
            refused: reports.values().map(ScaleReport::refused).sum(),
            failed: reports.values().map(ScaleReport::failed).sum(),
        }
    }

    /// Anything a person should hear of: a change, a refusal or a failure.
    fn any(&self) -> bool {
        self.changed > 0 || self.refused > 0 || self.failed > 0
    }

    /// The run's outcome: any failure fails it; changes succeed (or are planned, in a dry run).
    fn outcome(&self, dry_run: bool) -> Outcome {
        match () {
            _ if self.failed > 0 => Outcome::Failed,
            _ if dry_run && self.changed > 0 => Outcome::Planned,
            _ if self.changed > 0 => Outcome::Succeeded,
            _ => Outcome::Skipped,
        }
    }
}

/// The decision the steps amount to: a scaling if any step changes capacity, else a refusal if
/// any step was refused, else no action.
fn scale_decision(reports: &BTreeMap<Region, ScaleReport>) -> DecisionName {
    let steps: Vec<&CapacityStep> = reports.values().flat_map(|r| r.outcomes.iter().map(|o| &o.step)).collect();
    if steps.iter().any(|s| s.target().is_some()) {
        DecisionName::Scale
    } else if steps.iter().any(|s| matches!(s, CapacityStep::Refused { .. })) {
        DecisionName::Refused
    } else {
        DecisionName::NoAction
    }
}

/// The reason of the record: each resource's step, by region.
fn reason(reports: &BTreeMap<Region, ScaleReport>) -> String {
    reports
        .iter()
        .flat_map(|(region, r)| {
            r.outcomes
                .iter()
                .map(move |o| format!("{region} {}: {}", o.resource, describe(&o.step)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe(step: &CapacityStep) -> String {
    match step {
        CapacityStep::Raise { from, to, clipped } => format!(
            "raise {} -> {}{}",
            from.min,
            to.min,
            clipped.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
        ),
        CapacityStep::Restore { from, to } => format!("restore {} -> {} (baseline)", from.min, to.min),
        CapacityStep::Unchanged { why } => format!("unchanged: {why}"),
        CapacityStep::Refused { why } => format!("refused: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience_core::signal::normalise;

    fn config() -> SuiteConfig {
        resilience_core::fixtures::example_config()
    }

    /// A fixture event after `edit`, signed by the test operator key when it is a command.
    fn signal(path: &str, edit: impl FnOnce(&mut Value)) -> Signal {
        let mut v: Value = resilience_core::fixtures::event(path);
        edit(&mut v);
        resilience_core::fixtures::sign_if_command(&mut v);
        normalise(&v, &config()).remove(0).signal.unwrap()
    }

    fn north() -> Region {
        "eu-north-1".parse().unwrap()
    }

    #[test]
    fn failover_command_asks_every_resource_of_the_target_region_for_the_failover_steps() {
        let Ask::Scale(plan) = ask(&config(), &signal("operator-failover.json", |_| {}), Utc::now()) else {
            panic!()
        };
        assert_eq!(plan.keys().collect::<Vec<_>>(), [&north()]);
        assert_eq!(plan[&north()].len(), 3);
        assert!(plan[&north()].values().all(|i| *i == Intent::Failover { steps: 2 }));
    }

    #[test]
    fn failback_command_restores_the_regions_that_took_the_load() {
        let s = signal("operator-failover.json", |v| {
            v["detail-type"] = "Resilience Failback Command".into();
            v["detail"]["region"] = "eu-south-1".into();
        });
        let Ask::Scale(plan) = ask(&config(), &s, Utc::now()) else {
            panic!()
        };
        assert_eq!(plan.keys().collect::<Vec<_>>(), [&north()]);
        assert!(plan[&north()].values().all(|i| *i == Intent::Failback));
    }

    #[test]
    fn saturation_alarm_asks_one_step_of_its_resources_only() {
        let s = signal("eventbridge-alarm-metric.json", |v| {
            v["detail"]["alarmName"] = "aworld-saturation-api-concurrency-eu-north-1".into();
            v["resources"] =
                serde_json::json!(["arn:aws:cloudwatch:eu-north-1:123456789012:alarm:aworld-saturation-api-concurrency-eu-north-1"]);
        });
        let Ask::Scale(plan) = ask(&config(), &s, Utc::now()) else {
            panic!()
        };
        assert_eq!(plan[&north()].len(), 2, "provisioned and reserved concurrency of the API");
        assert!(plan[&north()].values().all(|i| *i == Intent::Saturation));
    }

    #[test]
    fn health_alarms_and_unauthorised_commands_do_not_scale() {
        assert!(matches!(
            ask(&config(), &signal("eventbridge-alarm-metric.json", |_| {}), Utc::now()),
            Ask::Nothing(_)
        ));
        let s = signal("operator-failover.json", |v| v["source"] = "someone.else".into());
        assert!(matches!(ask(&config(), &s, Utc::now()), Ask::Refused(_)));
    }
}
