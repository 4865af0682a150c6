//! Leaf value types of the data path. They depend on nothing else in the crate, so every
//! stage (config, signal, decide, act, evidence) can name them without a module cycle.

pub mod health;
pub mod principal;
pub mod region;

pub use health::{AlarmState, HealthView, RegionHealth, Unread};
pub use principal::{InvalidPrincipal, Principal};
pub use region::{Region, region_of_arn};
