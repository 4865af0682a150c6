//! Every input the suite accepts, normalised into one [`Signal`] type.
//!
//! Accepted shapes (envelopes from `aws_lambda_events` where it has them):
//! - EventBridge events: "CloudWatch Alarm State Change" (single-metric, metric-math,
//!   anomaly-detection and composite alarms), "AWS Health Event", the operator commands of
//!   [`OperatorCommandKind`], and scheduled events (scheduled rules and EventBridge Scheduler);
//! - CloudWatch alarm notifications delivered by SNS (alarm → topic → Lambda), and EventBridge
//!   events forwarded through SNS;
//! - the payload a CloudWatch alarm sends when it invokes a function as its alarm action;
//! - SQS batches of any of these (raw bodies or SNS-wrapped), one result per record so a bad
//!   record is reported alone.
//!
//! Anything else is a [`SignalError`] that names what arrived. Nothing here panics.

pub mod alarm;
pub mod command;
mod envelope;
pub mod health;
pub mod schedule;
pub mod suspicious;

pub use alarm::{AlarmChange, AlarmType, REGION_TAG, RegionSource};
pub use command::{CommandProof, CommandRefusal, DEFAULT_OPERATOR_SOURCE, OperatorCommand, OperatorCommandDetail, OperatorCommandKind};
pub use health::{HealthEvent, HealthStatus};
pub use schedule::ScheduleTick;
pub use suspicious::{SUSPICIOUS_ACTIVITY, SuspiciousActivity};

use crate::config::SuiteConfig;
use crate::model::Region;
use alarm::{AlarmDetail, alarm_action, alarm_key, sns_alarm};
use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use chrono::{DateTime, Utc};
use envelope::{MAX_NESTING, normalise_sns, normalise_sqs, sns_message};
use health::health_signal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One thing that happened, whatever way it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Idempotency key: the same happening delivered twice (or through two channels) has the
    /// same key, so it is acted on once.
    pub key: String,
    /// When it happened (the alarm's state-change time, the event time).
    pub at: DateTime<Utc>,
    pub channel: Channel,
    pub kind: SignalKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    EventBridge,
    Sns,
    AlarmAction,
    Sqs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SignalKind {
    Alarm(AlarmChange),
    Health(HealthEvent),
    Operator(OperatorCommand),
    Schedule(ScheduleTick),
    Suspicious(SuspiciousActivity),
}

