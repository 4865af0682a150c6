//! What every area's reading shares: the interceptor that counts a check's AWS calls, and the
//! classification of a failed call, so that every area reports a refusal, a throttle and an
//! outage the same way (and none of them as a pass).

use crate::decide::readiness::ReadFailure;
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts operations (not retries) on every client the probe makes.
#[derive(Debug, Clone, Default)]
pub(super) struct CallCounter(pub(super) Arc<AtomicU64>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "ReadinessCallCounter"
    }

    fn read_before_execution(&self, _: &BeforeSerializationInterceptorContextRef<'_>, _: &mut ConfigBag) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A failed read, classified by its error code, with a message short enough for a report: the
/// code and message when AWS gave them, else the HTTP status or the transport's own error.
pub(super) fn failure<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> ReadFailure {
    let code = e.code().map(str::to_owned);
    let message = match (&code, &e) {
        (Some(c), _) => format!("{c}: {}", e.message().unwrap_or_default()),
        (None, SdkError::ServiceError(se)) => format!("HTTP {} without an AWS error", se.raw().status().as_u16()),
        (None, _) => {
            let full = DisplayErrorContext(&e).to_string();
            full.chars().take(200).collect()
        }
    };
    // A 403 is a refusal whatever its body says (the query protocols' error bodies differ).
    let forbidden = matches!(&e, SdkError::ServiceError(se) if se.raw().status().as_u16() == 403);
    match code.as_deref() {
        None if forbidden => ReadFailure::Denied(message),
        code => ReadFailure::from_code(code, message),
    }
}

/// The AWS error code of a failed call, for the areas that grade a particular one (a missing
/// resource) rather than report it unread.
pub(super) fn code_of<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.code()
}
