//! dns-failover end to end: the compiled binary under the Lambda Runtime API, real-format
//! events, the local AWS emulator through the real SDK.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::{Duration, Utc};
use resilience_tests::faults::FaultProxy;
use resilience_tests::platform::{NORTH, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::json;

const FUNCTION: &str = "dns-failover";

async fn running(platform: &Platform, instances: usize, extra: &[(&str, String)]) -> (RuntimeApi, Vec<FunctionProcess>) {
    let api = RuntimeApi::start().await;
    let mut env = platform.env();
    env.extend(extra.iter().cloned());
    let procs = (0..instances).map(|_| FunctionProcess::spawn(FUNCTION, &api, &env)).collect();
    (api, procs)
}

async fn fail_south(p: &Platform) {
    p.set_alarm(SOUTH, "api-5xx", StateValue::Alarm).await;
    p.set_alarm(SOUTH, "api-latency", StateValue::Alarm).await;
}

/// dns-failover running against `p`, the primary failing (quorum), and its 5xx alarm delivered:
/// the function's answer.
async fn south_fails(p: &Platform) -> (RuntimeApi, Vec<FunctionProcess>, Result<serde_json::Value, serde_json::Value>) {
    let (api, procs) = running(p, 1, &[]).await;
    fail_south(p).await;
    let out = api.invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now())).await;
    (api, procs, out)
}

/// The primary's alarms back to OK, then the operator's failback command for it: the answer.
async fn heal_south_and_fail_back(p: &Platform, api: &RuntimeApi) -> serde_json::Value {
    for base in ["api-5xx", "api-latency"] {
        p.set_alarm(SOUTH, base, StateValue::Ok).await;
    }
    api.invoke(&p.command("Resilience Failback Command", Some(SOUTH)))
        .await
        .expect("handled")
}

fn failovers(audit: &[resilience_core::model::audit::AuditRecord]) -> usize {
    audit
        .iter()
        .filter(|r| r.decision == resilience_core::model::DecisionName::Failover)
        .count()
}

#[tokio::test]
async fn alarm_event_drains_the_region_by_data_plane_metric_and_its_duplicate_changes_nothing() {
    let p = Platform::provision(&["health-metric", "control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    fail_south(&p).await;
    let event = p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now());

    let out = api.invoke(&event).await.expect("handled");
    assert_eq!(out["decision"]["decision"], "failover", "{out}");
    assert_eq!(out["decision"]["drain"], SOUTH);
    assert_eq!(out["decision"]["target"], NORTH);
    assert_eq!(
        p.drain_metric(SOUTH).await,
        Some(1.0),
        "drain metric published in the healthy region"
    );
    assert_eq!(p.weights().await[SOUTH], 100, "data plane first: no Route 53 change");
    let r53 = aws_sdk_route53::Client::new(&resilience_tests::sdk("us-east-1").await);
    let records = r53.list_resource_record_sets().hosted_zone_id(&p.zone_id).send().await.unwrap();
    let checked = records
        .resource_record_sets()
        .iter()
        .filter(|r| r.health_check_id().is_some())
        .count();
    assert_eq!(
        checked, 2,
        "each region's record follows a CLOUDWATCH_METRIC health check on its drain alarm"
    );

    let again = api.invoke(&event).await.expect("handled");
    assert_eq!(again["duplicate"], true, "{again}");
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1, "one notification: {notes:?}");
    assert_eq!(notes[0]["severity"], "critical");
    assert!(notes[0]["summary"].as_str().unwrap().contains("How to fail back"));
    assert_eq!(failovers(&p.audit(FUNCTION).await), 1);
}

