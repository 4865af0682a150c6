//! resilience-core: the shared library of aworld-resilience.
//!
//! The folders follow the data path of every function:
//!
//! ```text
//! event ──signal──▶ Signal ──decide──▶ plan ──act──▶ AWS ──evidence──▶ audit, log, metrics, SNS
//!             ▲                ▲                         ▲
//!          config            model                 store (exactly once, state)
//! ```
//!
//! - [`model`]: leaf value types: every noun of the data path (`Region`, `Principal`, health,
//!   audit and action records, decisions, notifications, the six [`model::Function`]s);
//! - [`config`]: the one configuration document, validated into one problem list;
//! - [`signal`]: every accepted input (EventBridge, SNS, SQS, alarm actions) → [`signal::Signal`];
//! - [`auth`]: API tokens (JWT) validated against the configured issuer's keys;
//! - [`decide`]: pure decisions, tested without AWS;
//! - [`act`]: thin AWS adapters that read and carry out plans;
//! - [`scaling`]: the one use-case two functions share (scale a region, scale before shift);
//! - [`evidence`]: the writers: audit records, logs and EMF metrics, notifications;
//! - [`handler`]: the shape every function shares (dispatch, exactly once, diagnostics);
//! - [`store`]: the state table (leases, idempotency keys, audit, baselines, raw documents);
//! - [`documents`]: every state document's name and typed load/save (undecodable = corrupt);
//! - [`aws`]: one SDK configuration, clients and the deployment built at cold start.

pub mod act;
pub mod auth;
pub mod aws;
pub mod config;
pub mod decide;
pub mod documents;
pub mod evidence;
#[cfg(any(test, feature = "test-util"))]
pub mod fixtures;
pub mod handler;
pub mod model;
pub mod scaling;
pub mod signal;
pub mod store;

#[cfg(test)]
mod architecture;

pub use model::Region;
