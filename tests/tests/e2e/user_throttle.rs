//! user-throttle end to end: the compiled binary under the Lambda Runtime API, real-format
//! detector, alarm, operator and SQS events, the throttle table in the emulator.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use resilience_tests::platform::Platform;
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};
use std::sync::Arc;

const FUNCTION: &str = "user-throttle";

async fn running(p: &Platform, instances: usize) -> (Arc<RuntimeApi>, Vec<FunctionProcess>) {
    let api = RuntimeApi::start().await;
    let procs = (0..instances).map(|_| FunctionProcess::spawn(FUNCTION, &api, &p.env())).collect();
    (Arc::new(api), procs)
}

async fn platform(edit: impl FnOnce(&mut Value)) -> Platform {
    let mut p = Platform::provision(&["control-plane"]).await;
    edit(&mut p.config["throttle"]);
    p
}

#[tokio::test]
async fn repeat_offences_escalate_rate_limited_then_strict_then_blocked() {
    let p = platform(|t| t["coalesce_seconds"] = json!(0)).await;
    let (api, _f) = running(&p, 1).await;
    let mut levels = Vec::new();
    for _ in 0..3 {
        let out = api.invoke(&p.suspicious("user#u-1")).await.expect("handled");
        assert_eq!(out["decision"], "throttle", "{out}");
        levels.push(p.throttle_record("user#u-1").await.unwrap().0);
    }
    assert_eq!(levels, ["rate-limited", "strict", "blocked"]);
    let (_, until, offences) = p.throttle_record("user#u-1").await.unwrap();
    assert!(until > Utc::now().timestamp() + 86_000, "blocked for a day");
    assert_eq!(offences, 3);
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1, "one notification: the block");
}

#[tokio::test]
async fn a_duplicate_delivery_does_not_escalate_twice() {
    let p = platform(|t| t["coalesce_seconds"] = json!(0)).await;
    let (api, _f) = running(&p, 1).await;
    let event = p.suspicious("user#u-2");
    api.invoke(&event).await.expect("handled");
    let again = api.invoke(&event).await.expect("handled");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(p.throttle_record("user#u-2").await.unwrap().0, "rate-limited");
}

