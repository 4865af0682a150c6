//! What dns-failover can decide: a failover or failback plan, a freeze, a refusal, or no action
//! with its reason (and the severity a person must hear it with).

use crate::model::Region;
use crate::model::Severity;
use crate::model::audit::DecisionName;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Take `drain` out of DNS, sending its traffic to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverPlan {
    pub drain: Region,
    pub target: Region,
    pub why: String,
    /// Asked for by an operator (not automatic).
    pub manual: bool,
}

/// Put `region` back into DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailbackPlan {
    pub region: Region,
    pub why: String,
    pub manual: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    Failover(FailoverPlan),
    Failback(FailbackPlan),
    Freeze {
        by: String,
        /// When the command was signed: freezes and unfreezes apply in that order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signed_at: Option<DateTime<Utc>>,
    },
    Unfreeze {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signed_at: Option<DateTime<Utc>>,
    },
    /// A signed command forgets `region`'s open AWS Health issues.
    ClearHealthIssues {
        region: Region,
        by: String,
    },
    /// An operator command that is not obeyed: its sender or principal is not allowed, or a
    /// safety rule stops it (traffic is never moved to a region that is not healthy).
    Refused {
        why: String,
    },
    NoAction(NoAction),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoAction {
    pub reason: NoActionReason,
    pub why: String,
    /// What would have been done, when a switch (kill switch, freeze) stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Box<Decision>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoActionReason {
    NotForThisFunction,
    UnknownRegion,
    NotAHealthSignal,
    RegionNotFailing,
    AlreadyDrained,
    NotDrained,
    LastServingRegion,
    BothRegionsFailing,
    TargetNotHealthy,
    HoldDown,
    FailbackIsManual,
    NotHealthyLongEnough,
    KillSwitch,
    Frozen,
    /// A region's alarms were refused to us (AccessDenied, validation): a configuration error.
    HealthReadRefused,
    /// Another region's function carries this drain or restore out.
    OtherRegionActs,
}

impl NoActionReason {
    /// Some refusals need a person now.
    pub fn severity(self) -> Option<Severity> {
        match self {
            NoActionReason::LastServingRegion
            | NoActionReason::BothRegionsFailing
            | NoActionReason::TargetNotHealthy
            | NoActionReason::HealthReadRefused => Some(Severity::Critical),
            NoActionReason::KillSwitch | NoActionReason::Frozen => Some(Severity::Warning),
            _ => None,
        }
    }
}

pub(super) fn none(reason: NoActionReason, why: impl Into<String>) -> Decision {
    Decision::NoAction(NoAction {
        reason,
        why: why.into(),
        withheld: None,
    })
}

impl Decision {
    pub fn name(&self) -> DecisionName {
        match self {
            Decision::Failover(_) => DecisionName::Failover,
            Decision::Failback(_) => DecisionName::Failback,
            Decision::Freeze { .. } => DecisionName::Freeze,
            Decision::Unfreeze { .. } => DecisionName::Unfreeze,
            Decision::ClearHealthIssues { .. } => DecisionName::ClearHealthIssues,
            Decision::Refused { .. } => DecisionName::Refused,
            Decision::NoAction(_) => DecisionName::NoAction,
        }
    }

    pub fn why(&self) -> String {
        match self {
            Decision::Failover(p) => format!("drain {} and send its traffic to {}: {}", p.drain, p.target, p.why),
            Decision::Failback(p) => format!("restore {} to DNS: {}", p.region, p.why),
            Decision::Freeze { by, .. } => format!("frozen by {by}: no automatic action until unfrozen"),
            Decision::Unfreeze { by, .. } => format!("unfrozen by {by}"),
            Decision::ClearHealthIssues { region, by } => format!("open AWS Health issues of {region} cleared by {by}"),
            Decision::Refused { why } => why.clone(),
            Decision::NoAction(n) => n.why.clone(),
        }
    }

    /// Whether the decision changes DNS.
    pub fn moves_traffic(&self) -> bool {
        matches!(self, Decision::Failover(_) | Decision::Failback(_))
    }
}
