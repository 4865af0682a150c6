//! One typed error for every AWS call: what was asked (service, operation, where), what AWS
//! said, and in its `Display` one line a person can act on — never the SDK's debug dump. One
//! classifier ([`classify`]) builds it from any SDK error, by its error code (the services'
//! documented common errors) and the transport's outcome; [`said`] is its short form for a
//! message that already names the call.

use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;
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
            ReadErrorKind::Missing => "not found",
            ReadErrorKind::Other => "failed",
        };
        write!(f, "{} {what} ({}); fix: {}", self.call, self.said(), self.fix())
    }
}

impl std::error::Error for ReadError {}

/// Codes that say the caller may not (AWS "Common Errors": AccessDenied*, the token and
/// signature errors), whichever service says them.
const DENIED: [&str; 6] = [
    "AccessDenied",
    "Unauthorized",
    "InvalidClientTokenId",
    "UnrecognizedClient",
    "AuthorizationError",
    "Forbidden",
];
/// Codes that ask the caller to slow down.
const THROTTLED: [&str; 6] = [
    "Throttl",
    "TooManyRequests",
    "RequestLimitExceeded",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceeded",
    "RequestThrottled",
];
/// Codes that say what was asked for does not exist.
const MISSING: [&str; 5] = [
    "ResourceNotFound",
    "NoSuch",
    "TableNotFound",
    "NotFound",
    "ResourceNotFoundException",
];

/// Classifies `e`, the failure of `call` (`service:Operation` and where).
pub fn classify<E: ProvideErrorMetadata>(call: impl Into<String>, e: &SdkError<E, Response>) -> ReadError {
    let call = call.into();
    let code = e.code().map(str::to_owned);
    let status = match e {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    };
    let message = match (&code, e, status) {
        (Some(_), _, _) => e.message().unwrap_or_default().chars().take(300).collect(),
        (None, _, Some(s)) => format!("HTTP {s} without an AWS error"),
        (None, SdkError::TimeoutError(_), _) => "timed out".to_owned(),
        (None, SdkError::DispatchFailure(d), _) if d.is_timeout() => "timed out".to_owned(),
        (None, SdkError::DispatchFailure(d), _) if d.is_io() => "no connection (I/O error)".to_owned(),
        (None, SdkError::DispatchFailure(_), _) => "no connection".to_owned(),
        (None, SdkError::ResponseError(_), _) => "an answer that could not be read".to_owned(),
        (None, SdkError::ConstructionFailure(_), _) => "the request could not be built".to_owned(),
        (None, _, _) => "failed".to_owned(),
    };
    let starts = |list: &[&str]| code.as_deref().is_some_and(|c| list.iter().any(|p| c.starts_with(p)));
    let kind = match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ReadErrorKind::Unreachable,
        _ if starts(&THROTTLED) => ReadErrorKind::Throttled,
        _ if starts(&DENIED) || (code.is_none() && status == Some(403)) => ReadErrorKind::Denied,
        _ if starts(&MISSING) || (code.is_none() && status == Some(404)) => ReadErrorKind::Missing,
        _ if status.is_some_and(|s| s >= 500) => ReadErrorKind::Unreachable,
        _ => ReadErrorKind::Other,
    };
    ReadError::new(kind, call, code, message)
}

/// What a failed call said, in a few words: an SDK error through [`classify`], a request
/// that could not be built by its own message; never the SDK's debug dump.
pub trait Said {
    fn said(&self) -> String;
}

impl<E: ProvideErrorMetadata> Said for SdkError<E, Response> {
    fn said(&self) -> String {
        classify("", self).said()
    }
}

impl Said for aws_smithy_types::error::operation::BuildError {
    fn said(&self) -> String {
        format!("the request could not be built: {self}")
    }
}

/// [`Said::said`], as a function.
pub fn said<T: Said>(e: &T) -> String {
    e.said()
}

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

#[cfg(test)]
mod classify_tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsError;
    use aws_sdk_route53::error::SdkError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(code: Option<&str>, status: u16) -> SdkError<DescribeAlarmsError, Response> {
        let mut meta = ErrorMetadata::builder().message("said so");
        if let Some(c) = code {
            meta = meta.code(c);
        }
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(DescribeAlarmsError::generic(meta.build()), raw)
    }

    #[test]
    fn each_failure_is_classified_by_its_code_then_its_status() {
        let kind = |code, status| classify("cloudwatch:DescribeAlarms", &service(code, status)).kind;
        assert_eq!(kind(Some("AccessDenied"), 400), ReadErrorKind::Denied);
        assert_eq!(kind(Some("AccessDeniedException"), 400), ReadErrorKind::Denied);
        assert_eq!(kind(None, 403), ReadErrorKind::Denied);
        assert_eq!(kind(Some("Throttling"), 400), ReadErrorKind::Throttled);
        assert_eq!(kind(Some("ThrottlingException"), 400), ReadErrorKind::Throttled);
        assert_eq!(kind(Some("ProvisionedThroughputExceededException"), 400), ReadErrorKind::Throttled);
        assert_eq!(kind(Some("ResourceNotFoundException"), 400), ReadErrorKind::Missing);
        assert_eq!(kind(Some("NoSuchHostedZone"), 404), ReadErrorKind::Missing);
        assert_eq!(kind(None, 503), ReadErrorKind::Unreachable);
        assert_eq!(kind(Some("ValidationError"), 400), ReadErrorKind::Other);
    }

    #[test]
    fn a_transport_failure_is_unreachable_in_a_few_words_not_the_sdks_debug_dump() {
        let e: SdkError<DescribeAlarmsError, Response> = SdkError::timeout_error("the operation timed out after 3 s");
        let read = classify("cloudwatch:DescribeAlarms in eu-south-1", &e);
        assert_eq!(read.kind, ReadErrorKind::Unreachable);
        let line = read.to_string();
        assert!(
            line.starts_with("cloudwatch:DescribeAlarms in eu-south-1 did not answer (timed out)"),
            "{line}"
        );
        assert!(!line.contains("TimeoutError("), "{line}");
    }
}
