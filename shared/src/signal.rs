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

use crate::config::SuiteConfig;
use crate::region::{Region, region_of_arn};
use aws_lambda_events::cloudwatch_alarms::CloudWatchAlarm;
use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::sns::SnsEvent;
use aws_lambda_events::sqs::SqsEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Tag (propagated as `alarmTags`) that names the region an alarm speaks for.
pub const REGION_TAG: &str = "resilience:region";
/// EventBridge `source` of operator commands unless configured otherwise.
pub const DEFAULT_OPERATOR_SOURCE: &str = "aworld.operator";
/// How deep envelopes may nest (SQS → SNS → EventBridge is three); more is hostile input.
const MAX_NESTING: usize = 4;

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

/// EventBridge `detail-type` of the platform detectors' events.
pub const SUSPICIOUS_ACTIVITY: &str = "Suspicious Activity";

/// A platform detector's finding about one principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspiciousActivity {
    /// `user#<id>`, `key#<id>` or `ip#<address>`.
    pub principal: crate::throttle::Principal,
    pub reason: String,
    #[serde(default)]
    pub score: Option<f64>,
    /// The EventBridge source (filled in from the envelope).
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "OK" => Some(AlarmState::Ok),
            "ALARM" => Some(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmType {
    Metric,
    MetricMath,
    AnomalyDetection,
    Composite,
}

/// Where the region of an alarm was learnt, most authoritative first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionSource {
    Configuration,
    AlarmTag,
    AlarmArn,
    Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmChange {
    pub alarm_name: String,
    pub alarm_arn: Option<String>,
    /// The region this alarm speaks for.
    pub region: Region,
    pub region_source: RegionSource,
    pub alarm_type: AlarmType,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub reason: String,
    pub tags: BTreeMap<String, String>,
    /// Dimensions of the alarm's metric (a per-user alarm names its user here).
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthStatus {
    Open,
    Closed,
    Upcoming,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthEvent {
    pub event_arn: String,
    pub service: String,
    pub event_type_code: String,
    pub category: String,
    pub status: HealthStatus,
    /// The region the event is about.
    pub region: Region,
    pub description: Option<String>,
}

/// The operator commands, one EventBridge `detail-type` each so rules can route them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorCommandKind {
    Failover,
    Failback,
    Freeze,
    Unfreeze,
    VerifyNow,
    Throttle,
    Release,
}

impl OperatorCommandKind {
    pub const ALL: [OperatorCommandKind; 7] = [
        OperatorCommandKind::Failover,
        OperatorCommandKind::Failback,
        OperatorCommandKind::Freeze,
        OperatorCommandKind::Unfreeze,
        OperatorCommandKind::VerifyNow,
        OperatorCommandKind::Throttle,
        OperatorCommandKind::Release,
    ];

    /// The EventBridge `detail-type` of this command.
    pub fn detail_type(self) -> &'static str {
        match self {
            OperatorCommandKind::Failover => "Resilience Failover Command",
            OperatorCommandKind::Failback => "Resilience Failback Command",
            OperatorCommandKind::Freeze => "Resilience Freeze Command",
            OperatorCommandKind::Unfreeze => "Resilience Unfreeze Command",
            OperatorCommandKind::VerifyNow => "Resilience Verify Now Command",
            OperatorCommandKind::Throttle => "Resilience Throttle Command",
            OperatorCommandKind::Release => "Resilience Release Command",
        }
    }

    fn from_detail_type(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.detail_type() == s)
    }
}

/// The `detail` of an operator command event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorCommandDetail {
    /// Who asks (an IAM principal ARN); checked against `operators.principals`.
    pub requested_by: String,
    /// Why, in the operator's words; copied into the audit record.
    #[serde(default)]
    pub reason: String,
    /// failover: the region to move traffic to; failback: the region to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// throttle / release: the user id, API key or IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorCommand {
    pub command: OperatorCommandKind,
    /// The EventBridge `source` it came from.
    pub source: String,
    pub detail: OperatorCommandDetail,
}

/// Why an operator command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CommandRefusal {
    #[error("source {0:?} is not an allowed operator source")]
    Source(String),
    #[error("principal {0:?} is not an allowed operator")]
    Principal(String),
}

