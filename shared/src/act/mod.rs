//! AWS adapters: each carries out a decided plan, or reads what a decision needs, with one
//! service's SDK. One reader per AWS resource (`alarms`, `dns_records`, `tables`, ...), one classifier of a failed call
//! (`model::read_error`): the features (traffic switches, readiness areas, drills) call them. They decide nothing; their SDK calls are tested with aws-smithy-mocks next to
//! them and against the emulator in the e2e tests.

pub mod alarms;
pub mod backup;
pub mod capacity;
pub mod dns_records;
pub mod health;
pub mod health_api;
pub mod practice;
pub mod readiness;
pub mod tables;
pub mod throttle_table;
pub mod traffic;
