//! The common shape of every handler: normalise the payload, react to each signal, answer.
//! SQS batches answer with `batchItemFailures` so one bad or busy record does not re-drive
//! the rest; a bad record is audited and reported handled (it never gets better).

use crate::config::SuiteConfig;
use crate::evidence;
use crate::evidence::telemetry::Metrics;
use crate::handler::error::Retryable;
use crate::model::audit::{AuditRecord, DecisionName};
use crate::signal::{Signal, SignalError, normalise};
use crate::store::StateStore;
use aws_lambda_events::sqs::BatchItemFailure;
use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use tracing::Instrument;

/// The answer to an SQS batch: the records to re-drive (Lambda's partial batch response, the
/// official event crate's type) and one result per record for the logs and tests.
#[derive(Debug, Default, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
    pub results: Vec<Value>,
}

/// A tracing span for one signal: every line of its reaction carries the signal key, the
/// function and the region, so the lines of one reaction are tied together.
pub fn signal_span(function: &str, region: &str, signal_key: &str) -> tracing::Span {
    tracing::info_span!("signal", signal = %signal_key, function = %function, region = %region)
}

/// Whether the payload is an SQS batch (answered with a [`BatchResponse`]).
pub fn is_sqs_batch(payload: &Value) -> bool {
    payload.pointer("/Records/0/eventSource").and_then(Value::as_str) == Some("aws:sqs")
}

/// The one way to answer: a single event's error is the invocation's error; an SQS batch
/// answers with a [`BatchResponse`] where only retryable failures are re-driven (a bad record
/// never gets better and must not hold the others back).
pub fn answer<E: Retryable>(sqs: bool, items: Vec<(Option<String>, Result<Value, E>)>) -> Result<Value, E> {
    if !sqs && items.len() == 1 {
        return items.into_iter().next().map_or(Ok(Value::Null), |(_, r)| r);
    }
    let mut response = BatchResponse::default();
    for (message_id, result) in items {
        match result {
            Ok(v) => response.results.push(v),
            Err(e) => {
                tracing::warn!(error = %e, message_id = ?message_id, "record not handled");
                if e.is_retryable()
                    && let Some(id) = message_id
                {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
                response.results.push(json!({ "error": e.to_string() }));
            }
        }
    }
    if sqs {
        Ok(serde_json::to_value(&response).unwrap_or(Value::Null))
    } else {
        Ok(response.results.into_iter().next().unwrap_or(Value::Null))
    }
}

/// Reacts to every signal in `payload`, one at a time, each inside its [`signal_span`]. Inputs
/// that are not signals go to `rejected` (which audits them) and fail as bad input.
pub async fn dispatch<E>(
    payload: &Value,
    config: &SuiteConfig,
    (function, region): (&str, &str),
    mut react: impl AsyncFnMut(&Signal) -> Result<Value, E>,
    mut rejected: impl AsyncFnMut(&SignalError),
) -> Result<Value, E>
where
    E: Retryable + From<SignalError>,
{
    let mut items = Vec::new();
    for item in normalise(payload, config) {
        let outcome = match &item.signal {
            Ok(signal) => react(signal).instrument(signal_span(function, region, &signal.key)).await,
            Err(e) => {
                rejected(e).await;
                Err(E::from(e.clone()))
            }
        };
        items.push((item.message_id, outcome));
    }
    answer(is_sqs_batch(payload), items)
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
    let started = std::time::Instant::now();
    let excerpt: String = payload.to_string().chars().take(2000).collect();
    let now = Utc::now();
    let record = AuditRecord::new(
        function,
        region,
        now,
        "",
        json!({ "rejected": excerpt }),
        DecisionName::Rejected,
        e.to_string(),
    );
    tracing::warn!(reason = %e, "input is not a signal");
    let mut metrics = Metrics::for_function(&config.platform, function, region);
    if let Err(se) = evidence::record(store, &config.policy, &record, &mut metrics, started).await {
        tracing::error!(error = %se, "could not audit a rejected input");
    }
}
