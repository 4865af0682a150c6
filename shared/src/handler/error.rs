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
