//! dns-failover: parse → claim → lease → read → decide → act → record.
//!
//! Every signal is claimed by its idempotency key and handled under one lease per protected DNS
//! name, so duplicates, retries and concurrent deliveries make one change and one notification.
//! The decision itself is `resilience_core::decide::failover::decide` (pure); this module only carries
//! it out and leaves evidence: an audit record, one JSON log line, EMF metrics and, where a
//! person must know, an SNS notification.

use chrono::Utc;
use lambda_runtime::Diagnostic;
use resilience_core::act::capacity::CapacityActuator;
use resilience_core::act::health::HealthReader;
use resilience_core::act::health_api::{HealthApi, HealthCheck};
use resilience_core::act::traffic::TrafficSwitches;
use resilience_core::config::Strategy;
use resilience_core::config::SuiteConfig;
use resilience_core::decide::failover::{self, Decision, DnsState};
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::evidence::telemetry::{Metrics, Unit};
use resilience_core::handler::once::{self, GuardError};
use resilience_core::handler::reaction;
use resilience_core::handler::{Answer, Reaction, Retryable, diagnostic, serve};
use resilience_core::model::HealthView;
use resilience_core::model::audit::{ActionRecord, AuditRecord, DecisionName, Outcome};
use resilience_core::model::{Function, Region};
use resilience_core::model::{Notification, Severity};
use resilience_core::scaling::scale_before_shift;
use resilience_core::signal::{HealthStatus, Signal, SignalError, SignalKind};
use resilience_core::store::{Claim, StateStore, StoreError};
use serde_json::{Value, json};
use std::time::Instant;

pub mod drill;

pub const FUNCTION: &str = Function::DnsFailover.as_str();

/// Everything the handler needs, built once at cold start.
#[derive(Debug)]
pub struct Failover<S, N, H> {
    pub config: SuiteConfig,
    pub region: Region,
    pub store: S,
    /// The state table in each other region (the same global table, read there: each region's
    /// copy of the DNS state is freshest in its home region).
    pub peers: Vec<(Region, S)>,
    pub notifier: N,
    pub health: H,
    pub switches: TrafficSwitches,
    /// Scale before shift: raises the target region's capacity before traffic moves.
    pub capacity: CapacityActuator,
    /// Confirms an AWS Health "open" event before it counts.
    pub health_api: HealthApi,
    /// The practice failover drill's own instance (the practice configuration), when configured.
    pub practice: Option<Box<drill::Practice<S, N, H>>>,
    /// This is that instance: it reacts for the practice name only.
    pub rehearsal: bool,
}

impl<S: StateStore + Clone, N: Notifier + Clone, H: HealthReader + Clone> Failover<S, N, H> {
    /// Adds the practice drill's instance when `failover_drill` is configured: the same parts,
    /// the practice configuration, switches for the practice name.
    pub fn with_practice(mut self, clients: &resilience_core::aws::clients::AwsClients) -> Self {
        if let Some(config) = self.config.practice() {
            let run = Failover {
                switches: TrafficSwitches::new(&config, clients),
                config,
                region: self.region.clone(),
                store: self.store.clone(),
                peers: self.peers.clone(),
                notifier: self.notifier.clone(),
                health: self.health.clone(),
                capacity: self.capacity.clone(),
                health_api: self.health_api.clone(),
                practice: None,
                rehearsal: true,
            };
            self.practice = Some(Box::new(drill::Practice {
                run,
                api: resilience_core::act::practice::PracticeApi::new(clients),
            }));
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error("{0} (no action taken blind; retry)")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("every strategy failed to {what}: {detail}; state unchanged, safe to re-drive")]
    ActionFailed { what: String, detail: String },
    #[error("{what} done, but its notification could not be sent ({message}); queued, retry to send")]
    NotificationPending { what: String, message: String },
    #[error("{decision}, but the health of {regions} could not be read: inconclusive, retry")]
    HealthUnreadable { decision: String, regions: String },
    #[error("bad input: {0}")]
    BadInput(#[from] SignalError),
}

impl Retryable for FailoverError {
    fn kind(&self) -> &'static str {
        match self {
            FailoverError::Store(_) => "StoreUnavailable",
            FailoverError::Guard(g) => g.kind(),
            FailoverError::ActionFailed { .. } => "ActionFailed",
            FailoverError::NotificationPending { .. } => "NotificationPending",
            FailoverError::HealthUnreadable { .. } => "HealthUnreadable",
            FailoverError::BadInput(_) => "BadInput",
        }
    }

    fn is_retryable(&self) -> bool {
        !matches!(self, FailoverError::BadInput(_))
    }
}

impl From<FailoverError> for Diagnostic {
    fn from(e: FailoverError) -> Diagnostic {
        diagnostic(&e)
    }
}

impl<S: StateStore, N: Notifier, H: HealthReader> Reaction for Failover<S, N, H> {
    type Store = S;
    type Error = FailoverError;
    const FUNCTION: Function = Function::DnsFailover;

