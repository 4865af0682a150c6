//! The one copy of the real-format events and configurations that tests read: the unit tests of
//! every crate, the end-to-end tests, the benchmarks and the fuzz corpus (which adds the
//! `hostile-*` events of the same folder). Behind the `test-util` feature.

use serde_json::Value;
use std::path::PathBuf;

/// The folder of real-format events (`shared/fixtures/events`).
pub fn events_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events"))
}

/// The folder of configuration documents (`shared/fixtures/config`).
pub fn configs_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/config"))
}

/// The text of the event fixture `name` (e.g. `eventbridge-alarm-metric.json`).
pub fn event_text(name: &str) -> String {
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The event fixture `name`, parsed.
pub fn event(name: &str) -> Value {
    serde_json::from_str(&event_text(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}
