//! Notifications to people and machines through SNS: a human subject and summary for e-mail
//! and chat, a JSON body for programs, and message attributes (severity, function, region) so
//! subscribers can filter without parsing.

#[cfg(any(test, feature = "test-util"))]
mod recording;
mod sns;

#[cfg(any(test, feature = "test-util"))]
pub use recording::RecordingNotifier;
pub use sns::SnsNotifier;

use crate::model::notification::Notification;
use serde_json::{Value, json};
use std::future::Future;

#[derive(Debug, thiserror::Error)]
#[error("notification {subject:?} not sent: {message}")]
pub struct NotifyError {
    pub subject: String,
    pub message: String,
}

pub trait Notifier: Send + Sync {
    /// Sends the notification; returns the message id.
    fn notify(&self, n: &Notification) -> impl Future<Output = Result<String, NotifyError>> + Send;
}

/// SNS subjects: ASCII, no line breaks or control characters, under 100 characters.
pub fn sns_subject(subject: &str) -> String {
    let clean: String = subject
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut clean: String = clean.chars().take(99).collect();
    if clean.is_empty() {
        clean.push_str("aworld-resilience notification");
    }
    clean
}

/// The `Message` of an SNS publish with `MessageStructure=json`: human text for e-mail and the
/// default, the JSON body for programs (SQS, Lambda, HTTPS).
/// SNS Publish takes at most 256 KiB ("Publish": Message, the default MaximumMessageSize), the
/// JSON structure with every protocol's form included. A larger notification keeps its
/// subject and summary and carries an excerpt of its body, marked as such (the audit record,
/// named in the body, has the rest).
pub const SNS_MAX_BYTES: usize = 256 * 1024;
const BODY_EXCERPT_BYTES: usize = 16 * 1024;

pub fn sns_message(n: &Notification) -> String {
    let full = sns_structure(n, &n.summary, &n.body);
    if full.len() <= SNS_BUDGET {
        return full;
    }
    // Escaped twice and repeated per protocol, an excerpt can grow several times over: shrink
    // it (then the summary) until the whole structure fits.
    let text = n.body.to_string();
    let mut excerpt_bytes = BODY_EXCERPT_BYTES;
    let mut summary = n.summary.clone();
    loop {
        let excerpt = json!({
            "truncated": true,
            "original_bytes": text.len(),
            "why": "the notification exceeded SNS's 256 KiB message limit; the audit record has everything",
            "excerpt": prefix(&text, excerpt_bytes),
        });
        let message = sns_structure(n, &summary, &excerpt);
        if message.len() <= SNS_BUDGET || (excerpt_bytes == 0 && summary.len() <= 64) {
            return message;
        }
        if excerpt_bytes > 0 {
            excerpt_bytes /= 2;
        } else {
            summary = prefix(&summary, summary.len() / 2).to_owned();
        }
    }
}

/// Room left for the message attributes, which count towards the same limit.
const SNS_BUDGET: usize = SNS_MAX_BYTES - 1024;

fn prefix(s: &str, bytes: usize) -> &str {
    let mut cut = bytes.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

fn sns_structure(n: &Notification, summary: &str, body: &Value) -> String {
    let machine = json!({
        "severity": n.severity,
        "function": n.function,
        "region": n.region,
        "subject": n.subject,
        "summary": summary,
        "body": body,
    })
    .to_string();
    let human = format!("{}\n\n{}\n\n-- machine-readable --\n{}", n.subject, summary, machine);
    json!({
        "default": human,
        "email": human,
        "sqs": machine,
        "lambda": machine,
        "http": machine,
        "https": machine,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    #[test]
    fn a_notification_too_big_for_sns_keeps_its_summary_and_an_excerpt_of_its_body() {
        let mut n = sample();
        // Quotes and backslashes: escaped twice, four bytes each in the structure.
        n.body = json!({ "results": vec!["\"\\".repeat(500); 1000] });
        let m = sns_message(&n);
        assert!(m.len() <= SNS_MAX_BYTES - 1024, "{} bytes", m.len());
        let parsed: Value = serde_json::from_str(&m).unwrap();
        let machine: Value = serde_json::from_str(parsed["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine["body"]["truncated"], true);
        assert_eq!(machine["summary"], n.summary);
        assert!(machine["body"]["original_bytes"].as_u64().unwrap() > 1_000_000);
        // Even a summary far too big for SNS is cut to fit.
        n.summary = "\\".repeat(200_000);
        assert!(sns_message(&n).len() <= SNS_MAX_BYTES - 1024);
        // A normal one is sent whole.
        assert!(!sns_message(&sample()).contains("truncated"));
    }

    fn sample() -> Notification {
        Notification {
            severity: Severity::Critical,
            function: "dns-failover".into(),
            region: "eu-north-1".parse().unwrap(),
            subject: "Failover: eu-south-1 drained\nnow".into(),
            summary: "eu-south-1 failed (3 of 3 alarms).".into(),
            body: json!({"decision": "failover"}),
        }
    }

    #[test]
    fn subject_is_one_ascii_line_under_100_characters() {
        let s = sns_subject(&format!("Région «{}» \n\t down", "x".repeat(200)));
        assert!(s.len() < 100 && s.is_ascii() && !s.contains('\n'), "{s:?}");
        assert_eq!(sns_subject("\n\u{7}"), "aworld-resilience notification");
    }

    #[test]
    fn message_has_human_text_by_default_and_json_for_programs() {
        let m: Value = serde_json::from_str(&sns_message(&sample())).unwrap();
        assert!(m["default"].as_str().unwrap().starts_with("Failover: eu-south-1 drained"));
        let machine: Value = serde_json::from_str(m["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine["severity"], "critical");
        assert_eq!(machine["body"]["decision"], "failover");
        assert_eq!(m["sqs"], m["lambda"]);
    }

    #[tokio::test]
    async fn recording_notifier_keeps_what_was_sent_and_can_fail() {
        let r = RecordingNotifier::default();
        r.notify(&sample()).await.unwrap();
        r.set_failing(true);
        assert!(r.notify(&sample()).await.is_err());
        assert_eq!(r.sent().len(), 1);
    }
}