#[tokio::test]
async fn control_plane_fallback_changes_weights_and_operator_failback_restores_them() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    fail_south(&p).await;
    let out = api
        .invoke(&p.alarm_event("api-latency", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(out["decision"]["decision"], "failover", "{out}");
    let actions: Vec<&str> = out["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    let dns = actions
        .iter()
        .position(|a| a.starts_with("route53:ChangeResourceRecordSets"))
        .expect("a Route 53 change");
    assert!(out["actions"][dns]["detail"].as_str().unwrap().contains("INSYNC"), "{out}");
    assert_eq!(p.weights().await, [(NORTH.to_owned(), 100), (SOUTH.to_owned(), 0)].into());

    // Failback refused while the region is still unhealthy, done once it is healthy.
    let refused = api
        .invoke(&p.command("Resilience Failback Command", Some(SOUTH)))
        .await
        .expect("handled");
    // A command a safety rule stops is refused, and says so (not "no action").
    assert_eq!(refused["decision"]["decision"], "refused", "{refused}");
    assert!(refused["decision"]["why"].as_str().unwrap().contains("is not healthy"), "{refused}");
    p.set_alarm(SOUTH, "api-5xx", StateValue::Ok).await;
    p.set_alarm(SOUTH, "api-latency", StateValue::Ok).await;
    let back = api
        .invoke(&p.command("Resilience Failback Command", Some(SOUTH)))
        .await
        .expect("handled");
    assert_eq!(back["decision"]["decision"], "failback", "{back}");
    assert_eq!(p.weights().await, [(NORTH.to_owned(), 100), (SOUTH.to_owned(), 100)].into());
}

#[tokio::test]
async fn capacity_is_raised_and_confirmed_in_the_target_region_before_traffic_shifts() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    fail_south(&p).await;
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    let actions: Vec<&str> = out["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    let scale = actions
        .iter()
        .position(|a| a.starts_with("capacity: scale eu-north-1"))
        .expect("scale before shift");
    let shift = actions.iter().position(|a| a.starts_with("route53:")).expect("shift");
    assert!(scale < shift, "{actions:?}");
    assert_eq!(out["actions"][scale]["outcome"], "succeeded", "{out}");
    assert!(
        out["actions"][scale]["detail"]
            .as_str()
            .unwrap()
            .contains("confirmed by read-back: true")
    );
    // Two failover steps: table +2x100, provisioned concurrency +2x50, reserved 0 -> 200.
    assert_eq!(p.scalable_target(NORTH, &p.table_target()).await, (205, 205));
    assert_eq!(p.scalable_target(NORTH, &p.provisioned_target()).await, (102, 102));
    assert_eq!(p.reserved_concurrency().await, Some(300));
    assert_eq!(
        p.scalable_target(SOUTH, &p.table_target()).await,
        (5, 40),
        "the failed region is left alone"
    );
}

/// Copies of one alarm event and concurrent senders: 100 from 20 in `make test`,
/// `RESILIENCE_COPIES=1000` in `make soak`.
fn copies() -> usize {
    std::env::var("RESILIENCE_COPIES").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

#[tokio::test]
async fn many_concurrent_copies_of_one_alarm_from_20_senders_make_one_change_and_one_notification() {
    let p = Platform::provision(&["control-plane"]).await;
    // The proxy (faults off) counts the calls that reach the emulator.
    let counter = FaultProxy::start(&resilience_tests::endpoint(), 0.0, 1, std::time::Duration::from_secs(4)).await;
    let (api, _procs) = running(&p, 4, &[("AWS_ENDPOINT_URL", counter.url())]).await;
    fail_south(&p).await;
    let event = p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now());
    let api = std::sync::Arc::new(api);
    let (copies, senders) = (copies(), 20);
    let tasks: Vec<_> = (0..senders)
        .map(|sender| {
            let api = api.clone();
            let event = event.clone();
            tokio::spawn(async move {
                let mut outs = Vec::new();
                for _ in (sender..copies).step_by(senders) {
                    outs.push(api.invoke(&event).await);
                }
                outs
            })
        })
        .collect();
    let (mut decided, mut duplicates, mut unfinished) = (0, 0, 0);
    for t in tasks {
        for out in t.await.unwrap() {
            match out {
                Ok(out) if out["decision"]["decision"] == "failover" => decided += 1,
                Ok(out) => {
                    assert_eq!(out["duplicate"], true, "{out}");
                    duplicates += 1;
                }
                // A copy that arrives while the first is still working must not claim success.
                Err(e) => {
                    assert_eq!(e["errorType"], "Retryable.InProgress", "{e}");
                    unfinished += 1;
                }
            }
        }
    }
    assert_eq!((decided + duplicates + unfinished, decided), (copies, 1));
    // Lambda retries those; every retry finds the reaction done.
    for _ in 0..unfinished {
        let again = api.invoke(&event).await.expect("a retry is answered");
        assert_eq!(again["duplicate"], true, "{again}");
    }
    assert_eq!(p.notifications().await.len(), 1, "one SNS message reached the SQS subscriber");
    let calls = counter.forwarded_by_operation();
    assert_eq!(
        calls.get("route53:ChangeResourceRecordSets"),
        Some(&1),
        "one change reached Route 53: {calls:?}"
    );
    assert_eq!(calls.get("sns:Publish"), Some(&1), "{calls:?}");
    assert_eq!(failovers(&p.audit(FUNCTION).await), 1);
    assert_eq!(p.weights().await[SOUTH], 0);
}

#[tokio::test]
async fn flapping_alarm_fails_over_once_and_never_fails_back_inside_hold_down() {
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["policy"]["auto_failback"] = json!(true);
    p.config["policy"]["failback_healthy_seconds"] = json!(0);
    let (api, _procs) = running(&p, 1, &[]).await;
    p.set_alarm(SOUTH, "api-latency", StateValue::Alarm).await;
    let t0 = Utc::now();
    for i in 0..50 {
        let alarm = i % 2 == 0;
        p.set_alarm(SOUTH, "api-5xx", if alarm { StateValue::Alarm } else { StateValue::Ok })
            .await;
        let at = t0 + Duration::seconds(i);
        api.invoke(&p.alarm_event("api-5xx", SOUTH, if alarm { "ALARM" } else { "OK" }, at))
            .await
            .expect("handled");
    }
    let audit = p.audit(FUNCTION).await;
    assert_eq!(audit.len(), 50);
    assert_eq!(failovers(&audit), 1);
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.decision == resilience_core::model::DecisionName::Failback)
            .count(),
        0
    );
    assert!(audit.iter().any(|r| r.reason.contains("hold-down")));
    assert_eq!(p.weights().await[SOUTH], 0);
}

