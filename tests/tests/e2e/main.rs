//! Every integration and end-to-end test in one test binary, a module per function or part
//! (each extra test binary would link every AWS SDK crate again). They run against the private
//! `moto_server` that `scripts/with-moto.sh` starts, and the compiled function binaries under
//! the Lambda Runtime API emulator in `resilience_tests::runtime`.

mod access_authorizer;
mod backup_verifier;
mod capacity_scaler;
mod cli;
mod cross_region;
mod deployed;
mod dns_failover;
mod dns_failover_faults;
mod faults;
mod forged;
mod notifier;
mod pins;
mod practice_drill;
mod preflight;
mod readiness;
mod state_store;
mod user_throttle;