    fn config(&self) -> &SuiteConfig {
        &self.config
    }

    fn region(&self) -> &Region {
        &self.region
    }

    fn store(&self) -> &S {
        &self.store
    }

    /// Claims and the lease are this region's: the table is a global table, and a claim or
    /// lease replicated from the other region must not stop this one deciding (whether it acts
    /// is settled by `failover::for_this_region`).
    fn claimant(&self) -> String {
        format!("{FUNCTION}@{}", self.region)
    }

    fn lease(&self, _signal: &Signal) -> String {
        self.state_name()
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), FailoverError> {
        let mut metrics = Reaction::metrics(self);
        self.react_leased(signal, &mut metrics, Instant::now()).await
    }
}

/// dns-failover's router: the practice drill's signals (its schedule, its trigger alarms) go to
/// the drill's handler ([`drill`]), every other signal to production's reaction. The practice
/// instance reacts through [`Failover`] itself, never through the router.
#[derive(Debug)]
pub struct Router<'a, S, N, H>(pub &'a Failover<S, N, H>);

impl<S: StateStore, N: Notifier, H: HealthReader> Reaction for Router<'_, S, N, H> {
    type Store = S;
    type Error = FailoverError;
    const FUNCTION: Function = Function::DnsFailover;

    fn config(&self) -> &SuiteConfig {
        &self.0.config
    }

    fn region(&self) -> &Region {
        &self.0.region
    }

    fn store(&self) -> &S {
        &self.0.store
    }

    fn claimant(&self) -> String {
        self.0.claimant()
    }

    fn lease(&self, signal: &Signal) -> String {
        self.0.lease(signal)
    }

    async fn route(&self, signal: &Signal) -> Result<Option<Answer>, FailoverError> {
        match self.0.drill_role(signal) {
            Some(role) => self.0.drill(role, signal).await.map(Some),
            None => Ok(None),
        }
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), FailoverError> {
        Reaction::react(self.0, signal).await
    }
}

impl<S: StateStore, N: Notifier, H: HealthReader> Failover<S, N, H> {
    /// This region's copy of the DNS state; every region's function writes only its own.
    fn state_name(&self) -> String {
        resilience_core::documents::dns::copy_name(&self.config, &self.region)
    }

    /// Handles one Lambda payload (one event, or an SNS / SQS batch).
    pub async fn handle(&self, payload: Value) -> Result<Value, FailoverError> {
        serve(&Router(self), &payload).await
    }

    /// One signal, exactly once, through the router.
    pub async fn react(&self, signal: &Signal) -> Result<Answer, FailoverError> {
        reaction::once(&Router(self), signal).await
    }

