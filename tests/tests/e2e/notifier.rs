//! The SNS notifier, read back from an SQS queue subscribed to the topic in the emulator.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use resilience_core::evidence::notify::{Notifier, SnsNotifier};
use resilience_core::model::{Notification, Severity};
use resilience_tests::{drain_queue, sdk, topic_with_queue, unique};
use serde_json::{Value, json};

#[tokio::test]
async fn notification_arrives_with_subject_json_body_and_filterable_attributes() {
    let (topic, queue) = topic_with_queue("eu-north-1", &unique("notify")).await;
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&sdk("eu-north-1").await), topic);
    let n = Notification {
        severity: Severity::Critical,
        function: "dns-failover".into(),
        region: "eu-north-1".parse().unwrap(),
        subject: "Failover: eu-south-1 drained".into(),
        summary: "eu-south-1 failed; eu-north-1 takes the traffic.".into(),
        body: json!({"decision": "failover", "drain": "eu-south-1"}),
    };
    let id = notifier.notify(&n).await.unwrap();
    assert!(!id.is_empty());

    let got = drain_queue("eu-north-1", &queue).await;
    assert_eq!(got.len(), 1);
    let envelope = &got[0];
    assert_eq!(envelope["Subject"], "Failover: eu-south-1 drained");
    assert_eq!(envelope["MessageAttributes"]["severity"]["Value"], "critical");
    assert_eq!(envelope["MessageAttributes"]["function"]["Value"], "dns-failover");
    assert_eq!(envelope["MessageAttributes"]["region"]["Value"], "eu-north-1");
    let body: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).expect("SQS subscribers get the JSON body");
    assert_eq!(body["body"]["drain"], "eu-south-1");
    assert_eq!(body["summary"], "eu-south-1 failed; eu-north-1 takes the traffic.");
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_an_error_naming_the_notification() {
    let notifier = SnsNotifier::new(
        aws_sdk_sns::Client::new(&sdk("eu-north-1").await),
        "arn:aws:sns:eu-north-1:123456789012:nope",
    );
    let n = Notification {
        severity: Severity::Info,
        function: "t".into(),
        region: "eu-north-1".parse().unwrap(),
        subject: "hello".into(),
        summary: String::new(),
        body: Value::Null,
    };
    let e = notifier.notify(&n).await.unwrap_err();
    assert!(e.to_string().contains("hello"), "{e}");
}
