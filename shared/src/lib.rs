//! resilience-core: the shared library of aworld-resilience.
//!
//! Pure decisions live here and are tested without AWS; adapters (DynamoDB, SNS, CloudWatch,
//! Route 53) are thin and sit behind small traits. Handlers in `functions/` parse, decide, act
//! and record through this crate, so there is one way to do each thing.

pub mod audit;
pub mod auth;
pub mod backup;
pub mod capacity;
pub mod clients;
pub mod config;
pub mod deployment;
pub mod dns;
pub mod failover;
pub mod guard;
pub mod inbound;
pub mod notify;
pub mod region;
pub mod scaling;
pub mod signal;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod throttle_table;
pub mod verify;

pub use region::Region;