#[tokio::test]
async fn both_regions_failing_takes_no_action_and_sends_a_critical_notification() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    fail_south(&p).await;
    p.set_alarm(NORTH, "api-5xx", StateValue::Alarm).await;
    p.set_alarm(NORTH, "canary", StateValue::Alarm).await;
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(out["decision"]["reason"], "both-regions-failing", "{out}");
    assert_eq!(p.weights().await[SOUTH], 100);
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["severity"], "critical");
}

#[tokio::test]
async fn unhealthy_target_region_takes_no_action() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    fail_south(&p).await;
    p.set_alarm(NORTH, "canary", StateValue::InsufficientData).await;
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(out["decision"]["reason"], "target-not-healthy", "{out}");
    assert_eq!(p.weights().await[SOUTH], 100);
}

#[tokio::test]
async fn dry_run_audits_and_notifies_the_plan_but_changes_nothing() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[("RESILIENCE_DRY_RUN", "true".into())]).await;
    fail_south(&p).await;
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(
        (out["outcome"].as_str(), out["dry_run"].as_bool()),
        (Some("planned"), Some(true)),
        "{out}"
    );
    assert_eq!(p.weights().await[SOUTH], 100);
    let audit = p.audit(FUNCTION).await;
    assert!(audit[0].dry_run && audit[0].decision == resilience_core::model::DecisionName::Failover);
    assert!(p.notifications().await[0]["subject"].as_str().unwrap().starts_with("[DRY RUN]"));
}

#[tokio::test]
async fn freeze_stops_automatic_failover_and_the_withheld_plan_is_audited() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    api.invoke(&p.command("Resilience Freeze Command", None)).await.expect("handled");
    fail_south(&p).await;
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(out["decision"]["reason"], "frozen", "{out}");
    assert_eq!(out["decision"]["withheld"]["decision"], "failover");
    assert_eq!(p.weights().await[SOUTH], 100);
}

#[tokio::test]
async fn bad_input_is_a_named_error_and_audited_with_no_change() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    let err = api.invoke(&json!({"hello": "world"})).await.expect_err("rejected");
    assert!(err["errorType"].as_str().unwrap().starts_with("NonRetryable.BadInput"), "{err}");
    assert!(err["errorMessage"].as_str().unwrap().contains("hello"), "{err}");

    let mut unknown = p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now());
    unknown["detail"]["alarmName"] = json!("someone-elses-alarm");
    unknown["resources"] = json!(["arn:aws:cloudwatch:ap-east-1:123456789012:alarm:someone-elses-alarm"]);
    let out = api.invoke(&unknown).await.expect("handled");
    assert_eq!(out["decision"]["reason"], "unknown-region", "{out}");

    let mut intruder = p.command("Resilience Failover Command", Some(NORTH));
    intruder["source"] = json!("not.an.operator");
    let out = api.invoke(&intruder).await.expect("handled");
    assert_eq!(out["decision"]["decision"], "refused", "{out}");

    let audit = p.audit(FUNCTION).await;
    let decisions: Vec<&str> = audit.iter().map(|r| r.decision.as_str()).collect();
    assert!(
        decisions.contains(&"rejected") && decisions.contains(&"refused") && decisions.contains(&"no-action"),
        "{decisions:?}"
    );
    assert_eq!(p.weights().await[SOUTH], 100);
}

#[tokio::test]
async fn hostile_events_get_named_errors_bounded_audit_and_the_process_keeps_serving() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, mut procs) = running(&p, 1, &[]).await;
    // 5 MiB of alarm reason and control / bidi characters in the alarm name.
    let mut huge = p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now());
    huge["detail"]["state"]["reason"] = json!("x".repeat(5 * 1024 * 1024));
    huge["detail"]["alarmName"] = json!("api-5xx\u{0}\u{202e}\u{7}-eu-south-1");
    let out = api.invoke(&huge).await.expect("an unknown alarm is answered");
    assert_eq!(
        out["decision"]["decision"],
        "no-action",
        "{}",
        out.to_string().chars().take(500).collect::<String>()
    );
    // Wrong types and deep nesting: non-retryable errors that name what arrived.
    let mut wrong = p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now());
    wrong["detail"] = json!(42);
    let err = api.invoke(&wrong).await.expect_err("rejected");
    assert!(err["errorType"].as_str().unwrap().starts_with("NonRetryable.BadInput"), "{err}");
    let mut deep = json!({ "leaf": true });
    for _ in 0..100 {
        deep = json!({ "detail": deep });
    }
    let err = api.invoke(&deep).await.expect_err("rejected");
    assert!(err["errorType"].as_str().unwrap().starts_with("NonRetryable.BadInput"), "{err}");
    // The audit keeps an excerpt, not the payload; the process is still the same one, serving.
    let audit = p.audit(FUNCTION).await;
    assert!(
        audit.iter().all(|r| r.signal.to_string().len() < 64 * 1024),
        "audit records stay small"
    );
    assert!(audit.iter().any(|r| r.decision == resilience_core::model::DecisionName::Rejected));
    fail_south(&p).await;
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(out["decision"]["decision"], "failover", "{out}");
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), procs[0].exit_code())
            .await
            .is_err(),
        "the process did not exit"
    );
}

