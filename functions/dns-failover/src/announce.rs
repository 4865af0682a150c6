//! What dns-failover tells people: the notification for a decision (what failed, what was
//! done, what to check, how to undo), the outbox that holds it until the state is saved, and
//! the drift check that announces a switch changed outside the suite.

use crate::{FUNCTION, Failover, FailoverError};
use resilience_core::act::health::HealthReader;
use resilience_core::config::Strategy;
use resilience_core::decide::failover::{self, Decision, DnsState, FailoverPlan};
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::handler::once;
use resilience_core::model::audit::{ActionRecord, Outcome};
use resilience_core::model::{HealthView, Notification, Region, Severity};
use resilience_core::store::{Claim, StateStore};
use serde_json::json;

impl<S: StateStore, N: Notifier, H: HealthReader> Failover<S, N, H> {
    /// Sends the queued notifications; keeps those that still fail.
    pub(crate) async fn flush_outbox(&self, state: &mut DnsState) -> Vec<ActionRecord> {
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
    /// Cost: one DescribeAlarms per peer and one ListResourceRecordSets per region every tick,
    /// far inside Route 53's five requests a second per account ("Quotas", Route 53 API).
    ///
    /// A restore only ever puts a region back towards serving when a switch holds it out that
    /// the state says serves. A switch that serves a region the state says is drained is put
    /// back (drained again) only if the region is failing by its health read now and another
    /// region serves: the state table can be written by others in the account, and a forged
    /// `drained_by` must not make the suite drain a healthy region with its own role.
    pub(crate) async fn check_drift(
        &self,
        state: &DnsState,
        health: &HealthView,
    ) -> Result<(Vec<ActionRecord>, Option<Notification>), FailoverError> {
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
                _ if restore && (drift.holds || self.failing_with_another_serving(state, health, &drift.region)) => {
                    actions.push(self.switches.set(drift.strategy, &drift.region, !drift.holds).await);
                }
                _ if restore => actions.push(ActionRecord {
                    action: format!("drift restore {} {:?}", drift.region, drift.strategy),
                    outcome: Outcome::Skipped,
                    detail: format!(
                        "not drained again: {} is not failing now, or no other region serves (a drift restore never drains a healthy region)",
                        drift.region
                    ),
                    millis: 0,
                    confirm_ms: None,
                }),
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

    /// Whether `region` is failing by its health as read, and another region serves.
    fn failing_with_another_serving(&self, state: &DnsState, health: &HealthView, region: &Region) -> bool {
        let failing = failover::verdict(&self.config, region, health.get(region), state).failing;
        let other_serves = self
            .config
            .regions
            .keys()
            .any(|r| r != region && !state.drained.contains(r) && !failover::verdict(&self.config, r, health.get(r), state).failing);
        failing && other_serves
    }

    pub(crate) fn notification_for(
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
            Decision::Failover(p) => self.failover_notice(p, outcome, refused, prefix, audit_id),
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
            Decision::Freeze { by, .. } => (
                Severity::Warning,
                format!("dns-failover frozen by {by}"),
                "No automatic DNS action until an unfreeze command.".to_owned(),
            ),
            Decision::Unfreeze { by, .. } => (
                Severity::Info,
                format!("dns-failover unfrozen by {by}"),
                "Automatic DNS actions are enabled again.".to_owned(),
            ),
            Decision::ClearHealthIssues { region, by } => (
                Severity::Warning,
                format!("AWS Health issues of {region} cleared by {by}"),
                format!(
                    "{region}'s open AWS Health issues no longer count towards its health; a new event counts again.\nAudit record {audit_id}."
                ),
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

    /// A failover's notice: refused for good, failed, applied but not seen, or done.
    fn failover_notice(
        &self,
        p: &FailoverPlan,
        outcome: Outcome,
        refused: bool,
        prefix: &str,
        audit_id: &str,
    ) -> (Severity, String, String) {
        let record_name = &self.config.dns.record_name;
        match outcome {
            _ if refused && outcome == Outcome::Failed => (
                Severity::Critical,
                format!("FAILOVER REFUSED: draining {} from {record_name} was refused", p.drain),
                format!(
                    "{} is failing ({}), but the change was refused for good (see the audit record {audit_id}: an ARC safety rule, a request ARC rejects, or access denied). No other strategy was tried: what ARC refuses is not overridden. Traffic has NOT moved.\nA person decides: fix the rule or permission, or override it deliberately in ARC. The event is not retried.",
                    p.drain, p.why
                ),
            ),
            Outcome::Failed => (
                Severity::Critical,
                format!("FAILOVER FAILED: could not drain {} from {record_name}", p.drain),
                format!(
                    "{} is failing ({}), but every configured strategy failed to drain it. Traffic has NOT moved.\nCheck: the audit record {audit_id}; Route 53 and CloudWatch in {}.\nThe event will be retried automatically; an operator can also send a failover command.",
                    p.drain, p.why, p.target
                ),
            ),
            Outcome::Unconfirmed => (
                Severity::Critical,
                format!("FAILOVER NOT CONFIRMED: {} drained from {record_name}, effect not seen", p.drain),
                format!(
                    "{} is failing ({}). The drain was applied, but no strategy's effect was seen in time, in the switch (drain alarm state, INSYNC, routing-control read-back) or in DNS (Route 53's health checkers and answers: the audit record names what did not move): traffic may still reach {}.\nCheck now: the Route 53 health check of its record (attached, following this switch) and the record weights of {record_name}; the audit record {audit_id}.\nThe state records {} as drained by what was applied, so a failback undoes it.",
                    p.drain, p.why, p.drain, p.drain
                ),
            ),
            _ => (
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
        }
    }
}
