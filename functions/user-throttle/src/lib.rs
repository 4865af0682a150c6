//! user-throttle: progressive, expiring limits on suspicious principals.
//!
//! A batch (one event, or an SQS batch of many) is handled together: every signal is claimed
//! by its idempotency key, the principals' records are read in one BatchGetItem per 100, the
//! pure policy (`resilience_core::throttle`) decides each offence in arrival order, the budgets
//! of limit changes (new throttles and escalations) per minute, per source and in all, are
//! checked with one conditional counter update each (what they refuse is retried later),
//! and the records are written with conditional TransactWriteItems of up to 100. A record that
//! lost a race is re-read and re-decided once, so concurrent events for one principal escalate
//! once. SQS records that could not be handled are reported in `batchItemFailures`.

use chrono::{DateTime, Duration, Utc};
use lambda_runtime::Diagnostic;
use resilience_core::act::health::CloudWatchHealth;
use resilience_core::act::throttle_table::{ThrottleTable, ThrottleTableError, WriteStats};
use resilience_core::config::{SuiteConfig, ThrottleConfig};
use resilience_core::decide::throttle::{Offence, ThrottleDecision, ThrottleRecord, on_offence};
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::evidence::telemetry::{Metrics, Unit};
use resilience_core::handler::once::{self, GuardError};
use resilience_core::handler::{Retryable, answer, diagnostic, is_sqs_batch};
use resilience_core::model::Principal;
use resilience_core::model::Region;
use resilience_core::model::audit::{AuditRecord, DecisionName, Outcome};
use resilience_core::model::{Notification, Severity};
use resilience_core::signal::{AlarmChange, Inbound, Signal, SignalKind, normalise};
use resilience_core::store::{Claim, StateStore, StoreError};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

mod ask;
pub use ask::{Ask, ask, confirm_alarm};

pub const FUNCTION: &str = "user-throttle";
/// Read-decide-write rounds for records that lost a race before giving the event back. Each
/// round at least one of the contenders for a record wins, so this covers ten concurrent
/// deliveries for one principal (a burst from several detectors) before the event is retried.
const ROUNDS: usize = 10;
/// Pause after a lost race: exponential backoff with full jitter ("Exponential Backoff And
/// Jitter", AWS Architecture Blog), so contenders spread out instead of colliding again.
fn backoff(round: usize) -> std::time::Duration {
    let cap = 10u64 << round.min(5); // 10 ms doubling to 320 ms
    let draw = u64::from(u16::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap_or([0, 0]),
    ));
    std::time::Duration::from_millis(5 + draw % cap)
}
/// Source accepted for detector events when `throttle.detector_sources` is empty.
pub const DEFAULT_DETECTOR_SOURCE: &str = "aworld.detector";

#[derive(Debug)]
pub struct UserThrottle<S, N> {
    pub config: SuiteConfig,
    pub throttle: ThrottleConfig,
    pub region: Region,
    pub store: S,
    pub notifier: N,
    pub table: ThrottleTable,
    /// Reads the alarms an offence names, to confirm it.
    pub alarms: CloudWatchHealth,
}

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error("{0} (nothing written; retry)")]
    Store(#[from] StoreError),
    #[error("{0} (retry)")]
    Table(#[from] ThrottleTableError),
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("not handled: {0}; retry")]
    NotHandled(String),
}

impl Retryable for ThrottleError {
    fn kind(&self) -> &'static str {
        match self {
            ThrottleError::Store(_) | ThrottleError::Table(_) => "StoreUnavailable",
            ThrottleError::Guard(g) => g.kind(),
            ThrottleError::BadInput(_) => "BadInput",
            ThrottleError::NotHandled(_) => "NotHandled",
        }
    }

    fn is_retryable(&self) -> bool {
        !matches!(self, ThrottleError::BadInput(_))
    }
}

impl From<ThrottleError> for Diagnostic {
    fn from(e: ThrottleError) -> Diagnostic {
        diagnostic(&e)
    }
}

/// The outcome for one signal of the batch.
#[derive(Debug)]
struct Item {
    message_id: Option<String>,
    /// The signal key while its claim is open.
    key: Option<String>,
    result: Result<Value, ThrottleError>,
}

/// A batch on its way: one item per record, and the lines of its audit record.
#[derive(Debug, Default)]
struct Batch {
    items: Vec<Item>,
    audit_lines: Vec<Value>,
}