#[tokio::test]
async fn invalid_configuration_fails_the_init_reported_to_the_runtime_api_and_logged_as_json_only() {
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["policy"]["quorum"] = json!(0);
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn_captured(FUNCTION, &api, &p.env());
    let (code, lines) = f.exit_and_output().await;
    assert_ne!(code, Some(0), "the process exits instead of serving");
    // The caller sees the problem list (Lambda shows it instead of a bare Runtime.ExitError).
    let reported = api.init_errors();
    assert_eq!(reported.len(), 1, "{reported:?}");
    let (kind, body) = &reported[0];
    assert_eq!(kind, "InitError.Config");
    assert_eq!(body["errorType"], "InitError.Config");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("policy.quorum"), "{message}");
    // With AWS_LAMBDA_LOG_FORMAT=JSON every line is JSON: no plain-text `Error: ...` after it.
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not a JSON line: {line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("init failed") && l.contains("policy.quorum")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn health_metric_failback_publishes_zero_and_a_later_failover_one_again() {
    let mut p = Platform::provision(&["health-metric"]).await;
    p.config["policy"]["hold_down_seconds"] = json!(0);
    let (api, _procs) = running(&p, 1, &[]).await;
    fail_south(&p).await;
    api.invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(p.drain_metric(SOUTH).await, Some(1.0));
    // No pause: the switch itself keeps a restore out of the drain's minute.
    let back = heal_south_and_fail_back(&p, &api).await;
    assert_eq!(back["decision"]["decision"], "failback", "{back}");
    assert_eq!(p.drain_metric(SOUTH).await, Some(0.0));
    fail_south(&p).await;
    let again = api
        .invoke(&p.alarm_event("api-latency", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    assert_eq!(again["decision"]["decision"], "failover", "{again}");
    assert_eq!(p.drain_metric(SOUTH).await, Some(1.0));
}

#[tokio::test]
async fn every_log_line_of_a_reaction_carries_the_signal_span_with_key_function_and_region() {
    let p = Platform::provision(&["control-plane"]).await;
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn_captured(FUNCTION, &api, &p.env());
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "OK", Utc::now()))
        .await
        .expect("handled");
    let key = out["signal"].as_str().expect("the answer names the signal").to_owned();
    let lines = f.stop_and_output().await;
    let decision: serde_json::Value = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "decision")
        .unwrap_or_else(|| panic!("no decision line in {lines:?}"));
    let span = decision["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "signal"))
        .unwrap_or_else(|| panic!("the decision line is not inside the signal span: {decision}"));
    assert_eq!(span["signal"], key.as_str(), "{decision}");
    assert_eq!(span["function"], FUNCTION, "{decision}");
    assert_eq!(span["region"], resilience_tests::platform::HOME, "{decision}");
}

/// Region-unreadable evidence, through the platform's proxy answering DescribeAlarms in one
/// region with a deterministic fault (the emulator cannot refuse or fail on demand).
mod unreadable_health {
    use super::*;
    use resilience_tests::faults::Fault;
    use serde_json::Value;

    /// A control-plane platform whose DescribeAlarms in `region` always gets `fault`, the
    /// primary failing (unless `fault` is on the primary itself), and its south 5xx alarm sent.
    async fn south_alarm_with(region: &str, fault: Fault) -> (Platform, RuntimeApi, Vec<FunctionProcess>, Result<Value, Value>) {
        let p = Platform::provision(&["control-plane"]).await;
        let (api, procs) = running(&p, 1, &[]).await;
        if region != SOUTH {
            fail_south(&p).await;
        }
        p.latency.proxy.always("DescribeAlarms", region, Some(fault));
        let out = api.invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now())).await;
        (p, api, procs, out)
    }

    #[tokio::test]
    async fn a_refused_alarm_read_is_a_configuration_error_no_failover_and_a_critical_notification() {
        // The target's alarms are refused to the function: whatever the primary shows, nothing moves.
        let (p, _api, _procs, out) = south_alarm_with(NORTH, Fault::Denied).await;
        let out = out.expect("handled: a configuration error is not retried");
        assert_eq!(out["decision"]["reason"], "health-read-refused", "{out:#}");
        assert!(out["why"].as_str().unwrap().contains("configuration error"), "{out}");
        assert_eq!(p.weights().await[SOUTH], 100, "nothing moved");
        let notes = p.notifications().await;
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0]["severity"], "critical", "{notes:?}");
    }

    #[tokio::test]
    async fn a_region_that_answers_5xx_twice_is_unreachable_evidence_and_is_drained() {
        // Two of three alarms in ALARM would be quorum; here the primary's API cannot even answer.
        let (p, _api, _procs, out) = south_alarm_with(SOUTH, Fault::ServerError).await;
        let out = out.expect("handled");
        assert_eq!(out["decision"]["decision"], "failover", "{out}");
        assert!(out["why"].as_str().unwrap().contains("could not be read from outside"), "{out}");
        let reads = p
            .latency
            .proxy
            .calls()
            .iter()
            .filter(|c| c.operation == "DescribeAlarms" && c.region == SOUTH && c.fault.is_some())
            .count();
        assert!(reads >= 2, "confirmed by a second read: {reads} faulted reads");
        assert_eq!(p.weights().await[SOUTH], 0);
    }

    #[tokio::test]
    async fn a_throttled_target_is_inconclusive_and_retried_not_evidence() {
        let (p, api, _procs, out) = south_alarm_with(NORTH, Fault::Throttle).await;
        let e = out.expect_err("retried");
        assert_eq!(e["errorType"], "Retryable.HealthUnreadable", "{e}");
        assert_eq!(p.weights().await[SOUTH], 100);
        // Once the target can be read, the re-drive drains the primary.
        p.latency.proxy.always("DescribeAlarms", NORTH, None);
        let out = api
            .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
            .await
            .expect("handled");
        assert_eq!(out["decision"]["decision"], "failover", "{out}");
    }
}

