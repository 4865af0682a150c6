//! Operator commands: one EventBridge detail-type each, authorised against the configuration.

use crate::config::SuiteConfig;
use crate::model::Region;
use serde::{Deserialize, Serialize};

/// EventBridge `source` of operator commands unless configured otherwise.
pub const DEFAULT_OPERATOR_SOURCE: &str = "aworld.operator";

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

    pub fn from_detail_type(s: &str) -> Option<Self> {
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
