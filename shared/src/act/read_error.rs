//! The one classifier of a failed AWS call: every reader turns an SDK error into a
//! [`ReadError`] here, by its error code (the services' documented common errors) and the
//! transport's outcome, with a message short enough for a report, a notification or a CLI line.

use crate::model::{ReadError, ReadErrorKind};
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;

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
pub fn classify<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    call: impl Into<String>,
    e: &SdkError<E, Response>,
) -> ReadError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsError;
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
