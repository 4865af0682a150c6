//! The suite as its template deploys it, under the permissions the template grants.
//!
//! Both regions' stacks are deployed from the transformed SAM template to a private emulator that
//! enforces IAM ([`resilience_tests::deployed::Stack`]); each function binary runs with
//! credentials holding only its role's policies, and reads the configuration the deployment
//! rendered from the template out of the SSM parameter. A denied call fails the scenario. At
//! the end, every action the template grants is either exercised here or justified in
//! `infra/permissions-unexercised.json`.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use jsonwebtoken::Algorithm;
use resilience_tests::deployed::Stack;
use resilience_tests::jwt::{self, AUDIENCE, ISSUER};
use resilience_tests::latency::{DnsModel, DnsWiring};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SOUTH: &str = "eu-south-1";
const NORTH: &str = "eu-north-1";

async fn set_alarm(stack: &Stack, region: &str, name: &str, state: StateValue) {
    aws_sdk_cloudwatch::Client::new(&stack.admin(region).await)
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("set by the deployed-stack test")
        .send()
        .await
        .unwrap_or_else(|e| panic!("set {name}: {e:?}"));
}

/// Every alarm the configuration names, in every region, set OK (the emulator creates them
/// INSUFFICIENT_DATA).
async fn all_health_ok(stack: &Stack) {
    let config = stack.config();
    for (region, rc) in config["regions"].as_object().unwrap() {
        let names = rc["health_alarms"]
            .as_array()
            .unwrap()
            .iter()
            .chain(std::iter::once(&rc["composite_alarm"]));
        for name in names {
            set_alarm(stack, region, name.as_str().unwrap(), StateValue::Ok).await;
        }
    }
}

fn alarm_event(name: &str, region: &str, state: &str) -> Value {
    resilience_tests::alarm_event(name, region, state, Utc::now())
}

fn denied(stack: &Stack) -> Vec<String> {
    stack
        .decisions()
        .into_iter()
        .filter(|d| !d.allowed && stack.function_of(&d.principal).is_some())
        .map(|d| format!("{} {} on {}", d.principal, d.action, d.resource))
        .collect()
}