impl OperatorCommand {
    /// Checks the command against the configured sources and principals.
    pub fn authorize(&self, config: &SuiteConfig) -> Result<(), CommandRefusal> {
        let ops = &config.operators;
        let source_ok = if ops.sources.is_empty() {
            self.source == DEFAULT_OPERATOR_SOURCE
        } else {
            ops.sources.contains(&self.source)
        };
        if !source_ok {
            return Err(CommandRefusal::Source(self.source.clone()));
        }
        // An empty principal list refuses everyone: operator commands are opt-in.
        if !ops.principals.contains(&self.detail.requested_by) {
            return Err(CommandRefusal::Principal(self.detail.requested_by.clone()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleTick {
    /// The rule or schedule ARN that fired.
    pub schedule: String,
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

fn normalise_sqs(payload: &Value, config: &SuiteConfig) -> Vec<Inbound> {
    let batch: SqsEvent = match serde_json::from_value(payload.clone()) {
        Ok(b) => b,
        Err(e) => return vec![malformed_batch("SQS batch", e)],
    };
    batch
        .records
        .into_iter()
        .map(|m| {
            let signal = match m.body.as_deref().map(serde_json::from_str::<Value>) {
                Some(Ok(body)) => normalise_one(&body, config, 1).map(|mut s| {
                    s.channel = Channel::Sqs;
                    s
                }),
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

fn normalise_sns(payload: &Value, config: &SuiteConfig) -> Vec<Inbound> {
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

fn malformed_batch(what: &'static str, e: serde_json::Error) -> Inbound {
    Inbound {
        message_id: None,
        signal: Err(SignalError::Malformed {
            what,
            message: e.to_string(),
        }),
    }
}

/// The text of an SNS message: a CloudWatch alarm notification or a forwarded EventBridge event.
fn sns_message(message: &str, config: &SuiteConfig, depth: usize) -> Result<Signal, SignalError> {
    let value: Value = serde_json::from_str(message).map_err(|e| SignalError::Malformed {
        what: "SNS message",
        message: format!("not JSON ({e})"),
    })?;
    let mut signal = if value.get("AlarmName").is_some() {
        sns_alarm(value, config)?
    } else {
        normalise_one(&value, config, depth + 1)?
    };
    signal.channel = Channel::Sns;
    Ok(signal)
}

fn normalise_one(v: &Value, config: &SuiteConfig, depth: usize) -> Result<Signal, SignalError> {
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
        ("aws.health", "AWS Health Event") => {
            let d: HealthDetail = from_detail("AWS Health event detail", detail)?;
            let region = d
                .event_region
                .as_deref()
                .and_then(|r| r.parse().ok())
                .or_else(|| region_of_arn(&d.event_arn))
                .or(event_region)
                .ok_or_else(|| SignalError::Malformed {
                    what: "AWS Health event",
                    message: "no region in eventRegion, eventArn or the event".into(),
                })?;
            let status = match d.status_code.as_str() {
                "open" => HealthStatus::Open,
                "closed" => HealthStatus::Closed,
                "upcoming" => HealthStatus::Upcoming,
                other => {
                    return Err(SignalError::UnknownValue {
                        what: "AWS Health statusCode",
                        value: other.chars().take(40).collect(),
                    });
                }
            };
            let key = format!(
                "health:{}:{}:{}",
                d.event_arn,
                d.status_code,
                d.last_updated_time.as_deref().unwrap_or(&id)
            );
            let description = d
                .event_description
                .into_iter()
                .find(|x| x.language.starts_with("en"))
                .map(|x| x.latest_description);
            Ok(signal(
                key,
                event.time,
                SignalKind::Health(HealthEvent {
                    event_arn: d.event_arn,
                    service: d.service,
                    event_type_code: d.event_type_code,
                    category: d.event_type_category,
                    status,
                    region,
                    description,
                }),
            ))
        }
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
                Ok(signal(
                    format!("operator:{id}"),
                    event.time,
                    SignalKind::Operator(OperatorCommand { command, source, detail }),
                ))
            }
            None => Err(SignalError::Unrecognised(format!(
                "EventBridge event from {:?} with detail-type {:?}",
                truncate(&source),
                truncate(dt)
            ))),
        },
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

fn from_detail<T: serde::de::DeserializeOwned>(what: &'static str, detail: Value) -> Result<T, SignalError> {
    serde_json::from_value(detail).map_err(|e| SignalError::Malformed {
        what,
        message: e.to_string(),
    })
}

/// Idempotency key of an alarm transition: the same transition seen through EventBridge, SNS
/// or an alarm action has the same key.
fn alarm_key(change: &AlarmChange, at: DateTime<Utc>) -> String {
    format!(
        "alarm:{}:{}:{}:{}",
        change.region,
        change.alarm_name,
        change.state,
        at.timestamp_millis()
    )
}

/// The `detail` of an EventBridge alarm state change (same shape as an alarm action's
/// `alarmData`). Our own type because the event crate has none for the EventBridge form.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmDetail {
    alarm_name: String,
    state: AlarmStateDetail,
    #[serde(default)]
    previous_state: Option<AlarmStateDetail>,
    #[serde(default)]
    configuration: Value,
    #[serde(default)]
    alarm_tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct AlarmStateDetail {
    value: String,
    #[serde(default)]
    reason: String,
    timestamp: String,
}

impl AlarmDetail {
    fn into_change(
        self,
        arn: Option<String>,
        event_region: Option<Region>,
        config: &SuiteConfig,
    ) -> Result<(AlarmChange, DateTime<Utc>), SignalError> {
        let state = parse_state(&self.state.value)?;
        let previous_state = match &self.previous_state {
            Some(p) => Some(parse_state(&p.value)?),
            None => None,
        };
        let at = parse_time(&self.state.timestamp)?;
        let (region, region_source) = resolve_region(&self.alarm_name, &self.alarm_tags, arn.as_deref(), event_region, config)?;
        Ok((
            AlarmChange {
                dimensions: dimensions_of_configuration(&self.configuration),
                alarm_type: alarm_type_of_configuration(&self.configuration),
                alarm_name: self.alarm_name,
                alarm_arn: arn,
                region,
                region_source,
                state,
                previous_state,
                reason: self.state.reason,
                tags: self.alarm_tags,
            },
            at,
        ))
    }
}

fn alarm_action(v: &Value, config: &SuiteConfig) -> Result<Signal, SignalError> {
    let alarm: CloudWatchAlarm<Value, Value> = serde_json::from_value(v.clone()).map_err(|e| SignalError::Malformed {
        what: "CloudWatch alarm action payload",
        message: e.to_string(),
    })?;
    // Re-read alarmData through our own type: it also carries `alarmTags`, and the event crate
    // drops the state's raw timestamp text we key on.
    let data: AlarmDetail = from_detail("alarm action alarmData", v.get("alarmData").cloned().unwrap_or(Value::Null))?;
    let event_region = alarm.region.as_deref().and_then(|r| r.parse().ok());
    let (change, at) = data.into_change(alarm.alarm_arn.clone(), event_region, config)?;
    Ok(Signal {
        key: alarm_key(&change, at),
        at,
        channel: Channel::AlarmAction,
        kind: SignalKind::Alarm(change),
    })
}

/// A CloudWatch alarm notification as published to SNS. Our own lenient type: the event
/// crate's `CloudWatchAlarmPayload` requires `AlarmDescription` and `Trigger`, which real
/// notifications set to null (no description) or leave out (composite alarms).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsAlarm {
    alarm_name: String,
    new_state_value: String,
    #[serde(default)]
    old_state_value: Option<String>,
    #[serde(default)]
    new_state_reason: Option<String>,
    state_change_time: String,
    #[serde(default)]
    alarm_arn: Option<String>,
    #[serde(default)]
    alarm_rule: Option<String>,
    #[serde(default)]
    trigger: Option<Value>,
}

fn sns_alarm(v: Value, config: &SuiteConfig) -> Result<Signal, SignalError> {
    let a: SnsAlarm = serde_json::from_value(v).map_err(|e| SignalError::Malformed {
        what: "CloudWatch alarm notification",
        message: e.to_string(),
    })?;
    let state = parse_state(&a.new_state_value)?;
    let previous_state = a.old_state_value.as_deref().map(parse_state).transpose()?;
    let at = parse_time(&a.state_change_time)?;
    // The notification's `Region` is a long name ("EU (Milan)"): the ARN is the reliable source.
    let (region, region_source) = resolve_region(&a.alarm_name, &BTreeMap::new(), a.alarm_arn.as_deref(), None, config)?;
    let alarm_type = if a.alarm_rule.is_some() {
        AlarmType::Composite
    } else {
        match a.trigger.as_ref().and_then(|t| t.get("Metrics")).and_then(Value::as_array) {
            Some(metrics) if !metrics.is_empty() => {
                math_or_anomaly(metrics.iter().filter_map(|m| m.get("Expression").and_then(Value::as_str)))
            }
            _ => AlarmType::Metric,
        }
    };
    let change = AlarmChange {
        dimensions: dimensions_of_trigger(a.trigger.as_ref()),
        alarm_name: a.alarm_name,
        alarm_arn: a.alarm_arn,
        region,
        region_source,
        alarm_type,
        state,
        previous_state,
        reason: a.new_state_reason.unwrap_or_default(),
        tags: BTreeMap::new(),
    };
    Ok(Signal {
        key: alarm_key(&change, at),
        at,
        channel: Channel::Sns,
        kind: SignalKind::Alarm(change),
    })
}

/// The dimensions of the first metric that has some (EventBridge / alarm-action shape).
fn dimensions_of_configuration(configuration: &Value) -> BTreeMap<String, String> {
    configuration
        .get("metrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.pointer("/metricStat/metric/dimensions").and_then(Value::as_object))
        .find(|d| !d.is_empty())
        .map(|d| d.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// The dimensions of an SNS alarm notification's trigger (`[{"name": .., "value": ..}]`).
fn dimensions_of_trigger(trigger: Option<&Value>) -> BTreeMap<String, String> {
    let Some(t) = trigger else { return BTreeMap::new() };
    let lists = std::iter::once(t.get("Dimensions")).chain(
        t.get("Metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| m.pointer("/MetricStat/Metric/Dimensions")),
    );
    lists
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|d| {
            let name = d.get("name").or_else(|| d.get("Name"))?.as_str()?;
            let value = d.get("value").or_else(|| d.get("Value"))?.as_str()?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

fn alarm_type_of_configuration(configuration: &Value) -> AlarmType {
    if configuration.get("alarmRule").is_some() {
        return AlarmType::Composite;
    }
    let metrics = configuration
        .get("metrics")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let expressions: Vec<&str> = metrics.iter().filter_map(|m| m.get("expression").and_then(Value::as_str)).collect();
    if metrics.len() <= 1 && expressions.is_empty() {
        AlarmType::Metric
    } else {
        math_or_anomaly(expressions.into_iter())
    }
}

fn math_or_anomaly<'a>(mut expressions: impl Iterator<Item = &'a str>) -> AlarmType {
    if expressions.any(|e| e.contains("ANOMALY_DETECTION_BAND")) {
        AlarmType::AnomalyDetection
    } else {
        AlarmType::MetricMath
    }
}

fn resolve_region(
    alarm: &str,
    tags: &BTreeMap<String, String>,
    arn: Option<&str>,
    event_region: Option<Region>,
    config: &SuiteConfig,
) -> Result<(Region, RegionSource), SignalError> {
    if let Some(r) = config.region_of_alarm(alarm) {
        return Ok((r.clone(), RegionSource::Configuration));
    }
    if let Some(tag) = tags.get(REGION_TAG) {
        return tag
            .parse()
            .map(|r| (r, RegionSource::AlarmTag))
            .map_err(|_| SignalError::UnknownValue {
                what: "alarm tag resilience:region",
                value: truncate(tag),
            });
    }
    if let Some(r) = arn.and_then(region_of_arn) {
        return Ok((r, RegionSource::AlarmArn));
    }
    event_region
        .map(|r| (r, RegionSource::Event))
        .ok_or_else(|| SignalError::UnknownRegion { alarm: truncate(alarm) })
}

fn parse_state(s: &str) -> Result<AlarmState, SignalError> {
    AlarmState::parse(s).ok_or_else(|| SignalError::UnknownValue {
        what: "alarm state",
        value: truncate(s),
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthDetail {
    event_arn: String,
    service: String,
    event_type_code: String,
    event_type_category: String,
    status_code: String,
    #[serde(default)]
    event_region: Option<String>,
    #[serde(default)]
    last_updated_time: Option<String>,
    #[serde(default)]
    event_description: Vec<HealthDescription>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthDescription {
    language: String,
    latest_description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SuiteConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap()
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
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
        assert_eq!((a.alarm_name.as_str(), a.region.as_str()), ("api-5xx-eu-south-1", "eu-south-1"));
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
        assert_eq!((a.alarm_name.as_str(), a.region.as_str()), ("canary-eu-south-1", "eu-south-1"));
        assert_eq!(s.channel, Channel::Sns);
        assert_eq!(a.alarm_type, AlarmType::Metric);
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
        assert_eq!(alarm(&s).alarm_name, "api-latency-eu-south-1");
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
    fn operator_command_is_authorised_only_from_configured_source_and_principal() {
        let s = one("operator-failover.json");
        let SignalKind::Operator(cmd) = &s.kind else { panic!("{s:?}") };
        assert_eq!(cmd.command, OperatorCommandKind::Failover);
        assert_eq!(cmd.detail.region.as_ref().map(Region::as_str), Some("eu-north-1"));
        assert_eq!(cmd.authorize(&config()), Ok(()));

        let mut forged = cmd.clone();
        forged.source = "someone.else".into();
        assert_eq!(forged.authorize(&config()), Err(CommandRefusal::Source("someone.else".into())));
        let mut intruder = cmd.clone();
        intruder.detail.requested_by = "arn:aws:iam::999999999999:user/mallory".into();
        assert!(matches!(intruder.authorize(&config()), Err(CommandRefusal::Principal(_))));
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
        assert_eq!(alarm(v[0].signal.as_ref().unwrap()).alarm_name, "api-5xx-eu-south-1");
        assert_eq!(alarm(v[1].signal.as_ref().unwrap()).alarm_name, "canary-eu-south-1");
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
            let text = std::fs::read_to_string(format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let cut = text.char_indices().map(|(i, _)| i).take_while(|i| *i <= cut).last().unwrap_or(0);
            let mutated = format!("{}{}{}", &text[..cut], junk, &text[cut..]);
            if let Ok(v) = serde_json::from_str::<Value>(&mutated) {
                let _ = normalise(&v, &config());
            }
        }
    }
}
