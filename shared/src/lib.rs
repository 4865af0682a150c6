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
//! - [`model`]: leaf value types (`Region`, `Principal`, region health);
//! - [`config`]: the one configuration document, validated into one problem list;
//! - [`signal`]: every accepted input (EventBridge, SNS, SQS, alarm actions, tokens) → [`signal::Signal`];
//! - [`decide`]: pure decisions, tested without AWS;
//! - [`act`]: thin AWS adapters that read and carry out plans;
//! - [`scaling`]: the one use-case two functions share (scale a region, scale before shift);
//! - [`evidence`]: audit records, logs and EMF metrics, notifications;
//! - [`handler`]: the shape every function shares (dispatch, exactly once, diagnostics);
//! - [`store`]: the state table (leases, idempotency keys, audit, baselines, documents);
//! - [`aws`]: one SDK configuration, clients and the deployment built at cold start.

pub mod act;
pub mod aws;
pub mod config;
pub mod decide;
pub mod evidence;
#[cfg(any(test, feature = "test-util"))]
pub mod fixtures;
pub mod handler;
pub mod model;
pub mod scaling;
pub mod signal;
pub mod store;

pub use model::Region;
