//! user-throttle end to end: the compiled binary under the Lambda Runtime API, real-format
//! detector, alarm, operator and SQS events, the throttle table in the emulator.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use resilience_tests::platform::{NORTH, Platform};
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

/// The message ids of an SQS batch answer's `batchItemFailures`.
fn handed_back(out: &Value) -> Vec<String> {
    out["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_budget_counts_escalations_and_hands_what_it_refuses_back_to_be_retried() {
    let p = platform(|t| {
        t["max_new_per_minute"] = json!(3);
        t["coalesce_seconds"] = json!(0);
    })
    .await;
    let (api, _f) = running(&p, 1).await;
    // Two principals offending twice each: two new throttles and two escalations, four limit
    // changes against a budget of three. The batch is one step: none of it is applied, all of
    // it is handed back for redelivery (not dropped), and a person is alerted.
    let (a, b) = ("ip#198.51.100.1", "ip#198.51.100.2");
    let bodies: Vec<Value> = [a, b, a, b].iter().map(|p_| p.suspicious(p_)).collect();
    let batch = p.sqs_batch(&bodies);
    let out = api.invoke(&batch).await.expect("handled");
    let ids: Vec<String> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(handed_back(&out), ids, "{out}");
    assert!(p.throttle_record(a).await.is_none() && p.throttle_record(b).await.is_none());
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["severity"], "critical");
    let audit = p.audit(FUNCTION).await;
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.decision == resilience_core::model::DecisionName::Ceiling)
            .count(),
        1
    );
    assert_eq!(
        audit[0].signal.to_string().matches("deferred").count(),
        4,
        "each one audited: {:?}",
        audit[0].signal
    );

    // Redelivered (SQS does so after the visibility timeout), three of them fit: they act.
    let mut retry = batch.clone();
    retry["Records"].as_array_mut().unwrap().truncate(3);
    let out = api.invoke(&retry).await.expect("handled");
    assert_eq!(handed_back(&out), Vec::<String>::new(), "{out}");
    assert_eq!(p.throttle_record(a).await.unwrap().0, "strict", "a new throttle and an escalation");
    assert_eq!(p.throttle_record(b).await.unwrap().0, "rate-limited");
    // The budget is spent by escalations too: b's escalation is the fourth change this minute.
    let last = p.sqs_batch(&[p.suspicious(b)]);
    let out = api.invoke(&last).await.expect("handled");
    assert_eq!(handed_back(&out).len(), 1, "an escalation over the budget is handed back: {out}");
    assert_eq!(p.throttle_record(b).await.unwrap().0, "rate-limited");
}

#[tokio::test]
async fn one_source_cannot_spend_the_whole_budget() {
    let p = platform(|t| {
        t["max_new_per_minute"] = json!(100);
        t["max_per_source_per_minute"] = json!(2);
    })
    .await;
    let (api, _f) = running(&p, 1).await;
    let bodies: Vec<Value> = (0..3).map(|i| p.suspicious(&format!("user#src-{i}"))).collect();
    let out = api.invoke(&p.sqs_batch(&bodies)).await.expect("handled");
    assert_eq!(handed_back(&out).len(), 3, "{out}");
    assert!(out.to_string().contains("from aworld.detector"), "{out}");
    let out = api.invoke(&p.sqs_batch(&bodies[..2])).await.expect("handled");
    assert_eq!(handed_back(&out).len(), 0, "{out}");
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

/// A per-user alarm in the emulator's CloudWatch (eu-north-1) watching `user`, in `state`, and
/// the EventBridge event of it entering ALARM claiming `claimed` as the user.
async fn anomaly_alarm(p: &Platform, user: &str, state: StateValue, claimed: &str) -> Value {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    let name = format!("aworld-anomaly-{}-{user}-eu-north-1", p.id);
    let cw = aws_sdk_cloudwatch::Client::new(&resilience_tests::sdk(NORTH).await);
    cw.put_metric_alarm()
        .alarm_name(&name)
        .namespace("aworld/Api")
        .metric_name("RequestsPerUser")
        .dimensions(Dimension::builder().name("UserId").value(user).build())
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1000.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    cw.set_alarm_state()
        .alarm_name(&name)
        .state_value(state)
        .state_reason("test")
        .send()
        .await
        .unwrap();
    let mut alarm = resilience_tests::fixture("eventbridge-alarm-anomaly.json");
    alarm["id"] = json!(uuid::Uuid::new_v4().to_string());
    alarm["detail"]["alarmName"] = json!(name);
    alarm["resources"] = json!([format!("arn:aws:cloudwatch:eu-north-1:123456789012:alarm:{name}")]);
    alarm["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = json!({ "UserId": claimed });
    alarm
}

#[tokio::test]
async fn per_user_anomaly_alarm_throttles_the_user_its_metric_names_once_cloudwatch_confirms_it() {
    let p = platform(|_| {}).await;
    let (api, _f) = running(&p, 1).await;
    let out = api
        .invoke(&anomaly_alarm(&p, "u-77", StateValue::Alarm, "u-77").await)
        .await
        .expect("handled");
    assert_eq!(
        (out["decision"].as_str(), out["principal"].as_str()),
        (Some("throttle"), Some("user#u-77")),
        "{out}"
    );
}

#[tokio::test]
async fn forged_alarm_offences_are_refused_and_audited() {
    let p = platform(|_| {}).await;
    let (api, _f) = running(&p, 1).await;
    // An alarm that does not exist, one that is OK, one that watches someone else, and an
    // alarm outside the offence prefixes: none throttles anyone.
    let mut missing = anomaly_alarm(&p, "u-1", StateValue::Alarm, "u-1").await;
    missing["detail"]["alarmName"] = json!(format!("aworld-anomaly-{}-nobody-eu-north-1", p.id));
    let quiet = anomaly_alarm(&p, "u-2", StateValue::Ok, "u-2").await;
    let other = anomaly_alarm(&p, "u-3", StateValue::Alarm, "victim").await;
    let mut unlisted = anomaly_alarm(&p, "u-4", StateValue::Alarm, "u-4").await;
    unlisted["detail"]["alarmName"] = json!("someone-elses-alarm");
    for (event, why) in [
        (&missing, "does not exist"),
        (&quiet, "is OK now, not ALARM"),
        (&other, "watches user#u-3, not user#victim"),
        (&unlisted, "not an offence alarm"),
    ] {
        let out = api.invoke(event).await.expect("handled");
        assert!(out.to_string().contains(why), "{why}: {out}");
    }
    for user in ["user#u-1", "user#u-2", "user#victim", "user#u-4"] {
        assert!(p.throttle_record(user).await.is_none(), "{user}");
    }
    let audit = p
        .audit(FUNCTION)
        .await
        .iter()
        .map(|r| r.signal.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(audit.matches("not confirmed by CloudWatch").count(), 3, "{audit}");
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
