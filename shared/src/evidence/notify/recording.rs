//! A notifier that keeps what it was given: a test double, behind the `test-util` feature so it
//! is never compiled into a Lambda binary.

use super::{Notification, Notifier, NotifyError};
use std::sync::Mutex;

/// Keeps notifications in memory, for unit tests.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    sent: Mutex<Vec<Notification>>,
    failing: Mutex<bool>,
}

impl RecordingNotifier {
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes later sends fail (or work again).
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = failing;
    }
}

impl Notifier for RecordingNotifier {
    async fn notify(&self, n: &Notification) -> Result<String, NotifyError> {
        if *self.failing.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(NotifyError {
                subject: n.subject.clone(),
                message: "recording notifier set to fail".into(),
            });
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.push(n.clone());
        Ok(format!("recorded-{}", sent.len()))
    }
}
