//! Envelopes: SQS batches (raw or SNS-wrapped bodies) and SNS notifications, unwrapped to the
//! event inside, with a nesting limit against hostile input.

use crate::config::SuiteConfig;
use crate::signal::alarm::sns_alarm;
use crate::signal::{Channel, Inbound, Signal, SignalError, normalise_one};
use aws_lambda_events::sns::SnsEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;

/// How deep envelopes may nest (SQS → SNS → EventBridge is three); more is hostile input.
pub(crate) const MAX_NESTING: usize = 4;

pub(crate) fn normalise_sqs(payload: &Value, config: &SuiteConfig) -> Vec<Inbound> {
    let batch: SqsEvent = match serde_json::from_value(payload.clone()) {
        Ok(b) => b,
        Err(e) => return vec![malformed_batch("SQS batch", e)],
    };
    batch
        .records
        .into_iter()
        .map(|m| {
            let signal = match m.body.as_deref().map(serde_json::from_str::<Value>) {
                Some(Ok(body)) => normalise_one(&body, config, 1).map(|s| on_channel(s, Channel::Sqs)),
                Some(Err(e)) => Err(SignalError::Malformed {
                    what: "SQS message body",
                    message: e.to_string(),
                }),
                None => Err(SignalError::Malformed {
                    what: "SQS message",
                    message: "no body".into(),
                }),
            };
            Inbound {
                message_id: m.message_id,
                signal,
            }
        })
        .collect()
}

pub(crate) fn normalise_sns(payload: &Value, config: &SuiteConfig) -> Vec<Inbound> {
    let batch: SnsEvent = match serde_json::from_value(payload.clone()) {
        Ok(b) => b,
        Err(e) => return vec![malformed_batch("SNS event", e)],
    };
    batch
        .records
        .into_iter()
        .map(|r| Inbound {
            message_id: Some(r.sns.message_id.clone()),
            signal: sns_message(&r.sns.message, config, 1),
        })
        .collect()
}

pub(crate) fn malformed_batch(what: &'static str, e: serde_json::Error) -> Inbound {
    Inbound {
        message_id: None,
        signal: Err(SignalError::Malformed {
            what,
            message: e.to_string(),
        }),
    }
}

/// The text of an SNS message: a CloudWatch alarm notification or a forwarded EventBridge event.
pub(crate) fn sns_message(message: &str, config: &SuiteConfig, depth: usize) -> Result<Signal, SignalError> {
    let value: Value = serde_json::from_str(message).map_err(|e| SignalError::Malformed {
        what: "SNS message",
        message: format!("not JSON ({e})"),
    })?;
    let signal = if value.get("AlarmName").is_some() {
        sns_alarm(value, config)?
    } else {
        normalise_one(&value, config, depth + 1)?
    };
    Ok(on_channel(signal, Channel::Sns))
}

/// The signal as delivered through `channel`. An operator command is accepted only from
/// EventBridge, so a copy arriving any other way is refused under a key of its own: it must
/// not take the key of the genuine delivery and make it a duplicate.
fn on_channel(mut signal: Signal, channel: Channel) -> Signal {
    if matches!(signal.kind, crate::signal::SignalKind::Operator(_)) {
        signal.key = format!("{}@{channel:?}", signal.key).to_lowercase();
    }
    signal.channel = channel;
    signal
}