impl Batch {
    fn push(&mut self, message_id: Option<String>, key: Option<String>, result: Result<Value, ThrottleError>) {
        self.items.push(Item { message_id, key, result });
    }
}

impl<S: StateStore, N: Notifier> UserThrottle<S, N> {
    fn keep_after_until(&self) -> Duration {
        Duration::seconds(i64::try_from(self.throttle.escalation_window_seconds).unwrap_or(86_400))
    }

    /// Read every record, claim the ones that ask for a change together, apply them, close the
    /// claims, record; one answer per record (an SQS batch answers with its failures).
    pub async fn handle(&self, payload: Value) -> Result<Value, ThrottleError> {
        let started = std::time::Instant::now();
        let now = Utc::now();
        let is_sqs = is_sqs_batch(&payload);
        let mut batch = Batch::default();
        let mut asks = Vec::new();
        for inbound in normalise(&payload, &self.config) {
            if let Some(ask) = self.read(inbound, &mut batch).await {
                asks.push(ask);
            }
        }
        let offences = self.claim(asks, &mut batch).await?;
        let (stats, ceiling_tripped) = self.apply(&offences, now, &mut batch).await;
        self.close(&mut batch).await;
        self.record(&batch.items, &batch.audit_lines, stats, ceiling_tripped, now, started)
            .await?;
        let mut answered = answer(is_sqs, batch.items.into_iter().map(|i| (i.message_id, i.result)).collect())?;
        if is_sqs && let Some(o) = answered.as_object_mut() {
            o.insert("writes".into(), json!({ "calls": stats.calls, "items": stats.items }));
        }
        Ok(answered)
    }

    /// Reads one record: what it asks (an offence confirmed with CloudWatch when an alarm
    /// reports it), answered at once when it asks nothing or is refused. `Some`: it asks for a
    /// change and is to be claimed.
    async fn read(&self, inbound: Inbound, batch: &mut Batch) -> Option<(usize, Signal, Ask)> {
        let idx = batch.items.len();
        let signal = match inbound.signal {
            Ok(s) => s,
            Err(e) => {
                batch.audit_lines.push(json!({ "rejected": e.to_string() }));
                batch.push(inbound.message_id, None, Err(ThrottleError::BadInput(e.to_string())));
                return None;
            }
        };
        let mut a = ask(&self.config, &self.throttle, &signal, Utc::now());
        if let (SignalKind::Alarm(alarm), Ask::Offence(principal, _)) = (&signal.kind, &a) {
            match self.confirm(alarm, principal).await {
                Ok(Some(refused)) => a = refused,
                Ok(None) => {}
                // Unconfirmed is not refused: the event is handed back and retried.
                Err(e) => {
                    batch
                        .audit_lines
                        .push(json!({ "signal": signal.key, "decision": "failed", "why": e }));
                    let failed = Err(ThrottleError::NotHandled(format!("cannot confirm the alarm: {e}")));
                    batch.push(inbound.message_id, None, failed);
                    return None;
                }
            }
        }
        if let Ask::Nothing(why) | Ask::Refused(why) = &a {
            let decision = if matches!(a, Ask::Refused(_)) {
                DecisionName::Refused
            } else {
                DecisionName::NoAction
            };
            batch
                .audit_lines
                .push(json!({ "signal": signal.key, "decision": decision, "why": why }));
            let answered = Ok(json!({ "signal": signal.key, "decision": decision, "why": why }));
            batch.push(inbound.message_id, None, answered);
            return None;
        }
        batch.push(inbound.message_id, Some(signal.key.clone()), Ok(Value::Null));
        Some((idx, signal, a))
    }

    /// What CloudWatch says of the alarm that reported an offence now: `Some` refusal when it
    /// does not confirm it. The alarm lives in the region of its ARN; the tag or configuration
    /// says which region it speaks for, which may differ.
    async fn confirm(&self, alarm: &AlarmChange, principal: &Principal) -> Result<Option<Ask>, String> {
        let home = alarm
            .alarm_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
            .and_then(|r| r.parse::<Region>().ok())
            .unwrap_or_else(|| alarm.region.clone());
        let now = self.alarms.alarm_now(&home, &alarm.alarm_name).await?;
        Ok(confirm_alarm(&self.throttle, alarm, principal, now.as_ref())
            .err()
            .map(|why| Ask::Refused(format!("not confirmed by CloudWatch: {why}"))))
    }

