//! "Suspicious Activity" findings from the platform's detectors.

use serde::{Deserialize, Serialize};

/// EventBridge `detail-type` of the platform detectors' events.
pub const SUSPICIOUS_ACTIVITY: &str = "Suspicious Activity";

/// A platform detector's finding about one principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspiciousActivity {
    /// `user#<id>`, `key#<id>` or `ip#<address>`.
    pub principal: crate::model::Principal,
    pub reason: String,
    #[serde(default)]
    pub score: Option<f64>,
    /// The EventBridge source (filled in from the envelope).
    #[serde(default)]
    pub source: String,
}