async fn spawn(stack: &Stack, function: &str, region: &str, extra: &[(&'static str, String)]) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let mut env = stack.env(function, region);
    env.extend(extra.iter().cloned());
    let f = FunctionProcess::spawn(function, &api, &env);
    (api, f)
}

/// dns-failover in the healthy region: the kill switch, flipped in the parameter, holds it back
/// without a restart; turned off, the next alarm fails the region over by the data plane.
async fn failover(stack: &Stack) {
    all_health_ok(stack).await;
    // Route 53's checkers and answers, which the emulator lacks, from the latency model's
    // proxy in front of the stack: the function's own credentials pass through to IAM.
    let proxy = resilience_tests::faults::FaultProxy::start(&stack.endpoint, 0.0, 0, std::time::Duration::from_secs(5)).await;
    let mut cloudwatch = BTreeMap::new();
    for region in [SOUTH, NORTH] {
        cloudwatch.insert(region.to_owned(), aws_sdk_cloudwatch::Client::new(&stack.admin(region).await));
    }
    let mut config = stack.config();
    let _route53 = DnsModel::start(
        DnsWiring {
            zone_id: stack.manifest["hosted_zone_id"].as_str().unwrap().to_owned(),
            record_name: config["dns"]["record_name"].as_str().unwrap().to_owned(),
        },
        std::time::Duration::from_millis(300),
        aws_sdk_route53::Client::new(&stack.admin("us-east-1").await),
        cloudwatch,
        (proxy.dns_answers(), proxy.checker_reports()),
        Default::default(),
    );
    let (api, _f) = spawn(
        stack,
        "dns-failover",
        NORTH,
        &[("RESILIENCE_CONFIG_REFRESH_SECONDS", "0".into()), ("AWS_ENDPOINT_URL", proxy.url())],
    )
    .await;
    config["dns"]["answer_confirm_seconds"] = json!(8);
    config["dns"]["answer_sample_ms"] = json!(20);
    config["kill_switch"] = json!(true);
    stack.put_config(&config).await;
    for name in ["aworld-health-api-5xx-eu-south-1", "aworld-health-api-latency-eu-south-1"] {
        set_alarm(stack, SOUTH, name, StateValue::Alarm).await;
    }
    let held = api
        .invoke(&alarm_event("aworld-health-api-5xx-eu-south-1", SOUTH, "ALARM"))
        .await
        .expect("handled");
    assert_ne!(held["decision"]["decision"], "failover", "kill switch from the parameter: {held}");
    assert!(held.to_string().contains("kill switch"), "{held}");

    // An invalid version is refused while warm: the version in force (kill switch on) stays.
    let mut invalid = config.clone();
    invalid["kill_switch"] = json!(false);
    invalid["policy"]["quorum"] = json!(9);
    stack.put_config(&invalid).await;
    let still = api
        .invoke(&alarm_event("aworld-health-api-5xx-eu-south-1", SOUTH, "ALARM"))
        .await
        .expect("handled");
    assert!(
        still.to_string().contains("kill switch"),
        "the refused version did not apply: {still}"
    );

    // The data plane first. CloudWatch does not evaluate the drain alarm yet (the latency
    // model is off), so health-metric's drain is applied but unconfirmed and the control plane
    // drains too: the state records both.
    config["kill_switch"] = json!(false);
    config["dns"]["strategies"] = json!(["health-metric", "control-plane"]);
    config["dns"]["health_metric"]["confirm_seconds"] = json!(2);
    stack.put_config(&config).await;
    let out = api
        .invoke(&alarm_event("aworld-health-api-latency-eu-south-1", SOUTH, "ALARM"))
        .await
        .expect("handled");
    assert_eq!(out["decision"]["decision"], "failover", "{out}");
    assert_eq!(out["decision"]["drain"], SOUTH, "{out}");
    let outcomes: Vec<String> = switch_actions(&out).into_iter().map(|(_, o)| o).collect();
    assert_eq!(outcomes, ["unconfirmed", "succeeded"], "{out}");

    // The operator puts the region back: the failback undoes both, each confirmed (now with
    // CloudWatch's evaluation modelled: the drain alarm follows the metric).
    let wiring = resilience_tests::latency::DrainWiring {
        namespace: "aworld/Failover".into(),
        metric: "RegionDrained".into(),
        alarm_name: "aworld-drained-{region}".into(),
        pairs: vec![(SOUTH.into(), NORTH.into()), (NORTH.into(), SOUTH.into())],
    };
    let mut clients = BTreeMap::new();
    for region in [SOUTH, NORTH] {
        clients.insert(region.to_owned(), aws_sdk_cloudwatch::Client::new(&stack.admin(region).await));
    }
    let _evaluated = resilience_tests::latency::DrainAlarms::start(wiring, std::time::Duration::from_millis(500), clients);
    config["dns"]["health_metric"]["confirm_seconds"] = json!(10);
    stack.put_config(&config).await;
    for name in ["aworld-health-api-5xx-eu-south-1", "aworld-health-api-latency-eu-south-1"] {
        set_alarm(stack, SOUTH, name, StateValue::Ok).await;
    }
    let back = command(stack, NORTH, "Resilience Failback Command", |e| {
        e["detail"]["region"] = json!(SOUTH)
    })
    .await;
    let out = api.invoke(&back).await.expect("handled");
    assert_eq!(out["decision"]["decision"], "failback", "{out}");
    let undone = switch_actions(&out);
    assert_eq!(undone.len(), 2, "both strategies undone: {out}");
    assert!(undone.iter().all(|(_, o)| o == "succeeded"), "{undone:?}");
    assert_eq!(denied(stack), Vec::<String>::new(), "dns-failover under its template permissions");
}

/// The (action, outcome) of each strategy's switch in a decision's answer.
fn switch_actions(out: &Value) -> Vec<(String, String)> {
    out["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["action"]
                .as_str()
                .is_some_and(|s| s.starts_with("health-metric") || s.starts_with("route53:Change"))
        })
        .map(|a| {
            (
                a["action"].as_str().unwrap_or("").to_owned(),
                a["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// An operator command as the CLI sends it: signed by the stack's operator key in `region`
/// (the template's `alias/aworld-operator`, rendered into operators.signing_keys by the deploy),
/// after `edit`. The test stands in for the CLI's STS lookup with the configured operator role.
async fn command(stack: &Stack, region: &str, detail_type: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut e = resilience_core::fixtures::event("operator-failover.json");
    e["id"] = json!(uuid::Uuid::new_v4().to_string());
    e["detail-type"] = json!(detail_type);
    edit(&mut e);
    let config = resilience_core::config::SuiteConfig::from_json(&stack.config().to_string()).unwrap();
    let key = resilience_cli::signing_key(&config, &region.parse().unwrap(), None).unwrap();
    assert!(key.contains(&format!(":kms:{region}:")), "the stack's key in {region}: {key}");
    let kind = resilience_core::signal::OperatorCommandKind::from_detail_type(detail_type).unwrap();
    let mut detail: resilience_core::signal::OperatorCommandDetail = serde_json::from_value(e["detail"].clone()).unwrap();
    let kms = aws_sdk_kms::Client::new(&stack.admin(region).await);
    resilience_cli::sign(&kms, &key, kind, &mut detail).await.unwrap();
    e["detail"] = serde_json::to_value(&detail).unwrap();
    e
}

/// capacity-scaler: a saturation alarm of the template raises the table's write capacity (in
/// the primary region: the failover above already raised the backup's, inside its cooldown).
async fn capacity(stack: &Stack) {
    let name = "aworld-saturation-orders-throttles-eu-south-1";
    set_alarm(stack, SOUTH, name, StateValue::Alarm).await;
    let (api, _f) = spawn(stack, "capacity-scaler", SOUTH, &[]).await;
    let out = api.invoke(&alarm_event(name, SOUTH, "ALARM")).await.expect("handled");
    assert_eq!(out["decision"], "scale", "{out}");

    // An operator's failover intent raises the backup region's capacity (its reserved
    // concurrency too, from the peer region), and the failback restores the baselines.
    let (api, _f) = spawn(stack, "capacity-scaler", SOUTH, &[]).await;
    let intent = command(stack, SOUTH, "Resilience Failover Command", |e| {
        e["detail"]["region"] = json!(NORTH)
    })
    .await;
    let out = api.invoke(&intent).await.expect("handled");
    assert_eq!(out["decision"], "scale", "{out}");
    assert!(reserved(stack).await > Some(100), "raised from its reservation: {out}");
    let back = command(stack, SOUTH, "Resilience Failback Command", |e| {
        e["detail"]["region"] = json!(SOUTH)
    })
    .await;
    let out = api.invoke(&back).await.expect("handled");
    assert_eq!(out["decision"], "scale", "{out}");

    // The account's unreserved pool is nearly spent (Lambda's default limit of 1,000 on this
    // emulator; the stack reserves 262 per region): a raise that would leave fewer than 100
    // unreserved is refused with its reason, not attempted.
    aws_sdk_lambda::Client::new(&stack.admin(NORTH).await)
        .put_function_concurrency()
        .function_name("aworld-api")
        .reserved_concurrent_executions(600)
        .send()
        .await
        .unwrap();
    let again = command(stack, SOUTH, "Resilience Failover Command", |e| {
        e["detail"]["region"] = json!(NORTH)
    })
    .await;
    let out = api.invoke(&again).await.expect("handled");
    assert!(out.to_string().contains("must stay unreserved"), "{out}");
    assert_eq!(reserved(stack).await, Some(600), "not raised: {out}");
    assert_eq!(
        denied(stack),
        Vec::<String>::new(),
        "capacity-scaler under its template permissions"
    );
}

/// The platform function's reserved concurrency in the backup region.
async fn reserved(stack: &Stack) -> Option<i32> {
    aws_sdk_lambda::Client::new(&stack.admin(NORTH).await)
        .get_function_concurrency()
        .function_name("aworld-api")
        .send()
        .await
        .unwrap()
        .reserved_concurrent_executions()
}

/// user-throttle: detector batches from the queue; every record throttled and its claim closed
/// (BatchWriteItem on the state table), no record failed; the third offence blocks (and
/// notifies); an operator releases a user.
async fn throttle(stack: &Stack) {
    let mut config = stack.config();
    config["throttle"]["coalesce_seconds"] = json!(0);
    stack.put_config(&config).await;
    let (api, _f) = spawn(stack, "user-throttle", NORTH, &[]).await;
    let first = detector_batch(&["user#u-1", "user#u-2", "user#u-3"]);
    for batch in [first.clone(), detector_batch(&["user#u-1"]), detector_batch(&["user#u-1"]), first] {
        let out = api.invoke(&batch).await.expect("handled");
        assert_eq!(out["batchItemFailures"], json!([]), "{out}");
    }
    let release = command(stack, NORTH, "Resilience Release Command", |e| {
        e["detail"]["principal"] = json!("user#u-3");
        e["detail"].as_object_mut().unwrap().remove("region");
    })
    .await;
    let out = api.invoke(&release).await.expect("handled");
    assert_eq!(out["decision"], "release", "{out}");
    // An event claiming the template's anomaly alarm fired for a user: CloudWatch, read under
    // the role's own DescribeAlarms grant, holds no such alarm state for that user.
    let name = format!("aworld-anomaly-requests-{NORTH}");
    set_alarm(stack, NORTH, &name, StateValue::Alarm).await;
    let mut claim = resilience_core::fixtures::event("eventbridge-alarm-anomaly.json");
    claim["detail"]["alarmName"] = json!(name);
    claim["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = json!({ "UserId": "victim" });
    let out = api.invoke(&claim).await.expect("handled");
    assert!(out.to_string().contains("not confirmed by CloudWatch"), "{out}");
    assert_eq!(denied(stack), Vec::<String>::new(), "user-throttle under its template permissions");
}

fn detector_batch(principals: &[&str]) -> Value {
    let bodies: Vec<Value> = principals
        .iter()
        .map(|p| {
            let mut e = resilience_core::fixtures::event("suspicious-activity.json");
            e["id"] = json!(uuid::Uuid::new_v4().to_string());
            e["detail"]["principal"] = json!(p);
            e
        })
        .collect();
    let records: Vec<Value> = bodies
        .iter()
        .map(|b| {
            let mut r = resilience_core::fixtures::event("sqs-batch.json")["Records"][0].clone();
            r["messageId"] = json!(uuid::Uuid::new_v4().to_string());
            r["body"] = json!(b.to_string());
            r
        })
        .collect();
    json!({ "Records": records })
}

/// access-authorizer: a key rotation through the parameter; then an unthrottled user is allowed,
/// the rate-limited user is allowed with its level, the blocked user is denied.
async fn authorizer(stack: &Stack) {
    let keys = jwt::generate();
    let mut config = stack.config();
    config["auth"] = json!({ "issuer": ISSUER, "audience": AUDIENCE, "jwks": keys.jwks, "default_usage_plan_key": "aworldUsagePlanDefault0001", "leeway_seconds": 5, "cache_seconds": 0 });
    stack.put_config(&config).await;
    let (api, _f) = spawn(stack, "access-authorizer", NORTH, &[]).await;
    let method = "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders";
    for (user, effect, throttled) in [("u-9", "Allow", false), ("u-2", "Allow", true), ("u-1", "Deny", true)] {
        let token = jwt::sign(&keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims(user, 300));
        let out = api
            .invoke(&json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": method }))
            .await
            .expect("handled");
        assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], effect, "{user}: {out}");
        assert_eq!(out["context"]["throttled"], throttled, "{user}: {out}");
        assert_eq!(out["context"]["lookup"], "table", "read from the throttle table: {out}");
    }
    assert_eq!(
        denied(stack),
        Vec::<String>::new(),
        "access-authorizer under its template permissions"
    );
}

/// backup-verifier: the template's own check schedule and restore-drill schedule, as Scheduler
/// sends them (the template's Input).
async fn backup(stack: &Stack) {
    let mut config = stack.config();
    config["backup"]["max_backup_age_hours"] = json!(24);
    // The RPO probe reads its canary in the peer region's replica, under the template's grant:
    // the emulator does not replicate, so it reports a stalled replication, never a denial.
    config["backup"]["rpo_probe"] = json!({ "samples": 2, "timeout_seconds": 1 });
    stack.put_config(&config).await;
    // Through the latency model, so PITR's latest restorable time moves (2 s behind) and the
    // restore takes time (1 s), as on AWS: the drill then spans invocations.
    let proxy = resilience_tests::faults::FaultProxy::start(&stack.endpoint, 0.0, 0, std::time::Duration::from_secs(5)).await;
    proxy.set_restorable_lag(std::time::Duration::from_secs(2));
    proxy.set_restore_takes(std::time::Duration::from_secs(1));
    let (api, _f) = spawn(stack, "backup-verifier", NORTH, &[("AWS_ENDPOINT_URL", proxy.url())]).await;
    let tick = |schedule: &str| resilience_tests::scheduler_tick(schedule, NORTH);
    for schedule in ["aworld-backup-checks-eu-north-1", "aworld-restore-drill-eu-north-1"] {
        let out = api.invoke(&tick(schedule)).await.expect("handled");
        assert_eq!(out["decision"], "verified", "{out}");
        // The emulator has no replicas, so the report FAILs its replica checks; what matters
        // here is that every check could run under the template's permissions.
        let lag = out["report"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "replication-lag")
            .cloned()
            .unwrap_or_else(|| panic!("the RPO probe ran: {out}"));
        assert!(
            lag["detail"].as_str().unwrap().contains("replication stalled"),
            "the canary was read in eu-south-1 (no denial), where the emulator never replicates it: {lag}"
        );
        let progress = out["report"]["drill_progress"].as_str().unwrap_or_default();
        if schedule.contains("drill") {
            assert!(progress.contains("canaries written"), "the drill schedule starts the drill: {out}");
        } else {
            assert!(progress.is_empty(), "the check schedule starts no drill: {out}");
        }
    }
    // The template's progress schedule moves it on to the end: canaries written and deleted
    // under the dynamodb:LeadingKeys condition, the restore, the scratch table read and deleted.
    let mut finished = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let out = api.invoke(&tick("aworld-restore-progress-eu-north-1")).await.expect("handled");
        if !out["report"]["drill"].is_null() {
            finished = out["report"]["drill"].clone();
            break;
        }
    }
    assert_eq!(
        finished["status"], "PASS",
        "the drill finished under the template's grants: {finished}"
    );
    assert_eq!(finished["cleaned_up"], true, "{finished}");
    assert_eq!(
        denied(stack),
        Vec::<String>::new(),
        "backup-verifier under its template permissions"
    );
}

/// The enforcement is real: what the template does not grant is refused (HTTP 403), including
/// a condition (the drain metric's namespace) and a resource (the throttle table's writes).
async fn ungranted_calls_are_denied(stack: &Stack) {
    let cw = aws_sdk_cloudwatch::Client::new(&stack.as_function("dns-failover", NORTH).await);
    let datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
        .metric_name("RegionDrained")
        .value(1.0)
        .build();
    let err = cw
        .put_metric_data()
        .namespace("Other/Namespace")
        .metric_data(datum)
        .send()
        .await
        .expect_err("outside the namespace condition");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403), "{err:?}");
    let ddb = aws_sdk_dynamodb::Client::new(&stack.as_function("access-authorizer", NORTH).await);
    let err = ddb
        .put_item()
        .table_name("aworld-throttle")
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("user#forged".into()))
        .send()
        .await
        .expect_err("the authorizer only reads the throttle table");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403), "{err:?}");
    // backup-verifier writes into a protected table only under the drill's canary keys
    // (dynamodb:LeadingKeys): an order is out of its reach.
    let ddb = aws_sdk_dynamodb::Client::new(&stack.as_function("backup-verifier", NORTH).await);
    let err = ddb
        .put_item()
        .table_name("aworld-orders")
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("order-1".into()))
        .send()
        .await
        .expect_err("outside the canary keys");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403), "{err:?}");
    ddb.put_item()
        .table_name("aworld-orders")
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("resilience-drill#test".into()))
        .send()
        .await
        .expect("a canary key is allowed");
    ddb.delete_item()
        .table_name("aworld-orders")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("resilience-drill#test".into()))
        .send()
        .await
        .expect("and deleted");
    assert_eq!(
        denied(stack).len(),
        3,
        "exactly the three calls above were denied: {:?}",
        denied(stack)
    );
}

