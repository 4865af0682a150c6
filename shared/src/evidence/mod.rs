//! Evidence of every decision: the audit record, the decision log line, the metrics and the
//! notification, written the same way by every function.

pub mod audit;
pub mod notify;
pub mod telemetry;
