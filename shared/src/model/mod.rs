//! Leaf value types: every noun the data path speaks. They depend on nothing else in the
//! crate, so every stage (config, signal, decide, act, store, evidence) can name them without
//! a module cycle.

pub mod alarm;
pub mod audit;
pub mod deferred;
pub mod function;
pub mod health;
pub mod notification;
pub mod principal;
pub mod read_error;
pub mod region;

pub use alarm::AlarmFacts;
pub use audit::{ActionRecord, AuditRecord, DecisionName, Outcome};
pub use deferred::Deferred;
pub use function::Function;
pub use health::{AlarmState, HealthView, RegionHealth, Unread};
pub use notification::{Notification, Severity};
pub use principal::{InvalidPrincipal, Principal};
pub use read_error::{ReadError, ReadErrorKind, classify, said};
pub use region::{Region, region_of_arn};
