//! dns-failover's production reaction, in four steps: read (the DNS state, the outbox, every
//! region's health, an AWS Health claim checked with the Health API), judge
//! (`failover::judge`: observe, decide, inconclusive, which region acts), carry out (capacity
//! first, then the switches), record (audit, state with its outbox, notification, answer).

use crate::{FUNCTION, Failover, FailoverError};
use chrono::{DateTime, Utc};
use resilience_core::act::health::HealthReader;
use resilience_core::act::health_api::HealthCheck;
use resilience_core::decide::failover::{self, Decision, DnsState, Judgement};
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::evidence::telemetry::{Metrics, Unit};
use resilience_core::handler::Answer;
use resilience_core::model::audit::{ActionRecord, AuditRecord, DecisionName, Outcome};
use resilience_core::model::{HealthView, Notification, Region};
use resilience_core::scaling::scale_before_shift;
use resilience_core::signal::{HealthStatus, Signal, SignalKind};
use resilience_core::store::StateStore;
use serde_json::Value;
use std::time::Instant;

/// What the reaction read before it judged.
struct Read {
    /// This region's copy as stored, and its version.
    stored: DnsState,
    version: u64,
    /// Every region's copies merged, after the queued notifications were sent.
    state: DnsState,
    health: HealthView,
    actions: Vec<ActionRecord>,
    now: DateTime<Utc>,
    /// An AWS Health claim the Health API denies: refused before any decision.
    refusal: Option<String>,
}

/// What carrying a decision out did.
struct Done {
    outcome: Outcome,
    next: DnsState,
    /// A switch refused the change for good (an ARC safety rule): recorded and announced once,
    /// not retried, since a retry would meet the same refusal.
    refused: bool,
    /// When the switches returned: a practice drill times its phases from here.
    switched_at: DateTime<Utc>,
}

impl<S: StateStore, N: Notifier, H: HealthReader> Failover<S, N, H> {
    /// Read, judge, carry out, record: one signal, under the lease.
    pub(crate) async fn react_leased(
        &self,
        signal: &Signal,
        metrics: &mut Metrics,
        started: Instant,
    ) -> Result<(String, Answer), FailoverError> {
        let (mut read, marked) = self.read(signal).await?;
        let judged = failover::judge(
            &self.config,
            &read.state,
            marked.as_ref().unwrap_or(signal),
            &read.health,
            (&self.region, read.now),
            read.refusal.take(),
        );
        metrics.metric("DecisionMillis", started.elapsed().as_secs_f64() * 1000.0, Unit::Milliseconds);
        if !judged.unreadable.is_empty() {
            return Err(self.inconclusive(signal, &judged, read, metrics, started).await);
        }
        let Judgement { observed, decision, .. } = judged;
        let drift_notice = self
            .drift_check(signal, &observed, &read.health, &decision, &mut read.actions)
            .await?;
        let acted = Instant::now();
        let done = self.carry_out(&decision, &observed, read.now, &mut read.actions).await;
        if decision.moves_traffic() && !self.config.dry_run {
            count_switch(metrics, acted, done.outcome, &read.actions);
        }
        self.record(signal, read, (decision, done, drift_notice), metrics, started).await
    }

    /// The inputs: the DNS state (queued notifications sent first), every region's health, and
    /// an AWS Health claim (open or closed) checked with the Health API: whoever can invoke this
    /// function can hand it one. The signal comes back marked when it counts unconfirmed.
    async fn read(&self, signal: &Signal) -> Result<(Read, Option<Signal>), FailoverError> {
        let (stored, version, mut state) =
            resilience_core::documents::dns::read(&self.config, &self.region, &self.store, &self.peers).await?;
        let mut actions = self.flush_outbox(&mut state).await;
        let health: HealthView = self.health.read(&self.config).await;
        let now = Utc::now();
        let mut marked = None;
        let refusal = match &signal.kind {
            SignalKind::Health(h) if matches!(h.status, HealthStatus::Open | HealthStatus::Closed) => {
                let checked = self.health_api.confirm(h).await;
                let counted = !self.config.health_events.confirm || !matches!(checked, HealthCheck::Unconfirmable(_));
                actions.push(health_check_record(&h.event_arn, &checked, counted));
                match checked {
                    HealthCheck::Denied(why) => Some(format!("AWS Health event refused: {why}")),
                    HealthCheck::Unconfirmable(why) if !counted => Some(format!(
                        "AWS Health event not counted: the Health API cannot confirm it ({why}) and health_events.confirm is on"
                    )),
                    HealthCheck::Unconfirmable(_) => {
                        let mut taken = signal.clone();
                        if let SignalKind::Health(h) = &mut taken.kind {
                            h.taken_as_it_came = true;
                        }
                        marked = Some(taken);
                        None
                    }
                    HealthCheck::Confirmed => None,
                }
            }
            _ => None,
        };
        Ok((
            Read {
                stored,
                version,
                state,
                health,
                actions,
                now,
                refusal,
            },
            marked,
        ))
    }