/// Why an input is not a signal. Each names what arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("unrecognised event: {0}")]
    Unrecognised(String),
    #[error("malformed {what}: {message}")]
    Malformed { what: &'static str, message: String },
    #[error("alarm {alarm:?}: cannot tell which region it speaks for (no configuration entry, `{REGION_TAG}` tag, or region in its ARN)")]
    UnknownRegion { alarm: String },
    #[error("{what}: `{value}` is not a known value")]
    UnknownValue { what: &'static str, value: String },
    #[error("events nested more than {MAX_NESTING} deep")]
    TooDeep,
}

/// One record of an incoming batch: its SQS message id (for partial batch failure reports)
/// and what it normalised to.
#[derive(Debug)]
pub struct Inbound {
    pub message_id: Option<String>,
    pub signal: Result<Signal, SignalError>,
}

/// Normalises one Lambda payload into signals: one for most events, one per record for
/// SNS and SQS batches.
pub fn normalise(payload: &Value, config: &SuiteConfig) -> Vec<Inbound> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let source_of = |r: &Value| {
            r.get("eventSource")
                .or_else(|| r.get("EventSource"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match records.first().and_then(source_of).as_deref() {
            Some("aws:sqs") => return normalise_sqs(payload, config),
            Some("aws:sns") => return normalise_sns(payload, config),
            other => {
                return vec![Inbound {
                    message_id: None,
                    signal: Err(SignalError::Unrecognised(format!(
                        "a batch of records from {}",
                        other.map(|s| format!("{s:?}")).unwrap_or_else(|| "an unnamed source".into())
                    ))),
                }];
            }
        }
    }
    vec![Inbound {
        message_id: None,
        signal: normalise_one(payload, config, 0),
    }]
}

pub(crate) fn normalise_one(v: &Value, config: &SuiteConfig, depth: usize) -> Result<Signal, SignalError> {
    if depth > MAX_NESTING {
        return Err(SignalError::TooDeep);
    }
    let Some(obj) = v.as_object() else {
        return Err(SignalError::Unrecognised(format!("a JSON {}", json_kind(v))));
    };
    // An SNS notification as SQS receives it without raw message delivery.
    if obj.get("Type").and_then(Value::as_str) == Some("Notification") {
        let message = obj.get("Message").and_then(Value::as_str).ok_or(SignalError::Malformed {
            what: "SNS notification",
            message: "no Message".into(),
        })?;
        return sns_message(message, config, depth);
    }
    if obj.contains_key("alarmData") {
        return alarm_action(v, config);
    }
    if obj.contains_key("detail-type") {
        return eventbridge(v, config);
    }
    if obj.contains_key("AlarmName") && obj.contains_key("NewStateValue") {
        return sns_alarm(v.clone(), config);
    }
    let keys: Vec<&str> = obj.keys().take(6).map(String::as_str).collect();
    Err(SignalError::Unrecognised(format!("an object with keys {keys:?}")))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn eventbridge(v: &Value, config: &SuiteConfig) -> Result<Signal, SignalError> {
    let event: CloudWatchEvent<Value> = serde_json::from_value(v.clone()).map_err(|e| SignalError::Malformed {
        what: "EventBridge event",
        message: e.to_string(),
    })?;
    let source = event.source.clone().unwrap_or_default();
    let detail_type = event.detail_type.clone().unwrap_or_default();
    let id = event.id.clone().unwrap_or_default();
    let detail = event.detail.clone().unwrap_or(Value::Null);
    let event_region = event.region.as_deref().and_then(|r| r.parse::<Region>().ok());
    let signal = |key: String, at: DateTime<Utc>, kind: SignalKind| Signal {
        key,
        at,
        channel: Channel::EventBridge,
        kind,
    };

    match (source.as_str(), detail_type.as_str()) {
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            let data: AlarmDetail = from_detail("alarm state change detail", detail)?;
            let arn = event.resources.first().cloned();
            let change = data.into_change(arn, event_region, config)?;
            let at = change.1;
            Ok(signal(alarm_key(&change.0, at), at, SignalKind::Alarm(change.0)))
        }
        ("aws.health", "AWS Health Event") => health_signal(detail, &id, event.time, event_region),
        ("aws.events" | "aws.scheduler", "Scheduled Event") => Ok(signal(
            format!("schedule:{id}"),
            event.time,
            SignalKind::Schedule(ScheduleTick {
                schedule: event.resources.first().cloned().unwrap_or_default(),
            }),
        )),
        (_, SUSPICIOUS_ACTIVITY) => {
            let mut finding: SuspiciousActivity = from_detail("suspicious activity detail", detail)?;
            finding.source = source;
            if id.trim().is_empty() {
                return Err(SignalError::Malformed {
                    what: "suspicious activity event",
                    message: "no event id (its idempotency key)".into(),
                });
            }
            Ok(signal(format!("suspicious:{id}"), event.time, SignalKind::Suspicious(finding)))
        }
        (_, dt) => match OperatorCommandKind::from_detail_type(dt) {
            Some(command) => {
                let detail: OperatorCommandDetail = from_detail("operator command detail", detail)?;
                if id.trim().is_empty() {
                    return Err(SignalError::Malformed {
                        what: "operator command",
                        message: "no event id (the idempotency key of a command)".into(),
                    });
                }
                let cmd = OperatorCommand { command, source, detail };
                Ok(signal(cmd.key(&id), event.time, SignalKind::Operator(cmd)))
            }
            None => Err(SignalError::Unrecognised(format!(
                "EventBridge event from {:?} with detail-type {:?}",
                truncate(&source),
                truncate(dt)
            ))),
        },
    }
}

pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

pub(crate) fn from_detail<T: serde::de::DeserializeOwned>(what: &'static str, detail: Value) -> Result<T, SignalError> {
    serde_json::from_value(detail).map_err(|e| SignalError::Malformed {
        what,
        message: e.to_string(),
    })
}

/// CloudWatch writes `2023-08-04T12:36:15.490+0000` (no colon in the offset), EventBridge
/// RFC 3339: accept both.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, SignalError> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| SignalError::Malformed {
            what: "timestamp",
            message: format!("{:?} is not an ISO 8601 time", truncate(s)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlarmState;

    fn config() -> SuiteConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap()
    }

    fn fixture(name: &str) -> Value {
        let path = crate::fixtures::events_dir().join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn one(name: &str) -> Signal {
        let mut v = normalise(&fixture(name), &config());
        assert_eq!(v.len(), 1);
        v.remove(0).signal.unwrap()
    }

    fn alarm(s: &Signal) -> &AlarmChange {
        match &s.kind {
            SignalKind::Alarm(a) => a,
            other => panic!("not an alarm: {other:?}"),
        }
    }

    #[test]
    fn eventbridge_single_metric_alarm() {
        let s = one("eventbridge-alarm-metric.json");
        let a = alarm(&s);
        assert_eq!(
            (a.alarm_name.as_str(), a.region.as_str()),
            ("aworld-health-api-5xx-eu-south-1", "eu-south-1")
        );
        assert_eq!(
            (a.state, a.previous_state, a.alarm_type),
            (AlarmState::Alarm, Some(AlarmState::Ok), AlarmType::Metric)
        );
        assert_eq!(a.region_source, RegionSource::Configuration);
        assert_eq!(s.channel, Channel::EventBridge);
        assert_eq!(s.at, parse_time("2026-11-24T17:04:40.989Z").unwrap());
    }

    #[test]
    fn eventbridge_composite_alarm() {
        let s = one("eventbridge-alarm-composite.json");
        assert_eq!(alarm(&s).alarm_type, AlarmType::Composite);
    }

    #[test]
    fn eventbridge_metric_math_alarm() {
        assert_eq!(alarm(&one("eventbridge-alarm-math.json")).alarm_type, AlarmType::MetricMath);
    }

    #[test]
    fn anomaly_alarm_takes_its_region_from_propagated_tags_over_the_arn() {
        let s = one("eventbridge-alarm-anomaly.json");
        let a = alarm(&s);
        assert_eq!(a.alarm_type, AlarmType::AnomalyDetection);
        assert_eq!((a.region.as_str(), a.region_source), ("eu-south-1", RegionSource::AlarmTag));
        assert_eq!(a.tags.get("team").map(String::as_str), Some("platform"));
    }

    #[test]
    fn unconfigured_untagged_alarm_takes_its_region_from_the_arn() {
        let mut v = fixture("eventbridge-alarm-anomaly.json");
        v["detail"].as_object_mut().unwrap().remove("alarmTags");
        let s = normalise(&v, &config()).remove(0).signal.unwrap();
        assert_eq!(
            (alarm(&s).region.as_str(), alarm(&s).region_source),
            ("eu-north-1", RegionSource::AlarmArn)
        );
    }

    #[test]
    fn sns_alarm_notification_uses_the_arn_not_the_long_region_name() {
        let s = one("sns-alarm-notification.json");
        let a = alarm(&s);
        assert_eq!(
            (a.alarm_name.as_str(), a.region.as_str()),
            ("aworld-health-canary-eu-south-1", "eu-south-1")
        );
        assert_eq!(s.channel, Channel::Sns);
        assert_eq!(a.alarm_type, AlarmType::Metric);
    }

    #[test]
    fn sns_saturation_alarm_without_alarm_arn_resolves_its_region_from_the_configuration() {
        let mut v = fixture("sns-alarm-notification.json");
        let mut message: Value = serde_json::from_str(v["Records"][0]["Sns"]["Message"].as_str().unwrap()).unwrap();
        message.as_object_mut().unwrap().remove("AlarmArn");
        message["AlarmName"] = serde_json::json!("aworld-saturation-orders-throttles-eu-north-1");
        v["Records"][0]["Sns"]["Message"] = Value::String(message.to_string());
        let s = normalise(&v, &config()).remove(0).signal.unwrap();
        let a = alarm(&s);
        assert_eq!(a.region.as_str(), "eu-north-1");
        assert_eq!(a.region_source, RegionSource::Configuration);
    }

    #[test]
    fn alarm_metric_dimensions_are_kept_for_per_principal_alarms() {
        assert_eq!(
            alarm(&one("eventbridge-alarm-metric.json"))
                .dimensions
                .get("ApiName")
                .map(String::as_str),
            Some("aworld-api")
        );
        assert_eq!(
            alarm(&one("sns-alarm-notification.json"))
                .dimensions
                .get("CanaryName")
                .map(String::as_str),
            Some("aworld-api-canary")
        );
    }

    #[test]
    fn suspicious_activity_event() {
        let s = one("suspicious-activity.json");
        let SignalKind::Suspicious(f) = &s.kind else { panic!("{s:?}") };
        assert_eq!((f.principal.as_str(), f.source.as_str()), ("user#u-1842", "aworld.detector"));
        let mut v = fixture("suspicious-activity.json");
        v["detail"]["principal"] = "root".into();
        let e = normalise(&v, &config()).remove(0).signal.unwrap_err();
        assert!(e.to_string().contains("root"), "{e}");
    }

    #[test]
    fn alarm_action_payload() {
        let s = one("alarm-action.json");
        assert_eq!(s.channel, Channel::AlarmAction);
        assert_eq!(alarm(&s).alarm_name, "aworld-health-api-latency-eu-south-1");
    }

    #[test]
    fn one_transition_has_one_key_whatever_the_channel() {
        let eb = one("eventbridge-alarm-math.json");
        let action = one("alarm-action.json");
        assert_eq!(eb.key, action.key);
        let other = one("eventbridge-alarm-metric.json");
        assert_ne!(eb.key, other.key);
    }

    #[test]
    fn health_event() {
        let s = one("health-event.json");
        let SignalKind::Health(h) = &s.kind else { panic!("{s:?}") };
        assert_eq!(
            (h.service.as_str(), h.status, h.region.as_str()),
            ("LAMBDA", HealthStatus::Open, "eu-south-1")
        );
        assert!(h.description.as_deref().unwrap_or("").contains("Lambda"));
    }

    #[test]
    fn operator_command_is_authorised_only_from_configured_source_signed_by_an_operator_key() {
        let config = crate::fixtures::example_config();
        let unsigned = one("operator-failover.json");
        let SignalKind::Operator(cmd) = &unsigned.kind else {
            panic!("{unsigned:?}")
        };
        assert_eq!(cmd.authorize(&config, unsigned.channel, unsigned.at), Err(CommandRefusal::Unsigned));

        let mut v = fixture("operator-failover.json");
        crate::fixtures::sign_if_command(&mut v);
        let s = normalise(&v, &config).remove(0).signal.unwrap();
        let SignalKind::Operator(cmd) = &s.kind else { panic!("{s:?}") };
        assert_eq!(cmd.command, OperatorCommandKind::Failover);
        assert_eq!(cmd.detail.region.as_ref().map(Region::as_str), Some("eu-north-1"));
        assert!(
            s.key.starts_with("operator:") && !s.key.contains(v["id"].as_str().unwrap()),
            "keyed by the signed command, not the event id"
        );
        let now = Utc::now();
        assert_eq!(cmd.authorize(&config, s.channel, now), Ok(()));

        let mut forged = cmd.clone();
        forged.source = "someone.else".into();
        assert_eq!(
            forged.authorize(&config, s.channel, now),
            Err(CommandRefusal::Source("someone.else".into()))
        );
        let mut intruder = cmd.clone();
        intruder.detail.requested_by = "arn:aws:iam::999999999999:user/mallory".into();
        assert!(matches!(
            intruder.authorize(&config, s.channel, now),
            Err(CommandRefusal::BadSignature(_))
        ));
    }

    #[test]
    fn scheduled_rule_and_scheduler_events() {
        for name in ["scheduled-rule.json", "scheduler-schedule.json"] {
            let s = one(name);
            assert!(matches!(s.kind, SignalKind::Schedule(_)), "{name}");
        }
    }

    #[test]
    fn sqs_batch_reports_each_record_alone() {
        let v = normalise(&fixture("sqs-batch.json"), &config());
        assert_eq!(v.len(), 3);
        assert_eq!(alarm(v[0].signal.as_ref().unwrap()).alarm_name, "aworld-health-api-5xx-eu-south-1");
        assert_eq!(alarm(v[1].signal.as_ref().unwrap()).alarm_name, "aworld-health-canary-eu-south-1");
        assert_eq!(v[1].signal.as_ref().unwrap().channel, Channel::Sqs);
        assert!(matches!(v[2].signal, Err(SignalError::Unrecognised(_))));
        assert_eq!(v[2].message_id.as_deref(), Some("8c5fbd4b-6c0a-4a2b-9c55-6f5f4d0c1e22"));
    }

    #[test]
    fn unknown_inputs_are_named_errors() {
        let cases = [
            (serde_json::json!(42), "number"),
            (serde_json::json!({"foo": 1}), "foo"),
            (
                serde_json::json!({"detail-type": "Thing Happened", "source": "acme", "time": "2026-01-01T00:00:00Z", "resources": [], "detail": {}}),
                "Thing Happened",
            ),
            (serde_json::json!({"Records": [{"eventSource": "aws:kinesis"}]}), "aws:kinesis"),
        ];
        for (v, needle) in cases {
            let e = normalise(&v, &config()).remove(0).signal.unwrap_err();
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        }
    }

    #[test]
    fn bad_alarm_state_and_time_are_named() {
        let mut v = fixture("eventbridge-alarm-metric.json");
        v["detail"]["state"]["value"] = "PANIC".into();
        let e = normalise(&v, &config()).remove(0).signal.unwrap_err();
        assert!(e.to_string().contains("PANIC"), "{e}");
        let mut v = fixture("eventbridge-alarm-metric.json");
        v["detail"]["state"]["timestamp"] = "yesterday".into();
        let e = normalise(&v, &config()).remove(0).signal.unwrap_err();
        assert!(e.to_string().contains("yesterday"), "{e}");
    }

    #[test]
    fn nesting_beyond_the_known_envelopes_is_refused() {
        let mut v = fixture("eventbridge-alarm-metric.json");
        for _ in 0..6 {
            v = serde_json::json!({"Type": "Notification", "Message": v.to_string()});
        }
        let e = normalise(&v, &config()).remove(0).signal.unwrap_err();
        assert_eq!(e, SignalError::TooDeep);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,400}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = normalise(&v, &config());
            }
        }

        #[test]
        fn mutated_fixtures_never_panic(path in proptest::sample::select(vec![
            "eventbridge-alarm-metric.json", "sns-alarm-notification.json", "alarm-action.json",
            "health-event.json", "operator-failover.json", "sqs-batch.json"]),
            cut in 0usize..4000, junk in "\\PC{0,8}") {
            let text = crate::fixtures::event_text(path);
            let cut = text.char_indices().map(|(i, _)| i).take_while(|i| *i <= cut).last().unwrap_or(0);
            let mutated = format!("{}{}{}", &text[..cut], junk, &text[cut..]);
            if let Ok(v) = serde_json::from_str::<Value>(&mutated) {
                let _ = normalise(&v, &config());
            }
        }
    }
}