/// dns-failover's practice failover drill as the template wires it: the practice name's
/// records, health checks, drain alarms and trigger alarms, the drill schedule, and the grants
/// (SetAlarmState on the trigger alarms, TestDNSAnswer, the practice drain namespace). Through
/// the latency model: the emulator evaluates no alarm and has no TestDNSAnswer.
async fn practice_drill(stack: &Stack) {
    use resilience_tests::latency::{DrainAlarms, DrainWiring};
    all_health_ok(stack).await;
    let mut config = stack.config();
    // Today may fall in the example's blocked window (Fri 16:00 to Mon 08:00 UTC).
    config["failover_drill"]["blocked_windows"] = json!([]);
    config["failover_drill"]["blocked_dates"] = json!([]);
    config["failover_drill"]["health_metric"]["confirm_seconds"] = json!(10);
    stack.put_config(&config).await;
    let triggers: Vec<String> = serde_json::from_value(config["failover_drill"]["trigger_alarms"].clone()).unwrap();
    for t in &triggers {
        set_alarm(stack, SOUTH, t, StateValue::Ok).await;
    }
    let mut clients = BTreeMap::new();
    for region in [SOUTH, NORTH] {
        clients.insert(region.to_owned(), aws_sdk_cloudwatch::Client::new(&stack.admin(region).await));
    }
    // CloudWatch's evaluation: the practice drain alarms, and eu-south-1's trigger alarms on
    // the trigger metric the drill publishes there.
    let _evaluated: Vec<DrainAlarms> = [
        (
            "PracticeRegionDrained",
            "aworld-drill-drained-{region}",
            vec![(SOUTH.into(), NORTH.into()), (NORTH.into(), SOUTH.into())],
        ),
        (
            "PracticeTrigger",
            "aworld-health-drill-a-{region}",
            vec![(SOUTH.into(), SOUTH.into())],
        ),
        (
            "PracticeTrigger",
            "aworld-health-drill-b-{region}",
            vec![(SOUTH.into(), SOUTH.into())],
        ),
    ]
    .into_iter()
    .map(|(metric, alarm, pairs)| {
        DrainAlarms::start(
            DrainWiring {
                namespace: "aworld/FailoverDrill".into(),
                metric: metric.into(),
                alarm_name: alarm.into(),
                pairs,
            },
            std::time::Duration::from_millis(500),
            clients.clone(),
        )
    })
    .collect();
    let proxy = resilience_tests::faults::FaultProxy::start(&stack.endpoint, 0.0, 0, std::time::Duration::from_secs(5)).await;
    let _answers = DnsModel::start(
        DnsWiring {
            zone_id: stack.manifest["hosted_zone_id"].as_str().unwrap().to_owned(),
            record_name: "drill.api.aworld.example.".into(),
        },
        std::time::Duration::from_millis(300),
        aws_sdk_route53::Client::new(&stack.admin("us-east-1").await),
        clients.clone(),
        (proxy.dns_answers(), proxy.checker_reports()),
        Default::default(),
    );
    let (api, _f) = spawn(stack, "dns-failover", NORTH, &[("AWS_ENDPOINT_URL", proxy.url())]).await;
    let started = api
        .invoke(&resilience_tests::scheduler_tick("aworld-failover-drill-eu-north-1", NORTH))
        .await
        .expect("handled");
    assert_eq!(started["decision"], "drill", "{started}");
    let deliver = async |want: StateValue| {
        let event = resilience_tests::state_change_event(&clients[SOUTH], &triggers[0], SOUTH, Some(want)).await;
        api.invoke(&event).await.expect("handled")
    };
    let drained = deliver(StateValue::Alarm).await;
    assert_eq!(drained["decision"]["decision"], "failover", "{drained}");
    let restored = deliver(StateValue::Ok).await;
    let report = &restored["drill"]["report"];
    assert_eq!(
        report["status"], "PASS",
        "the practice drill under the template's grants: {restored}"
    );
    assert_eq!(
        denied(stack),
        Vec::<String>::new(),
        "dns-failover's practice drill under its template permissions"
    );
}