    /// The periodic re-check also compares each switch with the recorded state; one region
    /// checks, the first serving one by priority (each region's tick would otherwise announce
    /// the same drift).
    async fn drift_check(
        &self,
        signal: &Signal,
        observed: &DnsState,
        health: &HealthView,
        decision: &Decision,
        actions: &mut Vec<ActionRecord>,
    ) -> Result<Option<Notification>, FailoverError> {
        let checker = self
            .config
            .regions_by_priority()
            .into_iter()
            .find(|r| !observed.drained.contains(*r));
        if !matches!(signal.kind, SignalKind::Schedule(_)) || decision.moves_traffic() || checker != Some(&self.region) {
            return Ok(None);
        }
        let (checked, notice) = self.check_drift(observed, health).await?;
        actions.extend(checked);
        Ok(notice)
    }

    /// Capacity first (a failover's target), then the switches; in a dry run, the plan only.
    async fn carry_out(&self, decision: &Decision, observed: &DnsState, now: DateTime<Utc>, actions: &mut Vec<ActionRecord>) -> Done {
        let dry_run = self.config.dry_run;
        if let Decision::Failover(plan) = decision {
            actions.extend(self.scale_before_shift(&plan.target, dry_run).await);
        }
        let (outcome, next, refused) = match decision {
            Decision::Failover(_) | Decision::Failback(_) if dry_run => {
                actions.push(ActionRecord {
                    action: "dry-run".into(),
                    outcome: Outcome::Planned,
                    detail: format!("would {}", decision.why()),
                    millis: 0,
                    confirm_ms: None,
                });
                (Outcome::Planned, observed.clone(), false)
            }
            Decision::Failover(plan) => {
                let switched = self.switches.drain(&self.config.dns.strategies, &plan.drain).await;
                let (refused, outcome) = (switched.refused, switched.outcome());
                actions.extend(switched.records);
                let mut next = observed.clone();
                // Applied, even unconfirmed, counts as drained: it may take effect at any moment,
                // so the last-region rule must hold and a failback must undo it.
                if !switched.applied.is_empty() {
                    next = failover::apply(observed, decision, now);
                    failover::record_switches(&mut next, &plan.drain, switched.applied);
                }
                (outcome, next, refused)
            }
            Decision::Failback(plan) => {
                let holding = failover::holding(&self.config, observed, &plan.region);
                let switched = self.switches.restore(&holding, &plan.region).await;
                let (refused, outcome) = (switched.refused, switched.outcome());
                actions.extend(switched.records);
                let mut next = if switched.confirmed {
                    failover::apply(observed, decision, now)
                } else {
                    observed.clone()
                };
                let still = if switched.confirmed {
                    Default::default()
                } else {
                    switched.still_drained
                };
                failover::record_switches(&mut next, &plan.region, still);
                // A failback not seen to take effect has not restored the region.
                let outcome = if outcome == Outcome::Unconfirmed {
                    Outcome::Failed
                } else {
                    outcome
                };
                (outcome, next, refused)
            }
            Decision::Freeze { .. } | Decision::Unfreeze { .. } | Decision::ClearHealthIssues { .. } => {
                (Outcome::Succeeded, failover::apply(observed, decision, now), false)
            }
            Decision::Refused { .. } | Decision::NoAction(_) => (Outcome::Skipped, observed.clone(), false),
        };
        Done {
            outcome,
            next,
            refused,
            switched_at: Utc::now(),
        }
    }

