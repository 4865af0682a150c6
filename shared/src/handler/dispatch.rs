//! The common shape of every handler: normalise the payload, react to each signal, answer.
//! SQS batches answer with `batchItemFailures` so one bad or busy record does not re-drive
//! the rest; a bad record is audited and reported handled (it never gets better).

use crate::config::SuiteConfig;
use crate::evidence::audit::AuditRecord;
use crate::handler::error::Retryable;
use crate::signal::{Signal, SignalError, normalise};
use crate::store::StateStore;
use chrono::Utc;
use serde_json::{Value, json};

/// Reacts to every signal in `payload`. A single event's error is returned as the invocation's
/// error; batch records' errors become `batchItemFailures` (retryable ones only).
pub async fn dispatch<E>(
    payload: &Value,
    config: &SuiteConfig,
    mut react: impl AsyncFnMut(&Signal) -> Result<Value, E>,
    mut rejected: impl AsyncFnMut(&SignalError),
) -> Result<Value, E>
where
    E: Retryable + From<SignalError>,
{
    let inbound = normalise(payload, config);
    let is_sqs = payload.pointer("/Records/0/eventSource").and_then(Value::as_str) == Some("aws:sqs");
    let single = inbound.len() == 1 && !is_sqs;
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for item in inbound {
        let outcome = match &item.signal {
            Ok(signal) => react(signal).await,
            Err(e) => {
                rejected(e).await;
                Err(E::from(e.clone()))
            }
        };
        match outcome {
            Ok(v) => results.push(v),
            Err(e) if single => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, message_id = ?item.message_id, "record not handled");
                if e.is_retryable()
                    && let Some(id) = item.message_id
                {
                    failures.push(json!({ "itemIdentifier": id }));
                }
                results.push(json!({ "error": e.to_string() }));
            }
        }
    }
    if is_sqs {
        Ok(json!({ "batchItemFailures": failures, "results": results }))
    } else {
        Ok(results.into_iter().next().unwrap_or(Value::Null))
    }
}

/// Audits an input that is not a signal, with an excerpt of what arrived.
pub async fn audit_rejected<S: StateStore>(
    store: &S,
    config: &SuiteConfig,
    function: &str,
    region: &str,
    e: &SignalError,
    payload: &Value,
) {
    let excerpt: String = payload.to_string().chars().take(2000).collect();
    let now = Utc::now();
    let record = AuditRecord::new(function, region, now, "", json!({ "rejected": excerpt }), "rejected", e.to_string());
    tracing::warn!(decision = "rejected", reason = %e, "input is not a signal");
    if let Err(se) = store.put_audit(&record, config.policy.audit_kept_until(now)).await {
        tracing::error!(error = %se, "could not audit a rejected input");
    }
}
