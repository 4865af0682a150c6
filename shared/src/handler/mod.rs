//! The shape every function shares: one dispatcher (a single event, or an SQS batch with a
//! typed partial-batch response), one exactly-once path, one error diagnostic.

pub mod dispatch;
pub mod error;
pub mod once;

pub use dispatch::{BatchResponse, answer, audit_rejected, dispatch, is_sqs_batch, signal_span};
pub use error::{ReactError, Retryable, diagnostic};
