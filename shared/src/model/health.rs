//! Region health as the suite reads it: the state of each health alarm, and whether the
//! region's CloudWatch could be read at all. Read by `act::health`, judged by `decide::failover`,
//! and used by capacity-scaler for its saturation alarms.

use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    #[default]
    InsufficientData,
}

impl AlarmState {
    pub(crate) fn parse(s: &str) -> Option<Self> {
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

/// The health of one region as read just now (DescribeAlarms in that region).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionHealth {
    /// False when the region's CloudWatch API could not be reached: no connection, a timeout
    /// or a 5xx, twice in a row. Only that is evidence about the region itself.
    pub reachable: bool,
    /// State of each configured health alarm (and the composite); missing = not found.
    pub alarms: BTreeMap<String, AlarmState>,
    /// The API answered but the alarms were not read: evidence of nothing about the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<Unread>,
}

impl RegionHealth {
    /// Read, with these alarm states.
    pub fn read(alarms: BTreeMap<String, AlarmState>) -> Self {
        RegionHealth {
            reachable: true,
            alarms,
            unread: None,
        }
    }
}

/// Why a region that answered could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum Unread {
    /// Still throttled after the SDK's attempts, or an answer that is neither a refusal nor an
    /// outage: try again later.
    Throttled(String),
    /// Refused (AccessDenied, a validation error): a configuration problem a person must fix;
    /// no automatic action rests on it.
    Refused(String),
}

pub type HealthView = BTreeMap<Region, RegionHealth>;