    async fn react_leased(&self, signal: &Signal, metrics: &mut Metrics, started: Instant) -> Result<(String, Answer), FailoverError> {
        let state_name = self.state_name();
        let (stored, version, view) = resilience_core::documents::dns::read(&self.config, &self.region, &self.store, &self.peers).await?;
        // Notifications a faulted invocation left queued go out first.
        let mut state = view;
        let mut actions = self.flush_outbox(&mut state).await;

        let health: HealthView = self.health.read(&self.config).await;
        let now = Utc::now();
        // An AWS Health "open" event counts only if the Health API does not deny it: whoever
        // can invoke this function can hand it one.
        let denied = match &signal.kind {
            SignalKind::Health(h) if h.status == HealthStatus::Open => {
                let checked = self.health_api.confirm(&h.event_arn).await;
                actions.push(ActionRecord {
                    action: format!("health:DescribeEvents {}", h.event_arn),
                    outcome: match checked {
                        HealthCheck::Unconfirmable(_) => Outcome::Unconfirmed,
                        _ => Outcome::Succeeded,
                    },
                    detail: match &checked {
                        HealthCheck::Confirmed => "open in AWS Health".to_owned(),
                        HealthCheck::Denied(why) => why.clone(),
                        HealthCheck::Unconfirmable(why) => format!("not confirmable, taken as it came: {why}"),
                    },
                    millis: 0,
                    confirm_ms: None,
                });
                match checked {
                    HealthCheck::Denied(why) => Some(why),
                    _ => None,
                }
            }
            _ => None,
        };
        let (observed, decision) = match denied {
            Some(why) => (
                state.clone(),
                Decision::Refused {
                    why: format!("AWS Health event refused: {why}"),
                },
            ),
            None => {
                let observed = failover::observe(&self.config, &state, signal, &health, now);
                let decision = failover::decide(&self.config, &observed, signal, &health, now);
                (observed, decision)
            }
        };
        metrics.metric("DecisionMillis", started.elapsed().as_secs_f64() * 1000.0, Unit::Milliseconds);
        let unreadable = failover::inconclusive(&self.config, &observed, signal, &health, now, &decision);
        if !unreadable.is_empty() {
            return Err(self
                .inconclusive(signal, &decision, &unreadable, actions, (&stored, &state, version), now)
                .await);
        }
        let decision = failover::for_this_region(&self.config, &observed, signal, &health, &self.region, decision);
        // The periodic re-check also compares each switch with the recorded state.
        let mut drift_notice = None;
        // One region checks: the first serving one by priority (each region's tick would
        // otherwise announce the same drift).
        let checker = self
            .config
            .regions_by_priority()
            .into_iter()
            .find(|r| !observed.drained.contains(*r));
        if matches!(signal.kind, SignalKind::Schedule(_)) && !decision.moves_traffic() && checker == Some(&self.region) {
            let (checked, notice) = self.check_drift(&observed).await?;
            actions.extend(checked);
            drift_notice = notice;
        }

        let dry_run = self.config.dry_run;
        let acted = Instant::now();
        if let Decision::Failover(plan) = &decision {
            actions.extend(self.scale_before_shift(&plan.target, dry_run).await);
        }
        // A switch refused the change for good (an ARC safety rule): recorded and announced once,
        // not retried, since a retry would meet the same refusal.
        let mut refused = false;
        let (outcome, next) = match &decision {
            Decision::Failover(_) | Decision::Failback(_) if dry_run => {
                actions.push(ActionRecord {
                    action: "dry-run".into(),
                    outcome: Outcome::Planned,
                    detail: format!("would {}", decision.why()),
                    millis: 0,
                    confirm_ms: None,
                });
                (Outcome::Planned, observed.clone())
            }
            Decision::Failover(plan) => {
                let switched = self.switches.drain(&self.config.dns.strategies, &plan.drain).await;
                refused = switched.refused;
                let outcome = switched.outcome();
                actions.extend(switched.records);
                let mut next = observed.clone();
                // Applied, even unconfirmed, counts as drained: it may take effect at any moment,
                // so the last-region rule must hold and a failback must undo it.
                if !switched.applied.is_empty() {
                    next = failover::apply(&observed, &decision, now);
                    failover::record_switches(&mut next, &plan.drain, switched.applied);
                }
                (outcome, next)
            }
            Decision::Failback(plan) => {
                let holding = failover::holding(&self.config, &observed, &plan.region);
                let switched = self.switches.restore(&holding, &plan.region).await;
                refused = switched.refused;
                let outcome = switched.outcome();
                actions.extend(switched.records);
                let mut next = observed.clone();
                if switched.confirmed {
                    next = failover::apply(&observed, &decision, now);
                }
                failover::record_switches(
                    &mut next,
                    &plan.region,
                    if switched.confirmed {
                        Default::default()
                    } else {
                        switched.still_drained
                    },
                );
                (
                    if outcome == Outcome::Unconfirmed {
                        Outcome::Failed
                    } else {
                        outcome
                    },
                    next,
                )
            }
            Decision::Freeze { .. } | Decision::Unfreeze { .. } => (Outcome::Succeeded, failover::apply(&observed, &decision, now)),
            Decision::Refused { .. } | Decision::NoAction(_) => (Outcome::Skipped, observed.clone()),
        };
        // When the switches returned: a practice drill times its phases from here.
        let switched_at = Utc::now();
        if decision.moves_traffic() && !dry_run {
            metrics.metric("ActionMillis", acted.elapsed().as_secs_f64() * 1000.0, Unit::Milliseconds);
            // Control plane only: submit + GetChange polling until INSYNC.
            if let Some(a) = actions
                .iter()
                .find(|a| a.action.starts_with("route53:ChangeResourceRecordSets") && a.outcome == Outcome::Succeeded)
            {
                metrics.metric("InsyncMillis", a.millis as f64, Unit::Milliseconds);
            }
            metrics.metric(
                match outcome {
                    Outcome::Failed => "ActionsFailed",
                    Outcome::Unconfirmed => "ActionsUnconfirmed",
                    _ => "TrafficMoves",
                },
                1.0,
                Unit::Count,
            );
        }

        let mut record = self.audit_record(signal, now, decision.name(), decision.why());
        record.dry_run = dry_run;
        let mut next = next;
        // Evidence first, announcement last: the audit record, then the state with the
        // notification queued in its outbox, then the notification. A fault at any step leaves
        // what was done on record; the re-drive re-reads the switches (already in place) and
        // announces once, because nothing was announced before everything was saved.
        let notification = self.notification_for(&decision, outcome, dry_run, refused, &health, &record.id);
        if notification.is_some() {
            actions.push(ActionRecord {
                action: "sns:Publish".into(),
                outcome: Outcome::Planned,
                detail: "queued with the state, sent once it is saved".into(),
                millis: 0,
                confirm_ms: None,
            });
        }
        record.actions = actions;
        record.outcome = outcome;
        evidence::record(&self.store, &self.config.policy, &record, metrics, started).await?;
        next.outbox.extend(notification);
        next.outbox.extend(drift_notice);
        let mut version = version;
        if next != stored {
            version = self
                .store
                .put_state(&state_name, &serde_json::to_value(&next).unwrap_or(Value::Null), version)
                .await?;
        }
        let mut pending = None;
        if !next.outbox.is_empty() {
            let sent = self.flush_outbox(&mut next).await;
            pending = sent.iter().find(|a| a.outcome == Outcome::Failed).map(|a| a.detail.clone());
            record.actions.extend(sent);
            // Sent ones leave the outbox. If this write fails they go out once more with the
            // next invocation (at least once): the audit id in each message tells copies apart.
            if let Err(e) = self
                .store
                .put_state(&state_name, &serde_json::to_value(&next).unwrap_or(Value::Null), version)
                .await
            {
                tracing::warn!(error = %e, "outbox not cleared; its notifications may be sent again");
            }
        }
        let result = Answer::decided(&signal.key, decision.clone(), decision.why())
            .audit_id(&record.id)
            .with("outcome", outcome)
            .with("dry_run", dry_run)
            .with("actions", &record.actions)
            .with("decided_at", now)
            .with("switched_at", switched_at);
        if outcome == Outcome::Failed && !refused {
            return Err(FailoverError::ActionFailed {
                what: decision.why(),
                detail: record
                    .actions
                    .iter()
                    .map(|a| format!("{}: {}", a.action, a.detail))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        if let Some(message) = pending {
            return Err(FailoverError::NotificationPending {
                what: decision.name().to_string(),
                message,
            });
        }
        Ok((decision.name().to_string(), result))
    }

    fn audit_record(&self, signal: &Signal, now: chrono::DateTime<Utc>, decision: DecisionName, why: String) -> AuditRecord {
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

    /// Records a decision that rests on unreadable health and gives the event back for a retry.
    async fn inconclusive(
        &self,
        signal: &Signal,
        decision: &Decision,
        unreadable: &[Region],
        actions: Vec<ActionRecord>,
        (stored, state, version): (&DnsState, &DnsState, u64),
        now: chrono::DateTime<Utc>,
    ) -> FailoverError {
        let regions = unreadable.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let why = format!(
            "{}; the health of {regions} could not be read, so the event is retried",
            decision.why()
        );
        let mut record = self.audit_record(signal, now, DecisionName::Inconclusive, why);
        record.actions = actions;
        record.outcome = Outcome::Skipped;
        tracing::warn!(decision = "inconclusive", signal = %signal.key, %regions, "health unreadable; retry");
        if let Err(e) = self.store.put_audit(&record, self.config.policy.audit_kept_until(now)).await {
            return e.into();
        }
        // Queued notifications sent at the start leave the outbox.
        if state != stored
            && let Err(e) = self
                .store
                .put_state(&self.state_name(), &serde_json::to_value(state).unwrap_or(Value::Null), version)
                .await
        {
            return e.into();
        }
        FailoverError::HealthUnreadable {
            decision: decision.why(),
            regions,
        }
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

    /// Sends the queued notifications; keeps those that still fail.
    async fn flush_outbox(&self, state: &mut DnsState) -> Vec<ActionRecord> {
        let mut records = Vec::new();
        let mut still = Vec::new();
        for n in std::mem::take(&mut state.outbox) {
            let mut sent = evidence::notify(&self.notifier, &n).await;
            sent.action = "sns:Publish (queued)".into();
            if sent.outcome == Outcome::Failed {
                still.push(n);
            }
            records.push(sent);
        }
        state.outbox = still;
        records
    }

    /// Reads every configured switch of every region (routing controls excepted) and compares
    /// it with the state (`failover::drifts`). A drift is announced the first time it is seen
    /// (its episode claimed once); seen again at a later check it is put back as recorded when
    /// `dns.restore_drift` is set, unless the kill switch, a freeze or a dry run says not to.
    /// A drift is never put back on first sight: it may be a change another region is saving.
    /// Cost: one GetMetricData per peer and one ListResourceRecordSets per region every tick,
    /// far inside Route 53's five requests a second per account ("Quotas", Route 53 API).
    async fn check_drift(&self, state: &DnsState) -> Result<(Vec<ActionRecord>, Option<Notification>), FailoverError> {
        let mut actions = Vec::new();
        let mut read = Vec::new();
        for region in self.config.regions.keys() {
            for strategy in self.config.dns.strategies.iter().filter(|s| **s != Strategy::RoutingControl) {
                match self.switches.holds(*strategy, region).await {
                    Ok(holds) => read.push((region.clone(), *strategy, holds)),
                    Err(e) => actions.push(ActionRecord {
                        action: format!("drift check {region} {strategy:?}"),
                        outcome: Outcome::Failed,
                        detail: e,
                        millis: 0,
                        confirm_ms: None,
                    }),
                }
            }
        }
        let drifts = failover::drifts(state, &read);
        if drifts.is_empty() {
            return Ok((actions, None));
        }
        let keys: Vec<String> = drifts.iter().map(|d| d.key(state)).collect();
        let claimant = format!("{FUNCTION}-drift@{}", self.region);
        let claims = once::claim_batch(&self.store, &self.config.policy, &claimant, &keys).await?;
        let restore = self.config.dns.restore_drift && !self.config.kill_switch && !state.frozen && !self.config.dry_run;
        let mut first_seen = Vec::new();
        let mut done = Vec::new();
        for ((drift, claim), key) in drifts.iter().zip(&claims).zip(&keys) {
            match claim {
                Claim::New => {
                    first_seen.push(drift.describe());
                    done.push((key.clone(), "alerted".to_owned()));
                }
                _ if restore => actions.push(self.switches.set(drift.strategy, &drift.region, !drift.holds).await),
                _ => {}
            }
        }
        once::finish_batch(&self.store, &self.config.policy, &claimant, &done, &[]).await?;
        let notice = (!first_seen.is_empty()).then(|| Notification {
            severity: Severity::Critical,
            function: FUNCTION.into(),
            region: self.region.clone(),
            subject: format!("DNS SWITCH DRIFT on {}: {}", self.config.dns.record_name, first_seen.join("; ")),
            summary: format!(
                "A traffic switch does not say what the suite recorded: {}.\nSomeone or something changed it outside the suite (the drain metric written by hand or by a forger, a record weight edited). Check CloudTrail for PutMetricData / ChangeResourceRecordSets.\n{}",
                first_seen.join("; "),
                if self.config.dns.restore_drift {
                    "If it is still so at the next check (5 minutes), the suite puts it back as recorded."
                } else {
                    "dns.restore_drift is off: put it back by hand, or fail the region over or back with an operator command."
                }
            ),
            body: json!({ "drift": first_seen, "record": self.config.dns.record_name }),
        });
        Ok((actions, notice))
    }

    fn notification_for(
        &self,
        decision: &Decision,
        outcome: Outcome,
        dry_run: bool,
        refused: bool,
        health: &HealthView,
        audit_id: &str,
    ) -> Option<Notification> {
        let record_name = &self.config.dns.record_name;
        let prefix = if dry_run { "[DRY RUN] " } else { "" };
        let (severity, subject, summary) = match decision {
            Decision::Failover(p) if refused && outcome == Outcome::Failed => (
                Severity::Critical,
                format!("FAILOVER REFUSED: draining {} from {record_name} was refused", p.drain),
                format!(
                    "{} is failing ({}), but the change was refused for good (see the audit record {audit_id}: an ARC safety rule, a request ARC rejects, or access denied). No other strategy was tried: what ARC refuses is not overridden. Traffic has NOT moved.\nA person decides: fix the rule or permission, or override it deliberately in ARC. The event is not retried.",
                    p.drain, p.why
                ),
            ),
            Decision::Failover(p) if outcome == Outcome::Failed => (
                Severity::Critical,
                format!("FAILOVER FAILED: could not drain {} from {record_name}", p.drain),
                format!(
                    "{} is failing ({}), but every configured strategy failed to drain it. Traffic has NOT moved.\nCheck: the audit record {audit_id}; Route 53 and CloudWatch in {}.\nThe event will be retried automatically; an operator can also send a failover command.",
                    p.drain, p.why, p.target
                ),
            ),
            Decision::Failover(p) if outcome == Outcome::Unconfirmed => (
                Severity::Critical,
                format!("FAILOVER NOT CONFIRMED: {} drained from {record_name}, effect not seen", p.drain),
                format!(
                    "{} is failing ({}). The drain was applied, but no strategy's effect was seen in time (drain alarm state, INSYNC, routing-control read-back): traffic may still reach {}.\nCheck now: the Route 53 health check and record weights of {record_name}; the audit record {audit_id}.\nThe state records {} as drained by what was applied, so a failback undoes it.",
                    p.drain, p.why, p.drain, p.drain
                ),
            ),
            Decision::Failover(p) => (
                Severity::Critical,
                format!("{prefix}Failover: {} drained from {record_name}, traffic to {}", p.drain, p.target),
                format!(
                    "What failed: {}.\nWhat was done: {} removed from {record_name}; {} now takes its traffic.\nWhat to check: {}'s capacity and error rates; the audit record {audit_id}.\nHow to fail back: once {} is healthy, send a \"{}\" event for region {} (or `resilience failback --region {}`). Automatic failback: {}.",
                    p.why,
                    p.drain,
                    p.target,
                    p.target,
                    p.drain,
                    resilience_core::signal::OperatorCommandKind::Failback.detail_type(),
                    p.drain,
                    p.drain,
                    if self.config.policy.auto_failback {
                        "on, after the hold-down and a healthy period"
                    } else {
                        "off"
                    }
                ),
            ),
            Decision::Failback(p) => (
                if outcome == Outcome::Failed {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                format!(
                    "{prefix}Failback: {} {} {record_name}",
                    p.region,
                    if outcome == Outcome::Failed {
                        "could NOT be restored to"
                    } else {
                        "restored to"
                    }
                ),
                format!("{}.\nAudit record {audit_id}.", p.why),
            ),
            Decision::Freeze { by } => (
                Severity::Warning,
                format!("dns-failover frozen by {by}"),
                "No automatic DNS action until an unfreeze command.".to_owned(),
            ),
            Decision::Unfreeze { by } => (
                Severity::Info,
                format!("dns-failover unfrozen by {by}"),
                "Automatic DNS actions are enabled again.".to_owned(),
            ),
            Decision::Refused { why } => (
                Severity::Warning,
                "Operator command refused".to_owned(),
                format!("{why}.\nAudit record {audit_id}."),
            ),
            Decision::NoAction(n) => {
                let severity = n.reason.severity()?;
                (
                    severity,
                    format!("{prefix}No automatic failover: {:?}", n.reason),
                    format!("{}.\nAudit record {audit_id}.", n.why),
                )
            }
        };
        // A practice name's routine moves page nobody: the drill reports them (and notifies
        // when it fails). What went wrong is still told, as a practice warning.
        let (severity, subject) = if self.rehearsal {
            if matches!(outcome, Outcome::Succeeded | Outcome::AlreadyInPlace) || severity == Severity::Info {
                return None;
            }
            (Severity::Warning, format!("[PRACTICE DRILL] {subject}"))
        } else {
            (severity, subject)
        };
        Some(Notification {
            severity,
            function: FUNCTION.to_owned(),
            region: self.region.clone(),
            subject,
            summary,
            body: json!({ "decision": decision, "outcome": outcome, "dry_run": dry_run, "audit_id": audit_id, "health": health }),
        })
    }
}
