//! CloudWatch alarm state changes in their three shapes (EventBridge event, SNS notification,
//! alarm-action payload) and the region each speaks for.

use crate::config::SuiteConfig;
use crate::model::{AlarmState, Region, region_of_arn};
use crate::signal::{Channel, Signal, SignalError, SignalKind, from_detail, parse_time, truncate};
use aws_lambda_events::cloudwatch_alarms::CloudWatchAlarm;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Tag (propagated as `alarmTags`) that names the region an alarm speaks for.
pub const REGION_TAG: &str = "resilience:region";

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

/// Idempotency key of an alarm transition: the same transition seen through EventBridge, SNS
/// or an alarm action has the same key.
pub(crate) fn alarm_key(change: &AlarmChange, at: DateTime<Utc>) -> String {
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
pub(crate) struct AlarmDetail {
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
pub(crate) struct AlarmStateDetail {
    value: String,
    #[serde(default)]
    reason: String,
    timestamp: String,
}

impl AlarmDetail {
    pub(crate) fn into_change(
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

pub(crate) fn alarm_action(v: &Value, config: &SuiteConfig) -> Result<Signal, SignalError> {
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
pub(crate) struct SnsAlarm {
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

pub(crate) fn sns_alarm(v: Value, config: &SuiteConfig) -> Result<Signal, SignalError> {
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
pub(crate) fn dimensions_of_configuration(configuration: &Value) -> BTreeMap<String, String> {
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
pub(crate) fn dimensions_of_trigger(trigger: Option<&Value>) -> BTreeMap<String, String> {
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

pub(crate) fn alarm_type_of_configuration(configuration: &Value) -> AlarmType {
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

pub(crate) fn math_or_anomaly<'a>(mut expressions: impl Iterator<Item = &'a str>) -> AlarmType {
    if expressions.any(|e| e.contains("ANOMALY_DETECTION_BAND")) {
        AlarmType::AnomalyDetection
    } else {
        AlarmType::MetricMath
    }
}

pub(crate) fn resolve_region(
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

pub(crate) fn parse_state(s: &str) -> Result<AlarmState, SignalError> {
    AlarmState::parse(s).ok_or_else(|| SignalError::UnknownValue {
        what: "alarm state",
        value: truncate(s),
    })
}