    /// Evidence first, announcement last: the audit record, then the state with the
    /// notification queued in its outbox, then the notification. A fault at any step leaves
    /// what was done on record; the re-drive re-reads the switches (already in place) and
    /// announces once, because nothing was announced before everything was saved.
    async fn record(
        &self,
        signal: &Signal,
        read: Read,
        (decision, done, drift_notice): (Decision, Done, Option<Notification>),
        metrics: &mut Metrics,
        started: Instant,
    ) -> Result<(String, Answer), FailoverError> {
        let dry_run = self.config.dry_run;
        let mut record = self.audit_record(signal, read.now, decision.name(), decision.why());
        record.dry_run = dry_run;
        record.actions = read.actions;
        let notification = self.notification_for(&decision, done.outcome, dry_run, done.refused, &read.health, &record.id);
        if notification.is_some() {
            record.actions.push(ActionRecord {
                action: "sns:Publish".into(),
                outcome: Outcome::Planned,
                detail: "queued with the state, sent once it is saved".into(),
                millis: 0,
                confirm_ms: None,
            });
        }
        record.outcome = done.outcome;
        evidence::record(&self.store, &self.config.policy, &record, metrics, started).await?;
        let mut next = done.next;
        next.outbox.extend(notification);
        next.outbox.extend(drift_notice);
        let pending = self
            .save_and_announce(&read.stored, read.version, next, &mut record.actions)
            .await?;
        let answer = Answer::decided(&signal.key, decision.clone(), decision.why())
            .audit_id(&record.id)
            .with("outcome", done.outcome)
            .with("dry_run", dry_run)
            .with("actions", &record.actions)
            .with("decided_at", read.now)
            .with("switched_at", done.switched_at);
        if done.outcome == Outcome::Failed && !done.refused {
            let detail: Vec<String> = record.actions.iter().map(|a| format!("{}: {}", a.action, a.detail)).collect();
            return Err(FailoverError::ActionFailed {
                what: decision.why(),
                detail: detail.join("; "),
            });
        }
        if let Some(message) = pending {
            return Err(FailoverError::NotificationPending {
                what: decision.name().to_string(),
                message,
            });
        }
        Ok((decision.name().to_string(), answer))
    }

    /// Writes the state with its outbox, then sends the outbox; the first send that failed,
    /// if any (the notification stays queued for the next invocation).
    async fn save_and_announce(
        &self,
        stored: &DnsState,
        version: u64,
        mut next: DnsState,
        actions: &mut Vec<ActionRecord>,
    ) -> Result<Option<String>, FailoverError> {
        let state_name = self.state_name();
        let mut version = version;
        if next != *stored {
            version = self
                .store
                .put_state(&state_name, &serde_json::to_value(&next).unwrap_or(Value::Null), version)
                .await?;
        }
        if next.outbox.is_empty() {
            return Ok(None);
        }
        let sent = self.flush_outbox(&mut next).await;
        let pending = sent.iter().find(|a| a.outcome == Outcome::Failed).map(|a| a.detail.clone());
        actions.extend(sent);
        // Sent ones leave the outbox. If this write fails they go out once more with the
        // next invocation (at least once): the audit id in each message tells copies apart.
        if let Err(e) = self
            .store
            .put_state(&state_name, &serde_json::to_value(&next).unwrap_or(Value::Null), version)
            .await
        {
            tracing::warn!(error = %e, "outbox not cleared; its notifications may be sent again");
        }
        Ok(pending)
    }

    /// Records a decision that rests on unreadable health, through the evidence writer (audit,
    /// decision log line, metrics), and gives the event back for a retry.
    async fn inconclusive(
        &self,
        signal: &Signal,
        judged: &Judgement,
        read: Read,
        metrics: &mut Metrics,
        started: Instant,
    ) -> FailoverError {
        let regions = judged.unreadable.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let why = format!(
            "{}; the health of {regions} could not be read, so the event is retried",
            judged.decision.why()
        );
        let mut record = self.audit_record(signal, read.now, DecisionName::Inconclusive, why);
        record.actions = read.actions;
        record.outcome = Outcome::Skipped;
        if let Err(e) = evidence::record(&self.store, &self.config.policy, &record, metrics, started).await {
            return e.into();
        }
        // Queued notifications sent at the start leave the outbox.
        if read.state != read.stored
            && let Err(e) = self
                .store
                .put_state(
                    &self.state_name(),
                    &serde_json::to_value(&read.state).unwrap_or(Value::Null),
                    read.version,
                )
                .await
        {
            return e.into();
        }
        FailoverError::HealthUnreadable {
            decision: judged.decision.why(),
            regions,
        }
    }