/// The AWS calls of one automatic failover on the data plane, counted by the platform's proxy:
/// no Route 53 call at all (its control plane may be the thing that is down), one datapoint,
/// one notification; the reads are the health alarms, the state copies and the confirmation.
#[tokio::test]
async fn a_data_plane_failover_changes_nothing_in_route53_reads_its_answers_and_makes_one_write_of_each_kind() {
    let p = Platform::provision(&["health-metric", "control-plane"]).await;
    let (api, _procs) = running(&p, 1, &[]).await;
    fail_south(&p).await;
    // Cold start and configuration reads out of the count: one reaction that changes nothing first.
    api.invoke(&p.alarm_event("api-canary", NORTH, "OK", Utc::now()))
        .await
        .expect("handled");
    p.latency.proxy.reset_calls();
    let started = std::time::Instant::now();
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    let elapsed = started.elapsed();
    assert_eq!(out["decision"]["decision"], "failover", "{out}");
    assert_eq!(out["outcome"], "succeeded", "confirmed by the drain alarm: {out}");
    let calls = p.latency.proxy.forwarded_by_operation();
    let total: usize = calls.values().sum();
    eprintln!(
        "one data-plane failover: {total} calls in {} ms with the latency model: {calls:?}",
        elapsed.as_millis()
    );
    // Route 53's control plane changes nothing: only its checkers and answers are read, to see
    // that DNS moved.
    assert!(
        calls.keys().filter(|k| k.starts_with("route53:")).all(|k| [
            "route53:ListResourceRecordSets",
            "route53:GetHealthCheckStatus",
            "route53:TestDNSAnswer"
        ]
        .contains(&k.as_str())),
        "{calls:?}"
    );
    assert!(calls.contains_key("route53:TestDNSAnswer"), "DNS seen to move: {calls:?}");
    assert_eq!(calls.get("monitoring:PutMetricData"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("sns:Publish"), Some(&1), "{calls:?}");
    assert_eq!(p.drain_metric(SOUTH).await, Some(1.0));
}

/// The routing-control strategy against the test bed's ARC cluster (`resilience_tests::arc`:
/// the emulator has no ARC data plane), through the compiled binary.
mod routing_control {
    use super::*;
    use resilience_tests::arc::ArcCluster;

    const SOUTH_CONTROL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/south";
    const NORTH_CONTROL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/north";

    async fn with_arc() -> (Platform, ArcCluster) {
        let mut p = Platform::provision(&["routing-control", "control-plane"]).await;
        let arc = ArcCluster::start(&[(SOUTH_CONTROL, true), (NORTH_CONTROL, true)], 3).await;
        let regions = ["us-east-1", "us-west-2", "eu-west-1"];
        p.config["dns"]["routing_control"] = json!({
            "cluster_endpoints": arc.endpoints.iter().zip(regions).map(|(e, r)| json!({ "region": r, "endpoint": e })).collect::<Vec<_>>(),
            "controls": { SOUTH: SOUTH_CONTROL, NORTH: NORTH_CONTROL },
        });
        p.wire_routing_controls(&[(SOUTH, SOUTH_CONTROL), (NORTH, NORTH_CONTROL)], arc.reader())
            .await;
        (p, arc)
    }

    #[tokio::test]
    async fn a_failover_sets_the_control_off_through_arc_and_the_failback_sets_it_on() {
        let (mut p, arc) = with_arc().await;
        p.config["policy"]["hold_down_seconds"] = json!(0);
        let (api, _procs, out) = south_fails(&p).await;
        let out = out.expect("handled");
        assert_eq!(out["decision"]["decision"], "failover", "{out}");
        assert_eq!(out["outcome"], "succeeded", "read back Off: {out}");
        assert_eq!(arc.is_on(SOUTH_CONTROL), Some(false));
        assert_eq!(p.weights().await[SOUTH], 100, "the data plane sufficed: no control-plane change");
        let back = heal_south_and_fail_back(&p, &api).await;
        assert_eq!(back["decision"]["decision"], "failback", "{back}");
        assert_eq!(arc.is_on(SOUTH_CONTROL), Some(true), "{back}");
    }

    #[tokio::test]
    async fn an_arc_safety_rule_refusal_is_final_no_fall_through_one_notification_no_retry() {
        let (p, arc) = with_arc().await;
        arc.require_on(2);
        let (_api, _procs, out) = south_fails(&p).await;
        let out = out.expect("answered, not given back for a retry that would meet the same rule");
        assert_eq!(out["outcome"], "failed", "{out}");
        assert!(out["actions"].to_string().contains("final"), "{out}");
        assert_eq!(arc.is_on(SOUTH_CONTROL), Some(true));
        assert_eq!(
            p.weights().await[SOUTH],
            100,
            "what ARC refuses, the control plane does not do instead"
        );
        let notes = p.notifications().await;
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0]["subject"].as_str().unwrap().contains("REFUSED"), "{notes:?}");
    }

    #[tokio::test]
    async fn an_unavailable_cluster_endpoint_is_skipped_and_the_next_one_drains() {
        let (p, arc) = with_arc().await;
        arc.set_down(0, true);
        let (_api, _procs, out) = south_fails(&p).await;
        let out = out.expect("handled");
        assert_eq!(out["outcome"], "succeeded", "{out}");
        assert!(out["actions"].to_string().contains("1 endpoint(s) failed"), "{out}");
        assert_eq!(arc.is_on(SOUTH_CONTROL), Some(false));
        assert_eq!(arc.updates(), 1);
    }
}

