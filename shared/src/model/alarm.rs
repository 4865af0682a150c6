//! The facts of a CloudWatch alarm as DescribeAlarms gives them (`act::alarms` reads them):
//! what the decisions and checks grade, typed.

use crate::model::AlarmState;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmFacts {
    pub name: String,
    pub composite: bool,
    pub state: AlarmState,
    /// When its state value last changed (`StateTransitionedTimestamp`: "the date and time that
    /// the alarm's StateValue most recently changed"; `StateUpdatedTimestamp` where absent).
    pub changed_at: Option<DateTime<Utc>>,
    pub period: Option<i32>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    /// A metric-math alarm (`Metrics` instead of one metric).
    pub metric_math: bool,
    /// The dimensions of its metric, or of every metric of a metric-math alarm.
    pub dimensions: BTreeMap<String, String>,
}
