//! What a function answers for one signal: the invocation's result, or one record's in a
//! batch. Typed, so the decision is a [`DecisionName`] (or dns-failover's whole decision) and
//! never a string compared with another string.

use crate::decide::failover;
use crate::model::{AuditRecord, DecisionName};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The answer for one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    /// Another delivery of the same signal handled it; `status` is its recorded outcome.
    Duplicate { signal: String, duplicate: bool, status: String },
    /// What was decided, why, and what the function adds (its report, its actions, the drill).
    Decided(Decided),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decided {
    pub signal: String,
    pub decision: Decision,
    pub why: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<String>,
    /// The function's own fields, by name.
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

/// The decision of an answer: its name, or dns-failover's whole decision (the plan, the
/// reason), whose `decision` field names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Decision {
    Plan(Box<failover::Decision>),
    Name(DecisionName),
}

impl Decision {
    pub fn name(&self) -> DecisionName {
        match self {
            Decision::Plan(d) => d.name(),
            Decision::Name(n) => *n,
        }
    }
}

impl From<DecisionName> for Decision {
    fn from(n: DecisionName) -> Self {
        Decision::Name(n)
    }
}

impl From<failover::Decision> for Decision {
    fn from(d: failover::Decision) -> Self {
        Decision::Plan(Box::new(d))
    }
}

impl Answer {
    /// A decision without an audit record (a signal this function does nothing with).
    pub fn decided(signal: &str, decision: impl Into<Decision>, why: impl Into<String>) -> Answer {
        Answer::Decided(Decided {
            signal: signal.to_owned(),
            decision: decision.into(),
            why: why.into(),
            audit_id: None,
            detail: Map::new(),
        })
    }

    /// The decision an audit record holds, with its id.
    pub fn audited(record: &AuditRecord) -> Answer {
        Answer::Decided(Decided {
            signal: record.signal_key.clone(),
            decision: record.decision.into(),
            why: record.reason.clone(),
            audit_id: Some(record.id.clone()),
            detail: Map::new(),
        })
    }

    pub fn duplicate(signal: &str, status: impl Into<String>) -> Answer {
        Answer::Duplicate {
            signal: signal.to_owned(),
            duplicate: true,
            status: status.into(),
        }
    }

    /// Adds one of the function's own fields (a duplicate answer has none).
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Serialize) -> Answer {
        if let Answer::Decided(d) = &mut self {
            d.detail.insert(name.to_owned(), serde_json::to_value(value).unwrap_or(Value::Null));
        }
        self
    }

    /// Names the audit record the answer comes from.
    #[must_use]
    pub fn audit_id(mut self, id: &str) -> Answer {
        if let Answer::Decided(d) = &mut self {
            d.audit_id = Some(id.to_owned());
        }
        self
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Answer::Duplicate { .. })
    }

    /// Why (a duplicate: the first delivery's recorded outcome).
    pub fn why(&self) -> &str {
        match self {
            Answer::Decided(d) => &d.why,
            Answer::Duplicate { status, .. } => status,
        }
    }

    /// One of the function's own fields.
    pub fn detail(&self, name: &str) -> Option<&Value> {
        match self {
            Answer::Decided(d) => d.detail.get(name),
            Answer::Duplicate { .. } => None,
        }
    }

    /// The decision's name (`None` for a duplicate).
    pub fn decision(&self) -> Option<DecisionName> {
        match self {
            Answer::Decided(d) => Some(d.decision.name()),
            Answer::Duplicate { .. } => None,
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_keep_the_wire_shape_the_callers_read() {
        let a = Answer::decided("k", DecisionName::NoAction, "nothing to do").with("report", json!({"grade": "pass"}));
        assert_eq!(
            a.to_value(),
            json!({"signal": "k", "decision": "no-action", "why": "nothing to do", "report": {"grade": "pass"}})
        );
        assert_eq!(
            Answer::duplicate("k", "already handled: failover").to_value(),
            json!({"signal": "k", "duplicate": true, "status": "already handled: failover"})
        );
        let back: Answer = serde_json::from_value(a.to_value()).unwrap();
        assert_eq!(back.decision(), Some(DecisionName::NoAction));
    }

    #[test]
    fn a_failover_decision_is_answered_whole_and_named() {
        let d = failover::Decision::Refused { why: "no".into() };
        let a = Answer::decided("k", d.clone(), d.why());
        assert_eq!(a.to_value()["decision"], json!({"decision": "refused", "why": "no"}));
        assert_eq!(a.decision(), Some(DecisionName::Refused));
        let back: Answer = serde_json::from_value(a.to_value()).unwrap();
        assert_eq!(back, a);
    }
}