/// Someone outside the suite changes a traffic switch: writes 1 to the primary's drain metric
/// (as anyone with cloudwatch:PutMetricData could) and sets the backup's record to weight 0.
async fn tamper_with_the_switches(p: &Platform) {
    p.publish_drain(SOUTH, 1.0, None).await;
    let mut north = p.record(NORTH).await;
    north.weight = Some(0);
    p.change_record(aws_sdk_route53::types::ChangeAction::Upsert, north).await;
    // What Route 53 follows, and the drift check reads, is the drain alarm: CloudWatch
    // evaluates it from the forged datapoint a moment later.
    p.until_drain_alarm(SOUTH, aws_sdk_cloudwatch::types::StateValue::Alarm).await;
}

fn tick() -> serde_json::Value {
    let mut e = resilience_tests::fixture("scheduled-rule.json");
    e["id"] = json!(uuid::Uuid::new_v4().to_string());
    e
}

#[tokio::test]
async fn the_recheck_alerts_once_on_switches_changed_outside_the_suite_and_puts_them_back_when_seen_again() {
    let mut p = Platform::provision(&["health-metric", "control-plane"]).await;
    p.config["dns"]["restore_drift"] = json!(true);
    // The first serving region by priority checks: here the test bed's home region.
    p.config["regions"][NORTH]["priority"] = json!(1);
    p.config["regions"][SOUTH]["priority"] = json!(2);
    let (api, _f) = running(&p, 1, &[]).await;
    let calm = api.invoke(&tick()).await.expect("handled");
    assert!(!calm.to_string().contains("drift"), "nothing to report: {calm}");

    tamper_with_the_switches(&p).await;
    let first = api.invoke(&tick()).await.expect("handled");
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?} {first}");
    assert_eq!(notes[0]["severity"], "critical");
    let text = notes[0].to_string();
    assert!(text.contains("eu-south-1 health-metric: the switch holds it OUT of DNS"), "{text}");
    assert!(text.contains("eu-north-1 control-plane: the switch holds it OUT of DNS"), "{text}");
    assert_eq!(p.drain_metric(SOUTH).await, Some(1.0), "not put back on first sight: {first}");

    // Seen again at the next check: put back as recorded, and not announced again.
    let second = api.invoke(&tick()).await.expect("handled");
    assert_eq!(p.drain_metric(SOUTH).await, Some(0.0), "{second}");
    assert_eq!(
        p.weights().await,
        [(NORTH.to_owned(), 100), (SOUTH.to_owned(), 100)].into(),
        "{second}"
    );
    assert_eq!(p.notifications().await.len(), 0, "announced once");
    let third = api.invoke(&tick()).await.expect("handled");
    assert!(!third.to_string().contains("health-metric"), "no drift left: {third}");
}