#[tokio::test]
async fn concurrent_events_for_one_principal_escalate_once() {
    let p = platform(|_| {}).await;
    let (api, _f) = running(&p, 4).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (api, e) = (api.clone(), p.suspicious("user#u-3"));
            tokio::spawn(async move { api.invoke(&e).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("handled");
    }
    let (level, _, offences) = p.throttle_record("user#u-3").await.unwrap();
    assert_eq!(level, "rate-limited", "one incident, one escalation");
    assert_eq!(offences, 10, "every event recorded");
}

#[tokio::test]
async fn allow_listed_principals_are_never_throttled() {
    let p = platform(|_| {}).await;
    let (api, _f) = running(&p, 1).await;
    let out = api.invoke(&p.suspicious("user#svc-batch")).await.expect("handled");
    assert_eq!(out["decision"], "allow-listed", "{out}");
    assert!(p.throttle_record("user#svc-batch").await.is_none());
}

#[tokio::test]
async fn the_ceiling_stops_new_throttles_and_alerts() {
    let p = platform(|t| t["max_new_per_minute"] = json!(3)).await;
    let (api, _f) = running(&p, 1).await;
    let bodies: Vec<Value> = (0..5).map(|i| p.suspicious(&format!("ip#198.51.100.{i}"))).collect();
    let out = api.invoke(&p.sqs_batch(&bodies)).await.expect("handled");
    let decisions: Vec<&str> = out["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["decision"].as_str().unwrap())
        .collect();
    // The whole batch is one step: over the ceiling, none of it is applied.
    assert!(decisions.iter().all(|d| *d == "refused"), "{decisions:?}");
    assert!(p.throttle_record("ip#198.51.100.0").await.is_none());
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["severity"], "critical");
    // Refused events are audited and not retried; new events under the ceiling go through.
    let fresh: Vec<Value> = (0..3).map(|i| p.suspicious(&format!("ip#198.51.100.{i}"))).collect();
    let out = api.invoke(&p.sqs_batch(&fresh)).await.expect("handled");
    assert!(
        out["results"].as_array().unwrap().iter().all(|r| r["decision"] == "throttle"),
        "{out}"
    );
    assert_eq!(p.audit(FUNCTION).await.iter().filter(|r| r.decision == "ceiling").count(), 1);
}

#[tokio::test]
async fn sqs_batches_report_only_retryable_failures_and_write_many_items_per_call() {
    let p = platform(|t| t["max_new_per_minute"] = json!(1000)).await;
    let (api, _f) = running(&p, 1).await;
    let mut bodies: Vec<Value> = (0..150).map(|i| p.suspicious(&format!("user#burst-{i}"))).collect();
    bodies.push(json!("{not json"));
    let out = api.invoke(&p.sqs_batch(&bodies)).await.expect("handled");
    assert_eq!(out["batchItemFailures"], json!([]), "a malformed record is audited, not re-driven");
    assert_eq!(
        out["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["decision"] == "throttle")
            .count(),
        150
    );
    assert_eq!(
        out["writes"],
        json!({ "calls": 6, "items": 150 }),
        "six transactions of 25 for 150 principals"
    );

    // A table that cannot be written: every record is reported for redelivery.
    let mut broken = platform(|t| t["table"] = json!("no-such-table")).await;
    broken.config["throttle"]["max_new_per_minute"] = json!(1000);
    let (api, _f) = running(&broken, 1).await;
    let bodies: Vec<Value> = (0..3).map(|i| broken.suspicious(&format!("user#x-{i}"))).collect();
    let out = api.invoke(&broken.sqs_batch(&bodies)).await.expect("handled");
    assert_eq!(out["batchItemFailures"].as_array().map(Vec::len), Some(3), "{out}");
}

#[tokio::test]
async fn per_user_anomaly_alarm_throttles_the_user_its_metric_names() {
    let p = platform(|_| {}).await;
    let (api, _f) = running(&p, 1).await;
    let mut alarm = resilience_tests::fixture("eventbridge-alarm-anomaly.json");
    alarm["id"] = json!(uuid::Uuid::new_v4().to_string());
    alarm["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = json!({ "UserId": "u-77" });
    let out = api.invoke(&alarm).await.expect("handled");
    assert_eq!(
        (out["decision"].as_str(), out["principal"].as_str()),
        (Some("throttle"), Some("user#u-77")),
        "{out}"
    );
}

#[tokio::test]
async fn operator_release_ends_the_limits_and_forbidden_operators_are_refused() {
    let p = platform(|_| {}).await;
    let (api, _f) = running(&p, 1).await;
    api.invoke(&p.suspicious("key#k-9")).await.expect("handled");
    assert!(p.throttle_record("key#k-9").await.is_some());
    let mut forged = p.command("Resilience Release Command", None);
    forged["detail"]["principal"] = json!("key#k-9");
    forged["detail"]["requested_by"] = json!("arn:aws:iam::999999999999:user/mallory");
    let out = api.invoke(&forged).await.expect("handled");
    assert_eq!(out["decision"], "refused", "{out}");
    let mut release = p.command("Resilience Release Command", None);
    release["detail"]["principal"] = json!("key#k-9");
    resilience_tests::sign(&mut release);
    let out = api.invoke(&release).await.expect("handled");
    assert_eq!(
        (out["decision"].as_str(), out["was_throttled"].as_bool()),
        (Some("release"), Some(true)),
        "{out}"
    );
    assert!(p.throttle_record("key#k-9").await.is_none());
}

#[tokio::test]
async fn bad_input_is_a_named_error() {
    let p = platform(|_| {}).await;
    let (api, _f) = running(&p, 1).await;
    let err = api.invoke(&json!({"Records": "nope"})).await.expect_err("rejected");
    assert!(err["errorType"].as_str().unwrap().starts_with("NonRetryable.BadInput"), "{err}");
    let mut bad = p.suspicious("user#ok");
    bad["detail"]["principal"] = json!("DROP TABLE");
    let err = api.invoke(&bad).await.expect_err("rejected");
    assert!(err["errorMessage"].as_str().unwrap().contains("DROP TABLE"), "{err}");
}
