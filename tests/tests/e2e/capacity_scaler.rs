//! capacity-scaler end to end: the compiled binary under the Lambda Runtime API, real-format
//! events, Application Auto Scaling and Lambda in the emulator, read back through the SDK.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use resilience_tests::platform::{NORTH, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::json;

const FUNCTION: &str = "capacity-scaler";

async fn running(p: &Platform, extra: &[(&str, String)]) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let mut env = p.env();
    env.extend(extra.iter().cloned());
    let f = FunctionProcess::spawn(FUNCTION, &api, &env);
    (api, f)
}

fn saturation(p: &Platform, state: &str) -> serde_json::Value {
    let mut e = p.alarm_event("api-5xx", NORTH, state, Utc::now());
    let name = format!("{}-api-concurrency-{NORTH}", p.id);
    e["detail"]["alarmName"] = json!(name);
    e["resources"] = json!([format!("arn:aws:cloudwatch:{NORTH}:123456789012:alarm:{name}")]);
    e
}

#[tokio::test]
async fn failover_intent_raises_targets_and_reserved_concurrency_once_and_failback_restores_the_baseline_exactly() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _f) = running(&p, &[]).await;
    let intent = p.command("Resilience Failover Command", Some(NORTH));
    let out = api.invoke(&intent).await.expect("handled");
    assert_eq!(out["decision"], "scale", "{out}");
    assert_eq!(p.scalable_target(NORTH, &p.table_target()).await, (205, 205));
    assert_eq!(p.scalable_target(NORTH, &p.provisioned_target()).await, (102, 102));
    assert_eq!(p.reserved_concurrency().await, Some(300), "100 reserved + 2 steps of 100");
    assert_eq!(p.scalable_target(SOUTH, &p.table_target()).await, (5, 40));

    let again = api.invoke(&intent).await.expect("handled");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(
        p.scalable_target(NORTH, &p.table_target()).await,
        (205, 205),
        "a duplicate changes nothing"
    );
    assert_eq!(p.notifications().await.len(), 1);

    let back = api
        .invoke(&p.command("Resilience Failback Command", Some(SOUTH)))
        .await
        .expect("handled");
    assert_eq!(back["decision"], "scale", "{back}");
    assert_eq!(
        p.scalable_target(NORTH, &p.table_target()).await,
        (5, 40),
        "baseline restored exactly"
    );
    assert_eq!(p.scalable_target(NORTH, &p.provisioned_target()).await, (2, 20));
    assert_eq!(p.reserved_concurrency().await, Some(100), "the reservation, as before");
}

#[tokio::test]
async fn a_function_without_reserved_concurrency_is_left_unreserved_by_a_failover_raise() {
    let p = Platform::provision(&["control-plane"]).await;
    aws_sdk_lambda::Client::new(&resilience_tests::sdk(NORTH).await)
        .delete_function_concurrency()
        .function_name(format!("{}-api", p.id))
        .send()
        .await
        .unwrap();
    let (api, _f) = running(&p, &[]).await;
    let out = api
        .invoke(&p.command("Resilience Failover Command", Some(NORTH)))
        .await
        .expect("handled");
    assert_eq!(out["decision"], "scale", "{out}");
    assert_eq!(
        p.scalable_target(NORTH, &p.table_target()).await,
        (205, 205),
        "the others are raised"
    );
    assert_eq!(
        p.reserved_concurrency().await,
        None,
        "a reservation would cap what it can use from the unreserved pool: {out}"
    );
    assert!(out.to_string().contains("unreserved pool"), "the reason is recorded: {out}");
}

#[tokio::test]
async fn saturation_adds_one_step_and_a_second_inside_cooldown_is_refused_audited_and_notified() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _f) = running(&p, &[]).await;
    let out = api.invoke(&saturation(&p, "ALARM")).await.expect("handled");
    assert_eq!(out["decision"], "scale", "{out}");
    assert_eq!(p.scalable_target(NORTH, &p.provisioned_target()).await, (52, 52));
    assert_eq!(p.reserved_concurrency().await, Some(200));
    assert_eq!(
        p.scalable_target(NORTH, &p.table_target()).await,
        (5, 40),
        "only the alarm's resources"
    );

    let out = api.invoke(&saturation(&p, "ALARM")).await.expect("handled");
    assert_eq!(out["decision"], "refused", "{out}");
    assert!(out["why"].as_str().unwrap().contains("cooldown"), "{out}");
    assert_eq!(p.scalable_target(NORTH, &p.provisioned_target()).await, (52, 52));
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1]["severity"], "warning");
    let audit = p.audit(FUNCTION).await;
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.decision == resilience_core::model::DecisionName::Refused)
            .count(),
        1
    );
}