    /// Claims the records that ask for a change, together (the same claims as every
    /// function's, `handler::once`, written for the whole batch). Duplicates are answered, ones
    /// in progress elsewhere fail retryably, releases are done; the offences are returned.
    async fn claim(&self, asks: Vec<(usize, Signal, Ask)>, batch: &mut Batch) -> Result<Vec<(usize, Principal, Offence)>, ThrottleError> {
        let keys: Vec<String> = asks.iter().filter_map(|(idx, _, _)| batch.items[*idx].key.clone()).collect();
        let claims = once::claim_batch(&self.store, &self.config.policy, FUNCTION, &keys).await?;
        let mut offences = Vec::new();
        for ((idx, signal, a), claim) in asks.into_iter().zip(claims) {
            match claim {
                Claim::New => {}
                Claim::Done { outcome } => {
                    let status = format!("already handled: {outcome}");
                    batch.items[idx].key = None;
                    batch.items[idx].result = Ok(json!({ "signal": signal.key, "duplicate": true, "status": status }));
                    continue;
                }
                // Unfinished elsewhere: not a success until a retry finds it done (see guard).
                Claim::InProgress { until } => {
                    batch.items[idx].key = None;
                    batch.items[idx].result = Err(ThrottleError::NotHandled(GuardError::InProgress { until }.to_string()));
                    continue;
                }
            }
            match a {
                Ask::Offence(p, o) => offences.push((idx, p, o)),
                Ask::Release(p) => {
                    batch.items[idx].result = self.release(&signal, &p).await;
                    batch
                        .audit_lines
                        .push(json!({ "signal": signal.key, "decision": "release", "principal": p }));
                }
                _ => {}
            }
        }
        Ok(offences)
    }

    /// Lifts a principal's limit (unless a dry run or the kill switch says not to write).
    async fn release(&self, signal: &Signal, p: &Principal) -> Result<Value, ThrottleError> {
        if self.config.dry_run || self.config.kill_switch {
            return Ok(
                json!({ "signal": signal.key, "decision": "release", "principal": p, "dry_run": self.config.dry_run, "why": "dry run or kill switch: nothing written" }),
            );
        }
        let existed = self.table.release(p).await?;
        Ok(json!({ "signal": signal.key, "decision": "release", "principal": p, "was_throttled": existed }))
    }

    /// Applies the claimed offences; if that fails, nothing was decided for good and every
    /// offence is given back for redelivery.
    async fn apply(&self, offences: &[(usize, Principal, Offence)], now: DateTime<Utc>, batch: &mut Batch) -> (WriteStats, bool) {
        match self.apply_offences(&mut batch.items, offences, now, &mut batch.audit_lines).await {
            Ok(x) => x,
            Err(e) => {
                let why = e.to_string();
                batch.audit_lines.push(json!({ "decision": "failed", "why": why }));
                for (idx, _, _) in offences {
                    batch.items[*idx].result = Err(ThrottleError::NotHandled(why.clone()));
                }
                (WriteStats::default(), false)
            }
        }
    }

    /// Finishes the claims: done ones together, failed ones given up so a redelivery runs again.
    /// A claim that cannot be closed makes its records retryable failures, not the whole batch:
    /// the redelivery finds each offence in the history and writes nothing again.
    async fn close(&self, batch: &mut Batch) {
        let done: Vec<(String, String)> = batch
            .items
            .iter()
            .filter_map(|i| match (&i.key, &i.result) {
                (Some(k), Ok(v)) => Some((k.clone(), v.get("decision").and_then(Value::as_str).unwrap_or("handled").to_owned())),
                _ => None,
            })
            .collect();
        let failed: Vec<String> = batch
            .items
            .iter()
            .filter(|i| i.result.is_err())
            .filter_map(|i| i.key.clone())
            .collect();
        if let Err(e) = once::finish_batch(&self.store, &self.config.policy, FUNCTION, &done, &failed).await {
            for item in batch.items.iter_mut().filter(|i| i.key.is_some() && i.result.is_ok()) {
                item.result = Err(ThrottleError::NotHandled(format!("recorded, but its claim was not closed ({e})")));
            }
        }
    }

