//! The AWS SDK set up once per process: one `SdkConfig` with explicit timeouts, per-region
//! clients, and the deployment (configuration, clients, store, notifier) built at cold start.

pub mod clients;
pub mod deployment;
