//! Evidence of every decision: the audit record, the decision log line, the metrics and the
//! notification, written the same way by every function.

pub mod notify;
pub mod telemetry;

use crate::config::Policy;
use crate::evidence::notify::Notifier;
use crate::evidence::telemetry::{Metrics, Unit};
use crate::model::Notification;
use crate::model::audit::{ActionRecord, AuditRecord, Outcome};
use crate::store::{StateStore, StoreResult};
use std::time::Instant;

/// The one evidence writer: the audit record (kept for `policy.audit_retention_days`), then the
/// decision log line, then the standard metrics (`Decisions`, `ReactionMillis`) with the
/// function's own in `metrics`. A function builds its record and metrics; this writes them.
pub async fn record<S: StateStore>(
    store: &S,
    policy: &Policy,
    record: &AuditRecord,
    metrics: &mut Metrics,
    started: Instant,
) -> StoreResult<()> {
    store.put_audit(record, policy.audit_kept_until(record.at)).await?;
    tracing::info!(
        decision = %record.decision,
        reason = %record.reason,
        signal = %record.signal_key,
        outcome = ?record.outcome,
        dry_run = record.dry_run,
        audit_id = %record.id,
        actions = record.actions.len(),
        "decision"
    );
    metrics
        .metric("Decisions", 1.0, Unit::Count)
        .metric("ReactionMillis", started.elapsed().as_secs_f64() * 1000.0, Unit::Milliseconds)
        .property("decision", record.decision.as_str())
        .property("audit_id", record.id.as_str());
    metrics.emit();
    Ok(())
}

/// Adds drill runs to `region`'s history (the newest `drills::KEEP`), the trend
/// `resilience drills` shows: restore drills and RPO probes (backup-verifier), practice failover
/// drills (dns-failover).
pub async fn record_drills<S: StateStore>(
    store: &S,
    region: &crate::model::Region,
    runs: Vec<crate::decide::drills::DrillRecord>,
) -> StoreResult<()> {
    use crate::decide::drills;
    if runs.is_empty() {
        return Ok(());
    }
    let name = crate::documents::drill_history(region);
    // An unreadable history is Corrupt, not empty: appending to "nothing" would erase it.
    let (history, version) = crate::documents::load::<Vec<drills::DrillRecord>, _>(store, &name).await?;
    let history = history.unwrap_or_default();
    let history = drills::append(history, runs, drills::KEEP);
    store
        .put_state(&name, &serde_json::to_value(&history).unwrap_or_default(), version)
        .await?;
    Ok(())
}

/// Sends a notification and returns its outcome as an action of the audit record, the same way
/// for every function (a failed send is recorded, never a reason to undo what was done).
pub async fn notify<N: Notifier>(notifier: &N, n: &Notification) -> ActionRecord {
    let started = Instant::now();
    let millis = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match notifier.notify(n).await {
        Ok(id) => ActionRecord {
            action: "sns:Publish".into(),
            outcome: Outcome::Succeeded,
            detail: format!("{}: message {id}", n.subject),
            millis: millis(),
            confirm_ms: None,
        },
        Err(e) => {
            tracing::warn!(error = %e, subject = %n.subject, "notification not sent");
            ActionRecord {
                action: "sns:Publish".into(),
                outcome: Outcome::Failed,
                detail: e.to_string(),
                millis: millis(),
                confirm_ms: None,
            }
        }
    }
}

/// The metric every function emits for a duplicate delivery it suppressed, with its log line.
pub fn duplicate(metrics: &mut Metrics, signal_key: &str, status: &str) {
    tracing::info!(decision = "duplicate", signal = %signal_key, %status, "duplicate suppressed");
    metrics.metric("DuplicatesSuppressed", 1.0, Unit::Count).emit();
}