/// An operator command signed with `key` (any KMS key: the test plays whoever holds it).
async fn command_signed_with(stack: &Stack, region: &str, key: &str) -> Value {
    let mut e = resilience_core::fixtures::event("operator-failover.json");
    e["id"] = json!(uuid::Uuid::new_v4().to_string());
    let mut detail: resilience_core::signal::OperatorCommandDetail = serde_json::from_value(e["detail"].clone()).unwrap();
    let kms = aws_sdk_kms::Client::new(&stack.admin(region).await);
    resilience_cli::sign(&kms, key, resilience_core::signal::OperatorCommandKind::Failover, &mut detail)
        .await
        .unwrap();
    e["detail"] = serde_json::to_value(&detail).unwrap();
    e
}

/// `function` cold-started in `region`: it reaches its first poll (its init succeeded) and
/// reported no init error.
async fn cold_start(stack: &Stack, function: &str, region: &str) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn(function, &api, &stack.env(function, region));
    let polled = tokio::time::timeout(std::time::Duration::from_secs(30), api.wait_for_poll()).await;
    assert!(
        polled.is_ok() && api.init_errors().is_empty(),
        "{function} in {region} did not start: {:?}",
        api.init_errors()
    );
    (api, f)
}

/// Parameter Store throttling at a cold start (its 40 reads a second are shared with the
/// account; a burst of authorizer cold starts can exceed them), modelled by the fault proxy:
/// every GetParameter is throttled until more than the SDK's three attempts were made. The
/// cold start keeps retrying within Lambda's 10-s init and starts once Parameter Store serves
/// again, with no init error.
async fn a_throttled_configuration_read_does_not_stop_a_cold_start(stack: &Stack) {
    use resilience_tests::faults::{Fault, FaultProxy};
    let proxy = FaultProxy::start(&stack.endpoint, 0.0, 0, std::time::Duration::from_secs(5)).await;
    proxy.always("GetParameter", NORTH, Some(Fault::Throttle));
    let api = RuntimeApi::start().await;
    let mut env = stack.env("dns-failover", NORTH);
    env.push(("AWS_ENDPOINT_URL", proxy.url()));
    let _f = FunctionProcess::spawn("dns-failover", &api, &env);
    // Throttled until the cold start has retried beyond the SDK's own three attempts (a
    // second or two: the backoff starts at 200 ms), however slowly the machine runs it.
    let throttled = async || proxy.faults().get(&Fault::Throttle).copied().unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    while throttled().await <= 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let throttled = throttled().await;
    proxy.always("GetParameter", NORTH, None);
    let polled = tokio::time::timeout(std::time::Duration::from_secs(30), api.wait_for_poll()).await;
    assert!(
        polled.is_ok() && api.init_errors().is_empty(),
        "the cold start gave up on a throttled configuration read: {:?}",
        api.init_errors()
    );
    assert!(throttled > 3, "throttled beyond the SDK's own three attempts: {throttled}");
}