/// An insider with DynamoDB rights writes a copy of the DNS state saying the healthy region was
/// drained by the health-metric switch. The re-check announces the drift once, and never drains
/// the healthy region to match it, however often it runs.
#[tokio::test]
async fn a_forged_drain_in_the_state_table_is_announced_and_never_carried_out_on_a_healthy_region() {
    let mut p = Platform::provision(&["health-metric", "control-plane"]).await;
    p.config["dns"]["restore_drift"] = json!(true);
    p.config["regions"][NORTH]["priority"] = json!(1);
    p.config["regions"][SOUTH]["priority"] = json!(2);
    let (api, _f) = running(&p, 1, &[]).await;
    api.invoke(&tick()).await.expect("handled");
    use resilience_core::store::StateStore;
    let store = p.store(aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(NORTH).await));
    let name = resilience_core::documents::dns_copy(p.config["dns"]["record_name"].as_str().unwrap(), &SOUTH.parse().unwrap());
    let version = store.get_state(&name).await.unwrap().map_or(0, |v| v.version);
    let forged =
        json!({ "drained": [SOUTH], "drained_by": { SOUTH: ["health-metric"] }, "changed_at": { SOUTH: chrono::Utc::now().to_rfc3339() } });
    store.put_state(&name, &forged, version).await.unwrap();
    let metric_before = p.drain_metric(SOUTH).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(api.invoke(&tick()).await.expect("handled"));
    }
    assert_ne!(
        p.drain_metric(SOUTH).await,
        Some(1.0),
        "drained to match a forged record: {answers:?}"
    );
    assert_eq!(p.drain_metric(SOUTH).await, metric_before);
    assert_eq!(p.weights().await[SOUTH], 100, "{answers:?}");
    let all = answers.iter().map(ToString::to_string).collect::<String>();
    assert!(
        all.contains("never drains a healthy region"),
        "the skipped restore is audited: {all}"
    );
    let notes = p.notifications().await;
    assert!(
        notes.iter().filter(|n| n.to_string().contains("DNS SWITCH DRIFT")).count() == 1,
        "announced once: {notes:?}"
    );
}

/// Time, modelled: a health-metric failover that has held for two hours. The drain datapoint
/// is stamped when the suite published it (CloudWatch accepts datapoints up to two weeks old,
/// "Amazon CloudWatch concepts", Time stamps), so it is older than any window the code reads;
/// the drain alarm is in ALARM, as CloudWatch left it: it keeps its state while no datapoint
/// arrives (`TreatMissingData: ignore`), and Route 53's health check follows the alarm. The
/// state copies say so, as the failover wrote them. The re-check sees no drift (no page, hours
/// into every real failover) and publishes nothing again, however often it runs.
#[tokio::test]
async fn a_health_metric_drain_held_for_two_hours_is_no_drift_and_is_never_republished() {
    let mut p = Platform::provision(&["health-metric"]).await;
    p.config["dns"]["restore_drift"] = json!(true);
    p.config["regions"][NORTH]["priority"] = json!(1);
    p.config["regions"][SOUTH]["priority"] = json!(2);
    let two_hours_ago = Utc::now() - Duration::hours(2);
    let hm = p.config["dns"]["health_metric"].clone();
    let cw = aws_sdk_cloudwatch::Client::new(&resilience_tests::sdk(NORTH).await);
    p.publish_drain(SOUTH, 1.0, Some(two_hours_ago)).await;
    let alarm = hm["alarm_name"].as_str().unwrap().replace("{region}", SOUTH);
    cw.set_alarm_state()
        .alarm_name(&alarm)
        .state_value(StateValue::Alarm)
        .state_reason("CloudWatch, two hours ago: the drain datapoint evaluated")
        .send()
        .await
        .unwrap();
    use resilience_core::store::StateStore;
    let record = p.config["dns"]["record_name"].as_str().unwrap().to_owned();
    let held =
        json!({ "drained": [SOUTH], "drained_by": { SOUTH: ["health-metric"] }, "changed_at": { SOUTH: two_hours_ago.to_rfc3339() } });
    let store = p.store(aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(NORTH).await));
    for home in [NORTH, SOUTH] {
        let name = resilience_core::documents::dns_copy(&record, &home.parse().unwrap());
        let version = store.get_state(&name).await.unwrap().map_or(0, |v| v.version);
        store.put_state(&name, &held, version).await.unwrap();
    }
    assert_eq!(
        p.drain_metric(SOUTH).await,
        None,
        "the datapoint is older than the window the code reads"
    );
    let (api, _f) = running(&p, 1, &[]).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(api.invoke(&tick()).await.expect("handled"));
    }
    let all = answers.iter().map(ToString::to_string).collect::<String>();
    let notes = p.notifications().await;
    assert!(
        !notes.iter().any(|n| n.to_string().contains("DNS SWITCH DRIFT")),
        "a false drift page: {notes:?} {all}"
    );
    assert!(!all.contains("drift"), "no drift read: {all}");
    assert_eq!(p.drain_metric(SOUTH).await, None, "republished: {all}");
    assert_eq!(p.drain_alarm(SOUTH).await, Some(StateValue::Alarm), "the drain holds");
}

