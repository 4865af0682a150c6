//! Region health as the suite reads it: the state of each health alarm, and whether the
//! region's CloudWatch could be read at all. Read by `act::health`, judged by `decide::failover`,
//! and used by capacity-scaler for its saturation alarms.

use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
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
    /// False when the region's alarms could not be read (its CloudWatch API is unreachable).
    pub reachable: bool,
    /// State of each configured health alarm (and the composite); missing = not found.
    pub alarms: BTreeMap<String, AlarmState>,
}

pub type HealthView = BTreeMap<Region, RegionHealth>;
