//! AWS Health events.

use crate::model::{Region, region_of_arn};
use crate::signal::{Channel, Signal, SignalError, SignalKind, from_detail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// Counted although the Health API could not confirm it (`health_events.confirm = false`):
    /// set by the handler after its check, never by the sender. Such an issue never stops a
    /// signed manual command.
    #[serde(default)]
    pub taken_as_it_came: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HealthDetail {
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
pub(crate) struct HealthDescription {
    language: String,
    latest_description: String,
}

/// An "AWS Health Event" (its `detail`) as a signal: the region from `eventRegion`, the event ARN,
/// or the event; the key from the ARN, status and last update, so each change is one signal.
pub(crate) fn health_signal(detail: Value, id: &str, time: DateTime<Utc>, event_region: Option<Region>) -> Result<Signal, SignalError> {
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
        d.last_updated_time.as_deref().unwrap_or(id)
    );
    let description = d
        .event_description
        .into_iter()
        .find(|x| x.language.starts_with("en"))
        .map(|x| x.latest_description);
    Ok(Signal {
        key,
        at: time,
        channel: Channel::EventBridge,
        kind: SignalKind::Health(HealthEvent {
            event_arn: d.event_arn,
            service: d.service,
            event_type_code: d.event_type_code,
            category: d.event_type_category,
            status,
            region,
            description,
            taken_as_it_came: false,
        }),
    })
}