#[tokio::test]
async fn without_restore_drift_a_tampered_switch_is_announced_and_left_to_a_person() {
    let mut p = Platform::provision(&["health-metric", "control-plane"]).await;
    p.config["regions"][NORTH]["priority"] = json!(1);
    p.config["regions"][SOUTH]["priority"] = json!(2);
    let (api, _f) = running(&p, 1, &[]).await;
    tamper_with_the_switches(&p).await;
    for _ in 0..2 {
        api.invoke(&tick()).await.expect("handled");
    }
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].to_string().contains("restore_drift is off"), "{}", notes[0]);
    assert_eq!(p.drain_metric(SOUTH).await, Some(1.0), "left as found");
}

/// Broken wiring: each switch confirms its own move (drain alarm in ALARM, routing control read
/// back Off), but Route 53 keeps answering the region. With that strategy alone configured,
/// no drain is called done: the outcome is `unconfirmed`, the audit names what did not move,
/// and on-call gets exactly one page. Route 53's checkers and answers are the test bed's model
/// (`resilience_tests::latency`), which follows what each health check is configured to follow.
mod broken_wiring {
    use super::*;
    use aws_sdk_route53::types::{AlarmIdentifier, ChangeAction, CloudWatchRegion, HealthCheckConfig, HealthCheckType};

    async fn r53() -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&resilience_tests::sdk("us-east-1").await)
    }

    /// The failover's answer, once it is asserted not done: names `why` and paged once.
    async fn assert_not_done(p: &Platform, why: &str) {
        let (_api, _procs, out) = south_fails(p).await;
        let out = out.expect("handled");
        assert_eq!(out["decision"]["decision"], "failover", "{out}");
        assert_eq!(out["outcome"], "unconfirmed", "a false done: {out}");
        let actions = out["actions"].to_string();
        assert!(actions.contains("DNS NOT moved") && actions.contains(why), "{why}: {actions}");
        let notes = p.notifications().await;
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].to_string().contains("FAILOVER NOT CONFIRMED"), "{}", notes[0]);
    }

    #[tokio::test]
    async fn health_metric_with_no_health_check_on_the_record_is_not_called_done() {
        let p = Platform::provision(&["health-metric"]).await;
        let mut south = p.record(SOUTH).await;
        south.health_check_id = None;
        p.change_record(ChangeAction::Upsert, south).await;
        assert_not_done(&p, "has no health check").await;
        assert_eq!(p.drain_metric(SOUTH).await, Some(1.0), "the switch itself moved");
    }

    #[tokio::test]
    async fn health_metric_with_the_record_s_health_check_following_another_alarm_is_not_called_done() {
        let p = Platform::provision(&["health-metric"]).await;
        // A check on the other region's drain alarm (which stays OK), put on eu-south-1's record.
        let wrong = p.config["dns"]["health_metric"]["alarm_name"]
            .as_str()
            .unwrap()
            .replace("{region}", NORTH);
        let config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::CloudwatchMetric)
            .alarm_identifier(
                AlarmIdentifier::builder()
                    .region(CloudWatchRegion::from(SOUTH))
                    .name(wrong)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        p.put_health_check_on(SOUTH, &resilience_tests::unique("wrong-alarm"), config).await;
        assert_not_done(&p, "checkers still report it healthy").await;
    }

    #[tokio::test]
    async fn health_metric_with_the_record_s_health_check_disabled_is_not_called_done() {
        let p = Platform::provision(&["health-metric"]).await;
        // Detached from its alarm: a disabled check is always healthy to Route 53.
        let south = p.record(SOUTH).await;
        r53()
            .await
            .update_health_check()
            .health_check_id(south.health_check_id.clone().unwrap())
            .disabled(true)
            .send()
            .await
            .unwrap();
        assert_not_done(&p, "checkers still report it healthy").await;
    }

    #[tokio::test]
    async fn a_routing_control_no_health_check_of_the_record_follows_is_not_called_done() {
        use resilience_tests::arc::ArcCluster;
        const SOUTH_CONTROL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/south";
        const NORTH_CONTROL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/north";
        let mut p = Platform::provision(&["routing-control"]).await;
        let arc = ArcCluster::start(&[(SOUTH_CONTROL, true), (NORTH_CONTROL, true)], 1).await;
        p.config["dns"]["routing_control"] = json!({
            "cluster_endpoints": [{ "region": "us-east-1", "endpoint": arc.endpoints[0] }],
            "controls": { SOUTH: SOUTH_CONTROL, NORTH: NORTH_CONTROL },
        });
        // The records keep their drain-alarm health checks: no RECOVERY_CONTROL check is on them.
        assert_not_done(&p, "checkers still report it healthy").await;
        assert_eq!(arc.is_on(SOUTH_CONTROL), Some(false), "the switch itself moved");
    }
}
