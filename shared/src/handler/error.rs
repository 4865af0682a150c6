//! Errors that say whether a retry can help, and the Lambda diagnostic built from them.

/// Errors that say whether a retry can help.
pub trait Retryable: std::fmt::Display {
    fn is_retryable(&self) -> bool;
    /// A short name for the kind of failure (`StoreUnavailable`, `BadInput`, ...).
    fn kind(&self) -> &'static str;
}

/// The Lambda error diagnostic: `Retryable.<kind>` or `NonRetryable.<kind>`, so the invoker
/// (and whoever reads the dead-letter queue) knows whether re-driving can help.
pub fn diagnostic<E: Retryable>(e: &E) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: format!("{}.{}", if e.is_retryable() { "Retryable" } else { "NonRetryable" }, e.kind()),
        error_message: e.to_string(),
    }
}

/// The failures of a function that only reads, decides and records (backup-verifier,
/// readiness-check): its store, its exactly-once guard, or input that is not a signal. A
/// function with failures of its own declares its own enum with these three variants.
#[derive(Debug, thiserror::Error)]
pub enum ReactError {
    #[error("{0} (report not recorded; retry)")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Guard(#[from] crate::handler::once::GuardError),
    #[error("bad input: {0}")]
    BadInput(#[from] crate::signal::SignalError),
}

impl Retryable for ReactError {
    fn kind(&self) -> &'static str {
        match self {
            ReactError::Store(_) => "StoreUnavailable",
            ReactError::Guard(g) => g.kind(),
            ReactError::BadInput(_) => "BadInput",
        }
    }

    fn is_retryable(&self) -> bool {
        !matches!(self, ReactError::BadInput(_))
    }
}

impl From<ReactError> for lambda_runtime::Diagnostic {
    fn from(e: ReactError) -> lambda_runtime::Diagnostic {
        diagnostic(&e)
    }
}
