//! The shape every function shares: one reaction seam ([`Reaction`] and [`serve`]), one
//! dispatcher (a single event, or an SQS batch with a typed partial-batch response), one
//! exactly-once path, a typed [`Answer`], one error diagnostic.

pub mod answer;
pub mod dispatch;
pub mod error;
pub mod once;
pub mod reaction;

pub use answer::Answer;
pub use dispatch::{BatchResponse, answer, audit_rejected, dispatch, is_sqs_batch, signal_span};
pub use error::{ReactError, Retryable, diagnostic};
pub use reaction::{Reaction, serve};
