//! Forged operator commands through the compiled binaries (issue 17): every function that acts
//! on a command refuses each forgery an account insider or a sender of events could make, and
//! audits the refusal with its reason; nothing is acted on.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use resilience_core::signal::{OperatorCommandDetail, OperatorCommandKind};
use resilience_tests::platform::{NORTH, Platform, SOUTH, TABLE_WRITE_BASELINE};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};

/// Re-signs a command event with the test operator key as of `at`.
fn signed_at(e: &mut Value, at: chrono::DateTime<Utc>) {
    let kind = OperatorCommandKind::from_detail_type(e["detail-type"].as_str().unwrap()).unwrap();
    let mut detail: OperatorCommandDetail = serde_json::from_value(e["detail"].clone()).unwrap();
    resilience_core::fixtures::operator_key().sign(kind, &mut detail, at);
    e["detail"] = serde_json::to_value(&detail).unwrap();
}

/// The forgeries of one genuine command `cmd`, each with the words its refusal must name.
fn forgeries(p: &Platform, cmd: &Value, field: &str, other: Value) -> Vec<(&'static str, Value, &'static str)> {
    let mut unsigned = cmd.clone();
    unsigned["detail"].as_object_mut().unwrap().remove("proof");
    let mut altered = cmd.clone();
    altered["detail"][field] = other;
    let mut stale = cmd.clone();
    signed_at(&mut stale, Utc::now() - Duration::minutes(10));
    let mut unknown_key = cmd.clone();
    unknown_key["detail"]["proof"]["key_id"] = json!("arn:aws:kms:eu-north-1:999999999999:key/mallory");
    let mut not_operator = cmd.clone();
    not_operator["detail"]["requested_by"] = json!("arn:aws:iam::123456789012:user/intern");
    signed_at(&mut not_operator, Utc::now());
    let through_queue = p.sqs_batch(std::slice::from_ref(cmd));
    let through_topic = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:eu-north-1:123456789012:t:1",
        "Sns": {"Type": "Notification", "MessageId": uuid::Uuid::new_v4().to_string(), "TopicArn": "arn:aws:sns:eu-north-1:123456789012:t",
                "Subject": null, "Message": cmd.to_string(), "Timestamp": "2026-11-24T17:20:00.000Z", "SignatureVersion": "1",
                "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "", "MessageAttributes": {}}}]});
    vec![
        ("unsigned, naming the configured operator", unsigned, "no proof"),
        ("changed after signing", altered, "does not verify"),
        ("signed ten minutes ago (a replay)", stale, "more than operators.max_age_seconds"),
        (
            "naming a key that is not configured",
            unknown_key,
            "not one of operators.signing_keys",
        ),
        (
            "signed for a caller who is not an operator",
            not_operator,
            "is not an allowed operator",
        ),
        (
            "a genuine command put in the detector queue",
            through_queue,
            "only as EventBridge events",
        ),
        (
            "a genuine command published to a topic",
            through_topic,
            "only as EventBridge events",
        ),
    ]
}

/// Sends every forgery of `cmd` to `function`, checks each refusal and its audit record, and
/// returns the running function so the caller can check nothing changed, then send `cmd`.
async fn refuses_every_forgery(p: &Platform, function: &str, cmd: &Value, field: &str, other: Value) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn(function, &api, &p.env());
    let cases = forgeries(p, cmd, field, other);
    for (what, event, reason) in &cases {
        let out = api.invoke(event).await.unwrap_or_else(|e| e);
        assert!(out.to_string().contains(reason), "{function}, {what}: {out}");
    }
    let audit = p.audit(function).await;
    let refused: Vec<&str> = audit
        .iter()
        .filter(|r| r.reason.contains("refused") || format!("{:?}", r.decision).to_lowercase().contains("refused"))
        .map(|r| r.reason.as_str())
        .collect();
    for (what, _, reason) in &cases {
        let n = audit
            .iter()
            .filter(|r| r.reason.contains(reason) || r.signal.to_string().contains(reason))
            .count();
        assert!(
            n >= 1,
            "{function}: no audit record names the refusal of a command {what}: {refused:?}"
        );
    }
    (api, f)
}

/// The genuine command, after its forgeries, is still acted on: no forgery took its key.
async fn genuine_acts(api: &RuntimeApi, cmd: &Value) -> Value {
    let out = api.invoke(cmd).await.expect("handled");
    assert!(out.get("duplicate").is_none() && !out.to_string().contains("\"refused\""), "{out}");
    out
}

#[tokio::test]
async fn every_function_refuses_and_audits_each_forged_operator_command() {
    let p = Platform::provision(&["control-plane"]).await;
    let failover = p.command("Resilience Failover Command", Some(NORTH));
    let (api, _f) = refuses_every_forgery(&p, "capacity-scaler", &failover, "region", json!(SOUTH)).await;
    assert_eq!(p.scalable_target(NORTH, &p.table_target()).await, TABLE_WRITE_BASELINE, "no raise");
    assert_eq!(genuine_acts(&api, &failover).await["decision"], "scale");

    let (api, _f) = refuses_every_forgery(&p, "dns-failover", &failover, "region", json!(SOUTH)).await;
    assert_eq!(
        p.weights().await,
        [(NORTH.to_owned(), 100), (SOUTH.to_owned(), 100)].into(),
        "no drain"
    );
    assert_eq!(genuine_acts(&api, &failover).await["decision"]["decision"], "failover");

    let mut release = p.command("Resilience Release Command", None);
    release["detail"]["principal"] = json!("key#k-1");
    resilience_tests::sign(&mut release);
    let (api, _f) = refuses_every_forgery(&p, "user-throttle", &release, "principal", json!("key#k-2")).await;
    assert_eq!(genuine_acts(&api, &release).await["decision"], "release");

    let verify = p.command("Resilience Verify Now Command", None);
    let (api, _f) = refuses_every_forgery(&p, "backup-verifier", &verify, "reason", json!("mallory")).await;
    assert!(
        p.audit("backup-verifier").await.iter().all(|r| r.actions.is_empty()),
        "no check or drill ran"
    );
    genuine_acts(&api, &verify).await;
}