#[tokio::test]
async fn ceilings_hold_under_repeated_failover_intents_which_do_not_stack() {
    let mut p = Platform::provision(&["control-plane"]).await;
    // A failover level far above every ceiling: the ceilings and the region guard must clip it.
    p.config["capacity"]["failover_steps"] = json!(50);
    let (api, _f) = running(&p, &[]).await;
    let mut decisions = Vec::new();
    for _ in 0..6 {
        let out = api
            .invoke(&p.command("Resilience Failover Command", Some(NORTH)))
            .await
            .expect("handled");
        decisions.push(out["decision"].as_str().unwrap().to_owned());
    }
    // The failover level is anchored on the baseline: later intents find it reached.
    assert_eq!(decisions[0], "scale", "{decisions:?}");
    assert!(decisions[1..].iter().all(|d| d == "no-action" || d == "refused"), "{decisions:?}");
    // Ceilings: table 1000, provisioned concurrency 400, reserved 800; region guard 1500 added units.
    let (table, _) = p.scalable_target(NORTH, &p.table_target()).await;
    let (provisioned, _) = p.scalable_target(NORTH, &p.provisioned_target()).await;
    let reserved = p.reserved_concurrency().await.unwrap();
    assert!(
        table <= 1000 && provisioned <= 400 && reserved <= 800,
        "{table} {provisioned} {reserved}"
    );
    let added = (table - 5) + (provisioned - 2) + (reserved - 100);
    assert!(added <= 1500, "region cost guard: {added} units added");
}

#[tokio::test]
async fn recovery_after_sustained_ok_restores_the_baseline() {
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["capacity"]["restore_after_seconds"] = json!(0);
    let (api, _f) = running(&p, &[]).await;
    let alarm = format!("{}-api-concurrency-{NORTH}", p.id);
    let cw = aws_sdk_cloudwatch::Client::new(&resilience_tests::sdk(NORTH).await);
    cw.set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Alarm)
        .state_reason("t")
        .send()
        .await
        .unwrap();
    api.invoke(&saturation(&p, "ALARM")).await.expect("handled");
    assert_eq!(p.reserved_concurrency().await, Some(200));
    cw.set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Ok)
        .state_reason("t")
        .send()
        .await
        .unwrap();
    let out = api.invoke(&saturation(&p, "OK")).await.expect("handled");
    assert_eq!(out["decision"], "scale", "{out}");
    assert_eq!(p.reserved_concurrency().await, Some(100));
    assert_eq!(p.scalable_target(NORTH, &p.provisioned_target()).await, (2, 20));
}

#[tokio::test]
async fn dry_run_and_kill_switch_change_nothing() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _f) = running(&p, &[("RESILIENCE_DRY_RUN", "1".into())]).await;
    let out = api
        .invoke(&p.command("Resilience Failover Command", Some(NORTH)))
        .await
        .expect("handled");
    assert_eq!(
        (out["decision"].as_str(), out["outcome"].as_str()),
        (Some("scale"), Some("planned")),
        "{out}"
    );
    assert_eq!(p.scalable_target(NORTH, &p.table_target()).await, (5, 40));

    let (api, _f) = running(&p, &[("RESILIENCE_KILL_SWITCH", "1".into())]).await;
    let out = api
        .invoke(&p.command("Resilience Failover Command", Some(NORTH)))
        .await
        .expect("handled");
    assert!(out["why"].as_str().unwrap().contains("kill switch"), "{out}");
    assert_eq!(p.scalable_target(NORTH, &p.table_target()).await, (5, 40));
}

#[tokio::test]
async fn bad_input_and_unauthorised_commands_change_nothing() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _f) = running(&p, &[]).await;
    let err = api.invoke(&json!([1, 2, 3])).await.expect_err("rejected");
    assert!(err["errorType"].as_str().unwrap().starts_with("NonRetryable.BadInput"), "{err}");
    let mut cmd = p.command("Resilience Failover Command", Some(NORTH));
    cmd["detail"]["requested_by"] = json!("arn:aws:iam::999999999999:user/mallory");
    let out = api.invoke(&cmd).await.expect("handled");
    assert_eq!(out["decision"], "refused", "{out}");
    assert_eq!(p.scalable_target(NORTH, &p.table_target()).await, (5, 40));
}

