//! One typed error for every AWS read: what was asked (service, operation, where), what AWS
//! said, and in its `Display` one line a person can act on — never the SDK's debug dump. The
//! classifier that builds it from an SDK error is `act::read_error::classify`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a read did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadErrorKind {
    /// The caller may not read it (AccessDenied and kin, an HTTP 403): a person must fix a grant.
    Denied,
    /// The API asked to slow down: unknown this time, try again later.
    Throttled,
    /// No answer: no connection, a timeout, a 5xx. Says something about the endpoint.
    Unreachable,
    /// What was read does not exist.
    Missing,
    /// Any other refusal (a validation error, an API the account does not offer).
    Other,
}

/// A failed read, in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadError {
    pub kind: ReadErrorKind,
    /// `service:Operation` and where, e.g. `cloudwatch:DescribeAlarms in eu-south-1`.
    pub call: String,
    /// AWS's error code, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What AWS (or the transport) said, short.
    pub message: String,
}

impl ReadError {
    pub fn new(kind: ReadErrorKind, call: impl Into<String>, code: Option<String>, message: impl Into<String>) -> Self {
        ReadError {
            kind,
            call: call.into(),
            code,
            message: message.into(),
        }
    }

    /// A read that answered with something this code cannot use.
    pub fn other(call: impl Into<String>, message: impl Into<String>) -> Self {
        ReadError::new(ReadErrorKind::Other, call, None, message)
    }

    /// What AWS said: its code and message, or the transport's own words.
    pub fn said(&self) -> String {
        match &self.code {
            Some(code) if self.message.is_empty() => code.clone(),
            Some(code) => format!("{code}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self.kind {
            ReadErrorKind::Denied => "grant the call to this function's role (infra/template.yaml), or lift the deny",
            ReadErrorKind::Throttled => "none if the next attempt answers; otherwise ask for a higher API rate quota",
            ReadErrorKind::Unreachable => "check the service's health in that region and the network path to its endpoint",
            ReadErrorKind::Missing => "create it, or correct the name in the configuration",
            ReadErrorKind::Other => "check the request against the API reference and the account's access to this API",
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ReadErrorKind::Denied => "denied",
            ReadErrorKind::Throttled => "throttled",
            ReadErrorKind::Unreachable => "did not answer",
            ReadErrorKind::Missing => "found nothing",
            ReadErrorKind::Other => "failed",
        };
        write!(f, "{} {what} ({}); fix: {}", self.call, self.said(), self.fix())
    }
}

impl std::error::Error for ReadError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_error_is_one_line_naming_the_call_what_aws_said_and_the_fix() {
        let e = ReadError::new(
            ReadErrorKind::Denied,
            "cloudwatch:DescribeAlarms in eu-south-1",
            Some("AccessDenied".into()),
            "User is not authorized",
        );
        let line = e.to_string();
        assert_eq!(line.lines().count(), 1);
        assert!(
            line.starts_with("cloudwatch:DescribeAlarms in eu-south-1 denied (AccessDenied: User is not authorized)"),
            "{line}"
        );
        assert!(line.contains("fix: grant the call"), "{line}");
    }
}
