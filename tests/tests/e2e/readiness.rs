//! readiness-check against the stack as the template deploys it, under the permissions the
//! template grants (strict IAM): healthy, every item the emulator can answer passes; then each
//! item is broken in turn and exactly that item fails, naming the fix; put back, it passes and
//! the change is notified once. What the emulator cannot answer (TestDNSAnswer, IAM's policy
//! simulator, hosted-zone features) is graded "not checked", never PASS, and is tested with
//! aws-smithy-mocks in `shared/src/act/readiness.rs`.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use resilience_tests::deployed::Stack;
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};

const SOUTH: &str = "eu-south-1";
const NORTH: &str = "eu-north-1";

/// A Scheduler tick of the readiness schedule (a new scheduled time each call).
fn tick(n: u32) -> Value {
    let mut e = resilience_core::fixtures::event("scheduler-schedule.json");
    e["id"] = json!(format!("readiness-{n}-{}", uuid::Uuid::new_v4()));
    e["region"] = json!(SOUTH);
    e["resources"] = json!([format!(
        "arn:aws:scheduler:{SOUTH}:123456789012:schedule/default/aworld-readiness-{SOUTH}"
    )]);
    e
}

/// (grade, key, detail, fix) of every item of a check's answer.
fn items(out: &Value) -> Vec<(String, String, String, String)> {
    out["report"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no report: {out}"))
        .iter()
        .map(|i| {
            (
                i["grade"].as_str().unwrap().to_owned(),
                format!(
                    "{}/{}/{}",
                    i["area"].as_str().unwrap(),
                    i["region"].as_str().unwrap(),
                    i["item"].as_str().unwrap()
                ),
                i["detail"].as_str().unwrap().to_owned(),
                i["fix"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn not_passing(out: &Value) -> Vec<(String, String, String, String)> {
    items(out).into_iter().filter(|i| i.0 != "PASS").collect()
}

/// The items the emulator cannot answer on a healthy stack, each graded "not checked" (WARN) or,
/// for replicas moto does not model, FAIL: never PASS. Each is tested with aws-smithy-mocks.
fn emulator_limits(key: &str) -> Option<&'static str> {
    [
        ("dns/global/answer agrees", "moto has no TestDNSAnswer"),
        ("dns/global/accelerated recovery", "moto's GetHostedZone has no Features"),
        ("dns/global/health check", "moto stores no AlarmIdentifier for a health check"),
        (" may do its job", "moto has no SimulatePrincipalPolicy"),
        ("/replicas of", "moto's DynamoDB has no replicas"),
    ]
    .into_iter()
    .find(|(k, _)| key.contains(k))
    .map(|(_, why)| why)
}

/// The check from eu-south-1 once; (its answer, the keys of the items that are not PASS and
/// not an emulator limit).
async fn run(api: &RuntimeApi, n: &mut u32) -> (Value, Vec<String>) {
    *n += 1;
    let started = std::time::Instant::now();
    let out = api.invoke(&tick(*n)).await.expect("handled");
    eprintln!(
        "check {n}: {:.1} s in all, {} s inside",
        started.elapsed().as_secs_f64(),
        out["report"]["seconds"]
    );
    let wrong = not_passing(&out)
        .into_iter()
        .filter(|i| emulator_limits(&i.1).is_none())
        .map(|i| i.1)
        .collect();
    (out, wrong)
}

/// The changes a check told, but those of items the emulator cannot grade (a health check
/// that reappears with its record is "not checked" there, and so a change from its absence).
fn told(out: &Value) -> Vec<String> {
    out["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_owned())
        .filter(|k| emulator_limits(k).is_none())
        .collect()
}

/// Breaks one thing, checks that exactly `expect` (item keys, by prefix) fail with a detail
/// containing `says` and a fix, puts it back and checks it passes again.
async fn broken<B: AsyncFnOnce(), R: AsyncFnOnce()>(
    api: &RuntimeApi,
    n: &mut u32,
    what: &str,
    expect: &[&str],
    says: &str,
    brk: B,
    repair: R,
) {
    brk().await;
    let (out, wrong) = run(api, n).await;
    assert_eq!(wrong.len(), expect.len(), "{what}: exactly {expect:?} fail, got {wrong:?}");
    for e in expect {
        let hit = not_passing(&out)
            .into_iter()
            .find(|i| i.1.starts_with(e))
            .unwrap_or_else(|| panic!("{what}: {e} does not fail: {wrong:?}"));
        assert_eq!(hit.0, "FAIL", "{what}: {hit:?}");
        assert!(hit.2.contains(says), "{what}: the detail names the problem ({says}): {hit:?}");
        assert!(!hit.3.is_empty(), "{what}: a fix is given: {hit:?}");
    }
    let changes = told(&out);
    assert_eq!(changes.len(), expect.len(), "{what}: the change is notified once: {changes:?}");
    assert!(out["report"].is_object() && out["audit_id"].is_string(), "{out}");
    repair().await;
    let (out, wrong) = run(api, n).await;
    assert_eq!(wrong, Vec::<String>::new(), "{what}: repaired, it passes again");
    assert_eq!(
        told(&out).len(),
        expect.len(),
        "{what}: the repair is told once too: {:?}",
        told(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_passes_on_the_deployed_stack_and_fails_exactly_the_item_that_is_broken() {
    let stack = Stack::deploy().await;
    let api = RuntimeApi::start().await;
    let _f = FunctionProcess::spawn("readiness-check", &api, &stack.env("readiness-check", SOUTH));
    let mut n = 0;

    // Healthy: every item passes but those the emulator cannot answer, which never pass.
    let (healthy, wrong) = run(&api, &mut n).await;
    for i in items(&healthy) {
        println!("{:<4} {} — {}", i.0, i.1, i.2);
    }
    println!("{}", healthy["summary"]);
    assert_eq!(wrong, Vec::<String>::new(), "the healthy deployed stack");
    // Each gap the list names is really met (the list is not stale), graded "not checked"
    // (WARN), but the replicas moto does not have, which fail.
    let limited: Vec<(String, String)> = not_passing(&healthy).into_iter().map(|i| (i.0, i.1)).collect();
    for (pattern, why) in [
        ("dns/global/answer agrees", "TestDNSAnswer"),
        ("dns/global/accelerated recovery", "Features"),
        ("dns/global/health check", "AlarmIdentifier"),
        (" may do its job", "SimulatePrincipalPolicy"),
        ("/replicas of", "replicas"),
    ] {
        let met: Vec<&(String, String)> = limited.iter().filter(|(_, k)| k.contains(pattern)).collect();
        assert!(!met.is_empty(), "the emulator gap ({why}) is met on the healthy stack: {limited:?}");
        let want = if pattern == "/replicas of" { "FAIL" } else { "WARN" };
        assert!(met.iter().all(|(g, _)| g == want), "{why}: graded {want}: {met:?}");
    }
    let total = items(&healthy).len();
    assert!(total >= 60, "items checked: {total}");
    assert!(
        healthy["report"]["api_calls"].as_u64().unwrap() > 0,
        "{}",
        healthy["report"]["api_calls"]
    );
    // A second check with nothing changed tells nothing.
    let (again, _) = run(&api, &mut n).await;
    assert_eq!(again["changes"], json!([]), "no repeated noise");

    let admin_south = stack.admin(SOUTH).await;
    let admin_north = stack.admin(NORTH).await;
    let cw = aws_sdk_cloudwatch::Client::new(&admin_south);
    let canary = "aworld-health-canary-eu-south-1";
    let before = cw.describe_alarms().alarm_names(canary).send().await.unwrap().metric_alarms()[0].clone();
    broken(
        &api,
        &mut n,
        "alarm deleted",
        &["signals/eu-south-1/alarm aworld-health-canary-eu-south-1"],
        "does not exist",
        async || {
            cw.delete_alarms().alarm_names(canary).send().await.unwrap();
        },
        async || {
            cw.put_metric_alarm()
                .alarm_name(canary)
                .namespace(before.namespace().unwrap())
                .metric_name(before.metric_name().unwrap())
                .set_dimensions(Some(before.dimensions().to_vec()))
                .statistic(before.statistic().unwrap().clone())
                .period(before.period().unwrap())
                .evaluation_periods(before.evaluation_periods().unwrap())
                .threshold(before.threshold().unwrap())
                .comparison_operator(before.comparison_operator().unwrap().clone())
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    // The suite watching itself: its dead-letter alarm in ALARM (an event failed every retry).
    let dead_letters = "aworld-suite-dead-letters-eu-south-1";
    broken(
        &api,
        &mut n,
        "an event in the dead-letter queue",
        &["signals/eu-south-1/suite health aworld-suite-dead-letters-eu-south-1"],
        "the suite itself is failing",
        async || {
            cw.set_alarm_state()
                .alarm_name(dead_letters)
                .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
                .state_reason("an event waits in the dead-letter queue")
                .send()
                .await
                .unwrap();
        },
        async || {
            cw.set_alarm_state()
                .alarm_name(dead_letters)
                .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
                .state_reason("re-driven")
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    let r53 = aws_sdk_route53::Client::new(&admin_south);
    let zone = stack.manifest["hosted_zone_id"].as_str().unwrap().to_owned();
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .unwrap()
        .resource_record_sets()
        .to_vec();
    let north_record = sets.iter().find(|s| s.set_identifier() == Some(NORTH)).unwrap().clone();
    let upsert = async |record: aws_sdk_route53::types::ResourceRecordSet| {
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(
                aws_sdk_route53::types::ChangeBatch::builder()
                    .changes(
                        aws_sdk_route53::types::Change::builder()
                            .action(aws_sdk_route53::types::ChangeAction::Upsert)
                            .resource_record_set(record)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    };
    broken(
        &api,
        &mut n,
        "record without its health check",
        &["dns/global/record api.aworld.example. eu-north-1"],
        "carries no health check",
        async || {
            let mut bare = north_record.clone();
            bare.health_check_id = None;
            upsert(bare).await;
        },
        async || upsert(north_record.clone()).await,
    )
    .await;

    let ddb = aws_sdk_dynamodb::Client::new(&admin_north);
    let pitr = async |on: bool| {
        ddb.update_continuous_backups()
            .table_name("aworld-users")
            .point_in_time_recovery_specification(
                aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(on)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    };
    broken(
        &api,
        &mut n,
        "PITR off",
        &["data/eu-north-1/point-in-time recovery of aworld-users"],
        "DISABLED",
        async || pitr(false).await,
        async || pitr(true).await,
    )
    .await;

    let sns = aws_sdk_sns::Client::new(&admin_south);
    let topic = stack.config()["notifications"]["topics"][SOUTH].as_str().unwrap().to_owned();
    broken(
        &api,
        &mut n,
        "subscription missing",
        &["notifications/eu-south-1/subscribers of"],
        "no confirmed subscription",
        async || {
            for s in sns
                .list_subscriptions_by_topic()
                .topic_arn(&topic)
                .send()
                .await
                .unwrap()
                .subscriptions()
            {
                sns.unsubscribe()
                    .subscription_arn(s.subscription_arn().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        },
        async || {
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("email")
                .endpoint("oncall@aworld.example")
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    let aas = aws_sdk_applicationautoscaling::Client::new(&admin_south);
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
    broken(
        &api,
        &mut n,
        "scalable target deregistered",
        &["capacity/eu-south-1/capacity target eu-south-1/table/aworld-orders"],
        "not a registered scalable target",
        async || {
            aas.deregister_scalable_target()
                .service_namespace(ServiceNamespace::Dynamodb)
                .resource_id("table/aworld-orders")
                .scalable_dimension(ScalableDimension::DynamoDbTableWriteCapacityUnits)
                .send()
                .await
                .unwrap();
        },
        async || {
            aas.register_scalable_target()
                .service_namespace(ServiceNamespace::Dynamodb)
                .resource_id("table/aworld-orders")
                .scalable_dimension(ScalableDimension::DynamoDbTableWriteCapacityUnits)
                .min_capacity(100)
                .max_capacity(200)
                .send()
                .await
                .unwrap();
        },
    )
    .await;

    let eb = aws_sdk_eventbridge::Client::new(&admin_north);
    let account = stack.manifest["account"].as_str().unwrap().to_owned();
    let dns_arn = format!("arn:aws:lambda:{NORTH}:{account}:function:aworld-dns-failover");
    let rules = eb
        .list_rule_names_by_target()
        .target_arn(&dns_arn)
        .send()
        .await
        .unwrap()
        .rule_names()
        .to_vec();
    let mut alarm_rule = None;
    for r in rules {
        let d = eb.describe_rule().name(&r).send().await.unwrap();
        if d.event_pattern().unwrap_or_default().contains("aws.cloudwatch") {
            alarm_rule = Some(r);
        }
    }
    let alarm_rule = alarm_rule.expect("the template's HealthAlarms rule of dns-failover in eu-north-1");
    broken(
        &api,
        &mut n,
        "the alarm rule disabled",
        &["signals/eu-north-1/aws.cloudwatch events on bus default reach dns-failover"],
        "no enabled rule",
        async || {
            eb.disable_rule().name(&alarm_rule).send().await.unwrap();
        },
        async || {
            eb.enable_rule().name(&alarm_rule).send().await.unwrap();
        },
    )
    .await;

    let parameter = stack.manifest["config_parameter"].as_str().unwrap().to_owned();
    broken(
        &api,
        &mut n,
        "another configuration in one region",
        &["configuration/eu-north-1/configuration parameter"],
        "differs",
        async || {
            let mut other = stack.config();
            other["policy"]["cooldown_seconds"] = json!(301);
            stack.put_parameter_text(NORTH, &stack.sealed(&other).await).await;
        },
        async || stack.put_parameter_text(NORTH, &stack.sealed(&stack.config()).await).await,
    )
    .await;

    // An insider's version, not signed by the deploy: the functions refuse it, so readiness
    // does; a readiness-check cold-started meanwhile starts on the signed version before it.
    broken(
        &api,
        &mut n,
        "a version not signed by the deploy",
        &["configuration/eu-north-1/configuration parameter"],
        "refused by the functions",
        async || {
            stack.put_parameter_text(NORTH, &stack.config().to_string()).await;
            let cold = RuntimeApi::start().await;
            let _c = FunctionProcess::spawn("readiness-check", &cold, &stack.env("readiness-check", NORTH));
            let started = tokio::time::timeout(std::time::Duration::from_secs(30), cold.wait_for_poll()).await;
            assert!(
                started.is_ok() && cold.init_errors().is_empty(),
                "cold start on the history: {:?}",
                cold.init_errors()
            );
        },
        async || stack.put_parameter_text(NORTH, &stack.sealed(&stack.config()).await).await,
    )
    .await;

    // The check's own read denied under IAM enforcement: reported as denied, never a pass.
    let iam = aws_sdk_iam::Client::new(&admin_south);
    let user = format!("readiness-check-{SOUTH}");
    broken(
        &api,
        &mut n,
        "a read denied to the check",
        &["notifications/eu-north-1/subscribers of", "notifications/eu-south-1/subscribers of"],
        "sns:ListSubscriptionsByTopic was denied",
        async || {
            let deny = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sns:ListSubscriptionsByTopic", "Resource": "*"}]});
            iam.put_user_policy().user_name(&user).policy_name("test-deny").policy_document(deny.to_string()).send().await.unwrap();
        },
        async || {
            iam.delete_user_policy().user_name(&user).policy_name("test-deny").send().await.unwrap();
        },
    )
    .await;

    // The operator's view: `resilience status` shows the last check and its age; `resilience
    // check` runs the same check from the CLI (exit status 1: the emulator's tables have no
    // replicas, which it reports as FAIL).
    let cli = async |args: &[&str]| {
        let admin = &stack.manifest["admin"];
        let out = tokio::process::Command::new(resilience_tests::runtime::binary("resilience"))
            .args(args)
            .env("RESILIENCE_CONFIG", stack.config().to_string())
            .env("AWS_REGION", SOUTH)
            .env("AWS_ENDPOINT_URL", &stack.endpoint)
            .env("AWS_ACCESS_KEY_ID", admin["access_key_id"].as_str().unwrap())
            .env("AWS_SECRET_ACCESS_KEY", admin["secret_access_key"].as_str().unwrap())
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .await
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, stdout, stderr) = cli(&["--json", "status"]).await;
    assert!(ok, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    let seen = &status["readiness"][0];
    assert_eq!(seen["checked_from"], SOUTH, "{status}");
    assert!(seen["age_seconds"].as_i64().unwrap() < 120, "{status}");
    assert!(seen["summary"].as_str().unwrap().contains("PASS"), "{status}");
    let (_, human, _) = cli(&["status"]).await;
    assert!(human.contains("readiness from eu-south-1:"), "{human}");
    let (ok, table, stderr) = cli(&["check", "--parameter", &parameter]).await;
    assert!(!ok, "a FAIL exits 1: {table}{stderr}");
    assert!(stderr.contains("readiness FAIL: 4 item(s) fail"), "{stderr}");
    assert!(table.contains("FAIL  data") && table.contains("fix: "), "{table}");
    assert!(
        table.contains("PASS  configuration eu-north-1"),
        "the parameter checked in both regions: {table}"
    );

    // A health check deleted under its record (last: it cannot be made again with its id).
    let south_check = sets
        .iter()
        .find(|s| s.set_identifier() == Some(SOUTH))
        .and_then(|s| s.health_check_id())
        .unwrap()
        .to_owned();
    r53.delete_health_check().health_check_id(&south_check).send().await.unwrap();
    let (out, wrong) = run(&api, &mut n).await;
    assert_eq!(wrong, Vec::<String>::new(), "{out}");
    let failing = |o: &Value| -> Vec<(String, String)> { items(o).into_iter().filter(|i| i.0 == "FAIL").map(|i| (i.1, i.2)).collect() };
    let was = failing(&healthy);
    let new: Vec<(String, String)> = failing(&out).into_iter().filter(|f| !was.contains(f)).collect();
    assert_eq!(
        new,
        vec![(
            "dns/global/health check of eu-south-1's record".to_owned(),
            format!("the record of eu-south-1 names health check {south_check}, which does not exist")
        )],
        "exactly the deleted health check fails"
    );

    // Every call the check made was allowed by the template's grants (but the test's deny).
    let denied: Vec<String> = stack
        .decisions()
        .into_iter()
        .filter(|d| !d.allowed && d.principal.ends_with(&user) && d.action != "sns:ListSubscriptionsByTopic")
        .map(|d| format!("{} on {}", d.action, d.resource))
        .collect();
    assert_eq!(denied, Vec::<String>::new(), "readiness-check under its template permissions");
    stack.assert_grants_explained(&["readiness-check"]);

    // The permissions the check simulates (one list, derived from the configuration) are the
    // ones the template grants each function.
    let config = resilience_core::config::SuiteConfig::from_json(&stack.config().to_string()).unwrap();
    let (granted, _) = stack.granted_and_exercised();
    for function in resilience_core::decide::readiness::checked_functions() {
        for region in [SOUTH, NORTH] {
            for need in resilience_core::decide::readiness::needs(&config, function, &region.parse().unwrap()) {
                assert!(
                    granted[function.as_str()].contains(need.action),
                    "{function} needs {} on {}, which the template does not grant",
                    need.action,
                    need.resource
                );
            }
        }
    }
}