    pub(crate) fn audit_record(&self, signal: &Signal, now: chrono::DateTime<Utc>, decision: DecisionName, why: String) -> AuditRecord {
        // A practice name's decisions say so: they moved no real traffic.
        let why = if self.rehearsal { format!("[practice drill] {why}") } else { why };
        AuditRecord::new(
            FUNCTION,
            self.region.as_str(),
            now,
            &signal.key,
            serde_json::to_value(signal).unwrap_or(Value::Null),
            decision,
            why,
        )
    }

    /// Raises the target region's capacity first (principle 5). A failure is recorded and the
    /// failover goes on: an under-provisioned healthy region beats a failed one.
    async fn scale_before_shift(&self, target: &Region, dry_run: bool) -> Vec<ActionRecord> {
        if !self.config.capacity.resources.iter().any(|r| r.region == *target) {
            return vec![];
        }
        let started = Instant::now();
        let millis = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match scale_before_shift(&self.capacity, &self.store, &self.config, target, dry_run).await {
            Ok(report) => {
                let mut records = vec![ActionRecord {
                    action: format!("capacity: scale {target} before shift"),
                    outcome: if dry_run {
                        Outcome::Planned
                    } else if report.all_confirmed() && report.failed() == 0 {
                        Outcome::Succeeded
                    } else {
                        Outcome::Failed
                    },
                    detail: format!(
                        "{} raised, {} refused, {} failed; confirmed by read-back: {}",
                        report.changed(),
                        report.refused(),
                        report.failed(),
                        report.all_confirmed()
                    ),
                    millis: millis(),
                    confirm_ms: None,
                }];
                records.extend(report.actions);
                records
            }
            Err(e) => vec![ActionRecord {
                action: format!("capacity: scale {target} before shift"),
                outcome: Outcome::Failed,
                detail: format!("{e}; shifting without confirmed capacity"),
                millis: millis(),
                confirm_ms: None,
            }],
        }
    }
}

/// The Health API's answer to an AWS Health claim, as an action of the audit record.
fn health_check_record(event_arn: &str, checked: &HealthCheck, counted: bool) -> ActionRecord {
    ActionRecord {
        action: format!("health:DescribeEvents {event_arn}"),
        outcome: match checked {
            HealthCheck::Unconfirmable(_) => Outcome::Unconfirmed,
            _ => Outcome::Succeeded,
        },
        detail: match checked {
            HealthCheck::Confirmed => "confirmed by AWS Health: same service, category, region and status".to_owned(),
            HealthCheck::Denied(why) => why.clone(),
            HealthCheck::Unconfirmable(why) if counted => {
                format!("not confirmable, taken as it came (health_events.confirm is off): {why}")
            }
            HealthCheck::Unconfirmable(why) => format!("not confirmable, not counted: {why}"),
        },
        millis: 0,
        confirm_ms: None,
    }
}

/// A traffic switch's figures: how long it took, Route 53's INSYNC wait (control plane), and
/// whether it moved traffic, failed or was not confirmed.
fn count_switch(metrics: &mut Metrics, acted: Instant, outcome: Outcome, actions: &[ActionRecord]) {
    metrics.metric("ActionMillis", acted.elapsed().as_secs_f64() * 1000.0, Unit::Milliseconds);
    if let Some(a) = actions
        .iter()
        .find(|a| a.action.starts_with("route53:ChangeResourceRecordSets") && a.outcome == Outcome::Succeeded)
    {
        metrics.metric("InsyncMillis", a.millis as f64, Unit::Milliseconds);
    }
    let name = match outcome {
        Outcome::Failed => "ActionsFailed",
        Outcome::Unconfirmed => "ActionsUnconfirmed",
        _ => "TrafficMoves",
    };
    metrics.metric(name, 1.0, Unit::Count);
}