/// An insider with `ssm:PutParameter` and KMS rights through IAM, but no deploy, rewrites the
/// configuration: their own operator key (and the kill switch) as a bare document, then the
/// same signed with a key of their own, then `{}`, then an older version the deploy did sign.
/// Warm functions keep the signed version in force; cold ones (all six) start on the newest
/// signed version in the parameter's history; a command signed with the insider's key is
/// refused throughout. The deploy's next signed version is taken at once.
async fn an_insider_cannot_rewrite_the_configuration(stack: &Stack) {
    let good = stack.config();
    stack.put_config(&good).await;
    let (warm, _w) = spawn(stack, "dns-failover", NORTH, &[("RESILIENCE_CONFIG_REFRESH_SECONDS", "0".into())]).await;
    let admin = stack.admin(NORTH).await;
    let insider = resilience_tests::ConfigKey::create(&admin).await;
    let mut forged = good.clone();
    forged["operators"]["signing_keys"] = json!([{ "key_id": insider.arn, "public_key": insider.public_key }]);
    forged["kill_switch"] = json!(true);
    let refused = async |api: &RuntimeApi, what: &str| {
        let out = api
            .invoke(&command_signed_with(stack, NORTH, &insider.arn).await)
            .await
            .expect("handled");
        assert!(
            out.to_string().contains("not one of operators.signing_keys"),
            "{what}: the insider's command was not refused: {out}"
        );
    };
    refused(&warm, "before any write").await;

    let writes = [
        ("a bare document", forged.to_string()),
        ("a document signed by the insider's key", insider.seal(&admin, &forged).await),
        ("{}", "{}".to_owned()),
        (
            "an older version signed by the deploy",
            stack
                .config_key()
                .seal_at(&stack.admin(SOUTH).await, &forged, "2026-01-01T00:00:00Z")
                .await,
        ),
    ];
    for (what, text) in &writes {
        for region in [SOUTH, NORTH] {
            stack.put_parameter_text(region, text).await;
        }
        refused(&warm, &format!("warm, after {what}")).await;
        if what.starts_with("an older") {
            // A cold start cannot tell an older signed version from the newest: documented
            // (docs/security.md), and readiness-check reports the parameter's version.
            continue;
        }
        let (cold, _c) = cold_start(stack, "dns-failover", NORTH).await;
        refused(&cold, &format!("cold, after {what}")).await;
    }
    // `{}` once more, on top of the older signed version: every function still starts (it used
    // to stop every cold start), and on the newest version *by signing time*, not the replayed
    // old one just below the junk.
    stack.put_parameter_text(NORTH, "{}").await;
    for function in resilience_core::model::Function::ALL {
        let _started = cold_start(stack, function.as_str(), NORTH).await;
    }
    let (cold, _c) = cold_start(stack, "dns-failover", NORTH).await;
    refused(&cold, "cold, after `{}` on top of a replayed older signed version").await;

    // The deploy's next version is taken by the warm function at once (in dry run: the command
    // it now accepts moves nothing).
    let mut deployed = good.clone();
    deployed["dry_run"] = json!(true);
    deployed["operators"]["signing_keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "key_id": insider.arn, "public_key": insider.public_key }));
    stack.put_config(&deployed).await;
    let out = warm
        .invoke(&command_signed_with(stack, NORTH, &insider.arn).await)
        .await
        .expect("handled");
    assert!(
        !out.to_string().contains("not one of operators.signing_keys"),
        "the deploy's signed version applies: {out}"
    );
    stack.put_config(&good).await;
}

#[tokio::test]
async fn every_function_works_on_the_deployed_stack_under_only_the_permissions_its_template_grants() {
    let stack = Stack::deploy().await;
    failover(&stack).await;
    capacity(&stack).await;
    throttle(&stack).await;
    authorizer(&stack).await;
    backup(&stack).await;
    practice_drill(&stack).await;
    an_insider_cannot_rewrite_the_configuration(&stack).await;
    a_throttled_configuration_read_does_not_stop_a_cold_start(&stack).await;
    ungranted_calls_are_denied(&stack).await;

    // readiness-check's grants are held to the same rule by its own test (e2e::readiness).
    let (_, exercised) = stack.granted_and_exercised();
    let total: usize = exercised.values().map(|s| s.len()).sum();
    eprintln!("deployed stack: {total} (function, action) pairs exercised under enforcement: {exercised:?}");
    stack.assert_grants_explained(&[
        "dns-failover",
        "capacity-scaler",
        "backup-verifier",
        "user-throttle",
        "access-authorizer",
    ]);
}
