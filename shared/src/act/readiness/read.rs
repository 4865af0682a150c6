//! What every area's reading shares: the interceptor that counts a check's AWS calls, and the
//! classification of a failed call, so that every area reports a refusal, a throttle and an
//! outage the same way (and none of them as a pass).

use crate::model::ReadError;

use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
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

/// A failed read, by the one classifier (`act::read_error`). The call is named by the item
/// that reports it (`decide::readiness::unreadable` says which action was not answered).
pub(super) fn failure<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> ReadError {
    crate::model::classify("", &e)
}

/// The AWS error code of a failed call, for the areas that grade a particular one (a missing
/// resource) rather than report it unread.
pub(super) fn code_of<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.code()
}
