//! Scheduled ticks (scheduled rules and EventBridge Scheduler).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleTick {
    /// The rule or schedule ARN that fired.
    pub schedule: String,
}