    /// The principals whose limit change a budget refuses this minute, each with why: first
    /// each source's budget, then the budget of all sources (one conditional counter update
    /// each, `StateStore::count_within`, all of a group's changes or none).
    async fn over_budget(
        &self,
        decided: &BTreeMap<Principal, (ThrottleRecord, Vec<String>)>,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<Principal, String>, ThrottleError> {
        let minute = now.format("%Y-%m-%dT%H:%M").to_string();
        let expires = now + Duration::minutes(10);
        let all = self.throttle.max_new_per_minute;
        let per_source = if self.throttle.max_per_source_per_minute == 0 {
            all
        } else {
            self.throttle.max_per_source_per_minute
        };
        // Every limit change counts, so a principal escalated twice in a batch counts twice.
        let mut by_source: BTreeMap<&str, Vec<&Principal>> = BTreeMap::new();
        for (p, (_, changes)) in decided {
            for source in changes {
                by_source.entry(source.as_str()).or_default().push(p);
            }
        }
        let mut over = BTreeMap::new();
        let mut within = 0u64;
        for (source, principals) in &by_source {
            let n = principals.len() as u64;
            if self
                .store
                .count_within(&format!("throttle-budget#{source}#{minute}"), n, per_source, expires)
                .await?
            {
                within += n;
            } else {
                for p in principals {
                    over.insert(
                        (*p).clone(),
                        format!("budget of {per_source} limit changes per minute from {source} reached: handed back to be retried later"),
                    );
                }
            }
        }
        if within > 0
            && !self
                .store
                .count_within(&format!("throttle-new#{minute}"), within, all, expires)
                .await?
        {
            for principals in by_source.values() {
                for p in principals {
                    over.entry((*p).clone())
                        .or_insert_with(|| format!("budget of {all} limit changes per minute reached: handed back to be retried later"));
                }
            }
        }
        Ok(over)
    }

    /// Decides every offence in arrival order, checks the budgets, writes, re-decides losers once.
    async fn apply_offences(
        &self,
        items: &mut [Item],
        offences: &[(usize, Principal, Offence)],
        now: DateTime<Utc>,
        audit: &mut Vec<Value>,
    ) -> Result<(WriteStats, bool), ThrottleError> {
        let mut stats = WriteStats::default();
        if offences.is_empty() {
            return Ok((stats, false));
        }
        let mut pending: Vec<&(usize, Principal, Offence)> = offences.iter().collect();
        let mut tripped = false;
        for round in 0..ROUNDS {
            let principals: Vec<Principal> = pending
                .iter()
                .map(|(_, p, _)| p.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut current: HashMap<Principal, ThrottleRecord> = self.table.get_many(&principals).await?;
            let mut decided = self.decide_round(&pending, &current, now, items);
            if !self.config.dry_run
                && !self.config.kill_switch
                && self.defer_over_budget(&pending, &mut decided, now, (items, audit)).await?
            {
                tripped = true;
            }
            if self.config.dry_run || self.config.kill_switch {
                mark_not_written(&pending, self.config.dry_run, items);
                break;
            }
            let records: Vec<ThrottleRecord> = decided.values().map(|(r, _)| r.clone()).collect();
            let (written, s) = self.table.put_all(&records, self.keep_after_until()).await?;
            stats.calls += s.calls;
            stats.items += s.items;
            let lost: Vec<Principal> = records
                .iter()
                .zip(&written)
                .filter(|(_, w)| !**w)
                .map(|(r, _)| r.principal.clone())
                .collect();
            // A record that lost the race is audited in the round that writes it, not twice.
            for (idx, _, _) in pending.iter().filter(|(_, p, _)| !lost.contains(p)) {
                if let Ok(v) = &items[*idx].result
                    && v["decision"] != "refused"
                    && v["decision"] != "allow-listed"
                {
                    audit.push(v.clone());
                }
            }
            if lost.is_empty() {
                break;
            }
            current.clear();
            pending.retain(|(_, p, _)| lost.contains(p));
            if round == ROUNDS - 1 {
                for (idx, p, _) in &pending {
                    items[*idx].result = Err(ThrottleError::NotHandled(format!("{p} kept changing concurrently")));
                }
                break;
            }
            // Another invocation won the race: re-read and re-decide after a jittered pause.
            tokio::time::sleep(backoff(round)).await;
        }
        Ok((stats, tripped))
    }

    /// Decides each pending offence against the principal's record (stored, or decided earlier
    /// in this batch): each principal's record to write, and the source of each limit change (a
    /// new throttle or an escalation) it carries, for the budgets.
    fn decide_round(
        &self,
        pending: &[&(usize, Principal, Offence)],
        current: &HashMap<Principal, ThrottleRecord>,
        now: DateTime<Utc>,
        items: &mut [Item],
    ) -> BTreeMap<Principal, (ThrottleRecord, Vec<String>)> {
        let stored_versions: HashMap<Principal, u64> = current.iter().map(|(p, r)| (p.clone(), r.version)).collect();
        let mut decided: BTreeMap<Principal, (ThrottleRecord, Vec<String>)> = BTreeMap::new();
        for (idx, p, o) in pending {
            let existing = decided.get(p).map(|(r, _)| r).or_else(|| current.get(p));
            let (result, record) = offence_answer(p, o, on_offence(&self.throttle, existing, p, o.clone(), now));
            if let Some((mut record, changes)) = record {
                // The version to condition on is the stored one, however many offences this batch adds.
                record.version = stored_versions.get(p).copied().unwrap_or(0);
                let mut all = decided.remove(p).map(|(_, c)| c).unwrap_or_default();
                all.extend(changes);
                decided.insert(p.clone(), (record, all));
            }
            items[*idx].result = Ok(result);
        }
        decided
    }

    /// The budgets: limit changes (new throttles and escalations) this minute, per source and
    /// in all. What a budget refuses is handed back to be retried later (an SQS record is
    /// redelivered, an EventBridge event retried by Lambda, then kept in the dead-letter
    /// queue), never dropped. Whether a budget was reached.
    async fn defer_over_budget(
        &self,
        pending: &[&(usize, Principal, Offence)],
        decided: &mut BTreeMap<Principal, (ThrottleRecord, Vec<String>)>,
        now: DateTime<Utc>,
        (items, audit): (&mut [Item], &mut Vec<Value>),
    ) -> Result<bool, ThrottleError> {
        let over = self.over_budget(decided, now).await?;
        if over.is_empty() {
            return Ok(false);
        }
        for (idx, p, _) in pending {
            if let Some(why) = over.get(p) {
                audit.push(json!({ "decision": "deferred", "principal": p, "why": why }));
                items[*idx].result = Err(ThrottleError::NotHandled(why.clone()));
            }
        }
        decided.retain(|p, _| !over.contains_key(p));
        Ok(true)
    }

    async fn record(
        &self,
        items: &[Item],
        audit_lines: &[Value],
        stats: WriteStats,
        tripped: bool,
        now: DateTime<Utc>,
        started: std::time::Instant,
    ) -> Result<(), ThrottleError> {
        let throttled: Vec<&Value> = items
            .iter()
            .filter_map(|i| i.result.as_ref().ok())
            .filter(|v| v["decision"] == "throttle")
            .collect();
        let blocked = throttled
            .iter()
            .filter(|v| self.throttle.levels.iter().any(|l| l.block && v["level"] == l.name.as_str()))
            .count();
        let mut m = Metrics::for_function(&self.config.platform, FUNCTION, self.region.as_str());
        m.metric("Throttled", throttled.len() as f64, Unit::Count)
            .metric("Blocked", blocked as f64, Unit::Count)
            .metric("ThrottleWriteCalls", stats.calls as f64, Unit::Count)
            .metric("CeilingTripped", f64::from(u8::from(tripped)), Unit::Count);

        let mut record = AuditRecord::new(
            FUNCTION,
            self.region.as_str(),
            now,
            &items.iter().filter_map(|i| i.key.clone()).collect::<Vec<_>>().join(","),
            json!({ "decisions": audit_lines }),
            if tripped {
                DecisionName::Ceiling
            } else if throttled.is_empty() {
                DecisionName::NoAction
            } else {
                DecisionName::Throttle
            },
            format!(
                "{} throttled ({} blocked), {} signals; {} write calls for {} items{}",
                throttled.len(),
                blocked,
                items.len(),
                stats.calls,
                stats.items,
                if tripped {
                    "; BUDGET REACHED: the rest handed back to be retried later"
                } else {
                    ""
                }
            ),
        );
        record.dry_run = self.config.dry_run;
        record.outcome = if items.iter().any(|i| i.result.is_err()) {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };
        if tripped || blocked > 0 {
            let n = Notification {
                severity: if tripped { Severity::Critical } else { Severity::Warning },
                function: FUNCTION.into(),
                region: self.region.clone(),
                subject: if tripped {
                    "user-throttle budget reached: limit changes handed back to be retried later".to_string()
                } else {
                    format!("{blocked} principal(s) blocked")
                },
                summary: format!(
                    "{}.\nIf a detector has gone mad, fix it; release principals with the release command.\nAudit record {}.",
                    record.reason, record.id
                ),
                body: json!({ "decisions": audit_lines, "audit_id": record.id }),
            };
            record.actions.push(evidence::notify(&self.notifier, &n).await);
        }
        evidence::record(&self.store, &self.config.policy, &record, &mut m, started).await?;
        Ok(())
    }
}

/// The answer for one offence, and the record to write with the sources of its limit changes.
fn offence_answer(p: &Principal, o: &Offence, d: ThrottleDecision) -> (Value, Option<(ThrottleRecord, Vec<String>)>) {
    match d {
        ThrottleDecision::AlreadyRecorded { record } => (
            json!({ "decision": "already-recorded", "principal": p, "level": record.level_name, "until": record.until, "why": "this offence was recorded by an earlier delivery" }),
            None,
        ),
        ThrottleDecision::AllowListed => (
            json!({ "decision": "allow-listed", "principal": p, "why": "on the allow-list: never throttled" }),
            None,
        ),
        ThrottleDecision::Coalesced { record } => (
            json!({ "decision": "coalesced", "principal": p, "level": record.level_name, "until": record.until, "why": "part of the incident already throttled" }),
            Some((record, vec![])),
        ),
        ThrottleDecision::Throttle { record, .. } => (
            json!({ "decision": "throttle", "principal": p, "level": record.level_name, "until": record.until, "offences": record.offences, "why": record.reason }),
            Some((record, vec![o.source.clone()])),
        ),
    }
}

/// A dry run or the kill switch: every answer says nothing was written.
fn mark_not_written(pending: &[&(usize, Principal, Offence)], dry_run: bool, items: &mut [Item]) {
    for (idx, _, _) in pending {
        if let Ok(v) = &mut items[*idx].result
            && let Some(o) = v.as_object_mut()
        {
            o.insert("dry_run".into(), json!(dry_run));
            o.insert("written".into(), json!(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ask::is_offence_alarm;
    use resilience_core::act::health::AlarmNow;
    use resilience_core::model::AlarmState;
    use resilience_core::signal::{AlarmType, RegionSource};

    fn throttle() -> ThrottleConfig {
        resilience_core::fixtures::example_config().throttle.unwrap()
    }

    fn alarm(name: &str) -> AlarmChange {
        AlarmChange {
            alarm_name: name.into(),
            alarm_arn: None,
            region: "eu-north-1".parse().unwrap(),
            region_source: RegionSource::AlarmArn,
            alarm_type: AlarmType::Metric,
            state: AlarmState::Alarm,
            previous_state: None,
            reason: String::new(),
            tags: BTreeMap::new(),
            dimensions: BTreeMap::new(),
        }
    }

    fn now(state: AlarmState, user: &str) -> AlarmNow {
        AlarmNow {
            state,
            dimensions: [("UserId".to_string(), user.to_string())].into(),
        }
    }

    #[test]
    fn an_alarm_offence_counts_only_when_cloudwatch_holds_it_in_alarm_for_that_user() {
        let t = throttle();
        let a = alarm("aworld-anomaly-requests-eu-north-1");
        let u = Principal::parse("user#u-1").unwrap();
        assert_eq!(confirm_alarm(&t, &a, &u, Some(&now(AlarmState::Alarm, "u-1"))), Ok(()));
        let refusals = [
            confirm_alarm(&t, &a, &u, None),
            confirm_alarm(&t, &a, &u, Some(&now(AlarmState::Ok, "u-1"))),
            confirm_alarm(&t, &a, &u, Some(&now(AlarmState::Alarm, "u-2"))),
            confirm_alarm(
                &t,
                &a,
                &u,
                Some(&AlarmNow {
                    state: AlarmState::Alarm,
                    dimensions: BTreeMap::new(),
                }),
            ),
        ];
        let words = ["does not exist", "not ALARM", "watches user#u-2", "no principal dimension"];
        for (r, w) in refusals.iter().zip(words) {
            assert!(r.as_ref().is_err_and(|e| e.contains(w)), "{w}: {r:?}");
        }
    }

    #[test]
    fn only_alarms_with_an_offence_prefix_are_offences() {
        let c = resilience_core::fixtures::example_config();
        let t = throttle();
        assert!(is_offence_alarm(&c, &t, "aworld-anomaly-requests-eu-north-1"));
        assert!(!is_offence_alarm(&c, &t, "aworld-health-api-5xx-eu-south-1"));
        let mut listed = t.clone();
        listed.offence_alarm_prefixes = vec!["waf-".into()];
        assert!(is_offence_alarm(&c, &listed, "waf-bots"));
        assert!(!is_offence_alarm(&c, &listed, "aworld-anomaly-requests-eu-north-1"));
    }
}
