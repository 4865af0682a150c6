//! Pure decisions: `(signal, state, policy, clock) -> plan`. Nothing here calls AWS, so every
//! rule is tested exhaustively (unit and property tests) without the emulator.

pub mod backup;
pub mod capacity;
pub mod dns_moved;
pub mod drills;
pub mod failover;
pub mod practice;
pub mod preflight;
pub mod readiness;
pub mod restore_drill;
pub mod shift;
pub mod throttle;
