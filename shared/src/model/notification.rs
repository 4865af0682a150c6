//! Notifications: what a person must know of, and how urgently. The writers (SNS, the
//! recording double) live in `evidence::notify`.

use crate::model::Region;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Something a person must know of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub severity: Severity,
    pub function: String,
    pub region: Region,
    /// One line, for a mail subject or a chat title.
    pub subject: String,
    /// A few lines for a person: what happened, what was done, what to check, how to undo.
    pub summary: String,
    /// Everything a program needs (the decision, the actions, the audit id).
    pub body: Value,
}