/// The saturation alarm on DynamoDB throttling, as the template writes it (`FILL(m1, 0)` over
/// `AWS/DynamoDB` `ThrottledRequests`), evaluated by the test bed's CloudWatch model
/// (`resilience_tests::cloudwatch`): a burst two minutes long raises the table's capacity; in the
/// quiet minutes that follow (no datapoints: DynamoDB reports throttles only when they happen)
/// the alarm returns to OK and the raise is restored. The same alarm without metric math stays
/// in ALARM: "Alarms that evaluate metrics in the AWS/DynamoDB namespace always ignore missing
/// data" (PutMetricAlarm). Time, modelled: the burst is stamped ten minutes back and evaluated
/// as CloudWatch did then; the quiet minutes are now.
#[tokio::test]
async fn a_dynamodb_throttle_alarm_returns_to_ok_in_quiet_minutes_only_when_filled_and_capacity_is_restored() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit};
    use resilience_tests::cloudwatch::AlarmModel;
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["capacity"]["restore_after_seconds"] = json!(0);
    let cw = aws_sdk_cloudwatch::Client::new(&resilience_tests::sdk(NORTH).await);
    let table = format!("{}-orders", p.id);
    let filled = format!("{}-orders-write-throttles-{NORTH}", p.id);
    let plain = format!("{}-orders-write-throttles-plain-{NORTH}", p.id);
    let metric = || {
        Metric::builder()
            .namespace("AWS/DynamoDB")
            .metric_name("ThrottledRequests")
            .dimensions(Dimension::builder().name("TableName").value(&table).build())
            .build()
    };
    cw.put_metric_alarm()
        .alarm_name(&filled)
        .metrics(
            MetricDataQuery::builder()
                .id("m1")
                .return_data(false)
                .metric_stat(MetricStat::builder().metric(metric()).period(60).stat("Sum").build())
                .build(),
        )
        .metrics(
            MetricDataQuery::builder()
                .id("throttled")
                .expression("FILL(m1, 0)")
                .return_data(true)
                .build(),
        )
        .evaluation_periods(2)
        .threshold(10.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .send()
        .await
        .unwrap();
    cw.put_metric_alarm()
        .alarm_name(&plain)
        .namespace("AWS/DynamoDB")
        .metric_name("ThrottledRequests")
        .dimensions(Dimension::builder().name("TableName").value(&table).build())
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(2)
        .threshold(10.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .send()
        .await
        .unwrap();
    let now = AlarmModel::now();
    let minute = now - now.rem_euclid(60);
    for back in [10, 9] {
        cw.put_metric_data()
            .namespace("AWS/DynamoDB")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("ThrottledRequests")
                    .dimensions(Dimension::builder().name("TableName").value(&table).build())
                    .value(50.0)
                    .unit(StandardUnit::Count)
                    .timestamp(aws_smithy_types::DateTime::from_secs(minute - back * 60))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let models = [
        AlarmModel::read(&cw, &filled)
            .await
            .expect("the filled alarm as the model reads it"),
        AlarmModel::read(&cw, &plain).await.expect("the plain alarm"),
    ];
    assert_eq!(models[0].fill, Some(0.0), "{:?}", models[0]);
    for m in &models {
        assert_eq!(
            m.evaluate_at(&cw, minute - 8 * 60).await.unwrap(),
            StateValue::Alarm,
            "the burst: {}",
            m.name
        );
    }
    let (api, _f) = running(&p, &[]).await;
    let event = |state: &str| {
        let mut e = p.alarm_event("api-5xx", NORTH, state, Utc::now());
        e["detail"]["alarmName"] = json!(filled);
        e["resources"] = json!([format!("arn:aws:cloudwatch:{NORTH}:123456789012:alarm:{filled}")]);
        e
    };
    let raised = api.invoke(&event("ALARM")).await.expect("handled");
    assert_eq!(raised["decision"], "scale", "{raised}");
    let (table_min, _) = p.scalable_target(NORTH, &p.table_target()).await;
    assert!(table_min > 5, "the table's capacity raised: {raised}");

    // The quiet minutes, evaluated now.
    assert_eq!(
        models[1].evaluate_at(&cw, now).await.unwrap(),
        StateValue::Alarm,
        "without FILL: stuck in ALARM"
    );
    assert_eq!(
        models[0].evaluate_at(&cw, now).await.unwrap(),
        StateValue::Ok,
        "with FILL(m1, 0): OK"
    );
    let restored = api.invoke(&event("OK")).await.expect("handled");
    assert_eq!(restored["decision"], "scale", "{restored}");
    assert_eq!(
        p.scalable_target(NORTH, &p.table_target()).await.0,
        5,
        "the baseline back: {restored}"
    );
}
