//! dns-failover under faults, in-process against the emulator: the real DynamoDB store, the real
//! health reader and switches, with the store or the notifier failing on purpose.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use dns_failover::{Failover, FailoverError};
use resilience_core::act::health::CloudWatchHealth;
use resilience_core::act::traffic::TrafficSwitches;
use resilience_core::aws::clients::AwsClients;
use resilience_core::config::SuiteConfig;
use resilience_core::evidence::notify::RecordingNotifier;
use resilience_core::handler::Retryable;
use resilience_core::signal::normalise;
use resilience_core::store::StateStore;
use resilience_core::store::memory::MemoryStore;
use resilience_tests::platform::{HOME, Platform, SOUTH};
use resilience_tests::sdk;

async fn handler<S: StateStore>(p: &Platform, store: S) -> Failover<S, RecordingNotifier, CloudWatchHealth> {
    let config = SuiteConfig::from_json(&p.config.to_string()).unwrap();
    // Through the latency model, as the deployed function would see AWS (Route 53's checkers
    // and answers included).
    let via_model = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(HOME))
        .endpoint_url(p.latency.proxy.url())
        .load()
        .await;
    let clients = AwsClients::from_config(via_model);
    Failover {
        switches: TrafficSwitches::new(&config, &clients),
        health: CloudWatchHealth::new(clients.clone()),
        health_api: resilience_core::act::health_api::HealthApi::new(&clients),
        capacity: resilience_core::act::capacity::CapacityActuator::new(clients),
        region: HOME.parse().unwrap(),
        config,
        store,
        peers: vec![],
        notifier: RecordingNotifier::default(),
        practice: None,
        rehearsal: false,
    }
}

async fn failing_south(p: &Platform) -> serde_json::Value {
    p.set_alarm(SOUTH, "api-5xx", StateValue::Alarm).await;
    p.set_alarm(SOUTH, "api-latency", StateValue::Alarm).await;
    p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now())
}

#[tokio::test]
async fn state_store_unavailable_means_no_action_taken_blind() {
    let p = Platform::provision(&["control-plane"]).await;
    let store = MemoryStore::new();
    store.set_unavailable(true);
    let h = handler(&p, store).await;
    let event = failing_south(&p).await;
    let e = h.handle(event).await.unwrap_err();
    assert!(
        matches!(e, FailoverError::Guard(_) | FailoverError::Store(_)) && e.is_retryable(),
        "{e}"
    );
    assert_eq!(p.weights().await[SOUTH], 100, "no change without the state store");
    assert!(h.notifier.sent().is_empty());
}

#[tokio::test]
async fn sns_failing_after_the_change_keeps_the_change_audits_it_and_a_retry_sends_it() {
    let p = Platform::provision(&["control-plane"]).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(HOME).await);
    let h = handler(&p, p.store(ddb)).await;
    let event = failing_south(&p).await;

    h.notifier.set_failing(true);
    let e = h.handle(event.clone()).await.unwrap_err();
    assert!(matches!(e, FailoverError::NotificationPending { .. }) && e.is_retryable(), "{e}");
    assert_eq!(p.weights().await[SOUTH], 0, "the change stands");
    let audit = p.audit("dns-failover").await;
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0]
            .actions
            .iter()
            .any(|a| a.action == "sns:Publish" && a.outcome == resilience_core::model::audit::Outcome::Planned),
        "the audit record, written before the announcement, says one is queued"
    );

    // The delivery is retried (EventBridge / Lambda async retry): the queued notification goes
    // out, and nothing changes twice.
    h.notifier.set_failing(false);
    let out = h.handle(event).await.unwrap();
    assert_eq!(out["decision"]["reason"], "already-drained", "{out}");
    let sent = h.notifier.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].subject.starts_with("Failover: eu-south-1 drained"));
    assert_eq!(p.weights().await[SOUTH], 0);
}

#[tokio::test]
async fn every_strategy_failing_leaves_state_unchanged_and_is_safe_to_re_drive() {
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["dns"]["hosted_zone_id"] = serde_json::json!("ZNOSUCHZONE");
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(HOME).await);
    let h = handler(&p, p.store(ddb)).await;
    let event = failing_south(&p).await;
    let e = h.handle(event.clone()).await.unwrap_err();
    assert!(matches!(e, FailoverError::ActionFailed { .. }) && e.is_retryable(), "{e}");
    let sent = h.notifier.sent();
    assert!(sent.iter().any(|n| n.subject.starts_with("FAILOVER FAILED")), "{sent:?}");
    // Not remembered as handled: the retry runs the reaction again (and fails again here).
    let key = normalise(&event, &h.config).remove(0).signal.unwrap().key;
    let claim = h
        .store
        .claim_key(
            &resilience_core::handler::once::scoped_key(dns_failover::FUNCTION, &key),
            chrono::Duration::seconds(5),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(claim, resilience_core::store::Claim::New);
}

/// A Health API that answers DescribeEvents with `events` (the emulator has none:
/// aws-smithy-mocks gives its documented answers).
fn health_api_with(events: Vec<aws_sdk_health::types::Event>) -> resilience_core::act::health_api::HealthApi {
    let rule = aws_smithy_mocks::mock!(aws_sdk_health::Client::describe_events).then_output(move || {
        aws_sdk_health::operation::describe_events::DescribeEventsOutput::builder()
            .set_events(Some(events.clone()))
            .build()
    });
    resilience_core::act::health_api::HealthApi::with_client(aws_smithy_mocks::mock_client!(aws_sdk_health, [&rule]))
}

/// AWS Health's record of `arn`: service, category, region and status as given.
fn health_record(arn: &str, service: &str, category: &str, region: &str, status: &str) -> aws_sdk_health::types::Event {
    aws_sdk_health::types::Event::builder()
        .arn(arn)
        .service(service)
        .event_type_category(aws_sdk_health::types::EventTypeCategory::from(category))
        .region(region)
        .status_code(aws_sdk_health::types::EventStatusCode::from(status))
        .build()
}

#[tokio::test]
async fn a_health_event_counts_only_as_aws_health_has_it_open_or_closed() {
    let p = Platform::provision(&["control-plane"]).await;
    p.set_alarm(SOUTH, "api-5xx", StateValue::Alarm).await;
    let mut config = p.config.clone();
    config["health_events"]["decisive"] = serde_json::json!(true);
    let mut h = handler(&p, MemoryStore::new()).await;
    h.config = SuiteConfig::from_json(&config.to_string()).unwrap();
    let event = resilience_tests::fixture("health-event.json");
    let arn = event["detail"]["eventArn"].as_str().unwrap().to_owned();
    let update = |n: u32, status: &str| {
        let mut e = event.clone();
        e["id"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
        e["detail"]["lastUpdatedTime"] = serde_json::json!(format!("Tue, 24 Nov 2026 17:{n:02}:41 GMT"));
        e["detail"]["statusCode"] = serde_json::json!(status);
        e
    };

    // Forged: AWS Health has no such event. Refused, audited, nothing drained.
    h.health_api = health_api_with(vec![]);
    let out = h.handle(event.clone()).await.unwrap();
    assert_eq!(out["decision"]["decision"], "refused", "{out}");
    assert!(out.to_string().contains("has no event"), "{out}");
    // Forged with the ARN of a real, open event of another kind (a months-long scheduled
    // change of another service elsewhere): refused, naming each difference.
    h.health_api = health_api_with(vec![health_record(&arn, "EC2", "scheduledChange", "us-east-1", "open")]);
    let out = h.handle(update(5, "open")).await.unwrap();
    assert_eq!(out["decision"]["decision"], "refused", "{out}");
    for part in [
        "service EC2, not LAMBDA",
        "category scheduledChange, not issue",
        "region us-east-1, not eu-south-1",
    ] {
        assert!(out.to_string().contains(part), "{part}: {out}");
    }
    // The Health API cannot answer (no Business or Enterprise support plan): not counted
    // while health_events.confirm is on (the default).
    h.health_api = resilience_core::act::health_api::HealthApi::with_client(aws_smithy_mocks::mock_client!(
        aws_sdk_health,
        [&aws_smithy_mocks::mock!(aws_sdk_health::Client::describe_events).then_error(|| {
            aws_sdk_health::operation::describe_events::DescribeEventsError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("SubscriptionRequiredException")
                    .message("The AWS Premium Support Subscription is required to use this service.")
                    .build(),
            )
        })]
    ));
    let out = h.handle(update(8, "open")).await.unwrap();
    assert_eq!(out["decision"]["decision"], "refused", "{out}");
    assert!(out.to_string().contains("health_events.confirm is on"), "{out}");
    assert_eq!(p.weights().await[SOUTH], 100);

    // The next update, open in AWS Health as claimed: it counts, and decides the failover.
    h.health_api = health_api_with(vec![health_record(&arn, "LAMBDA", "issue", SOUTH, "open")]);
    let out = h.handle(update(12, "open")).await.unwrap();
    assert_eq!(out["decision"]["decision"], "failover", "{out}");
    assert!(out.to_string().contains("confirmed by AWS Health"), "{out}");

    // A forged "closed" while AWS Health still has it open would erase the issue: refused.
    h.health_api = health_api_with(vec![health_record(&arn, "LAMBDA", "issue", SOUTH, "open")]);
    let out = h.handle(update(15, "closed")).await.unwrap();
    assert_eq!(out["decision"]["decision"], "refused", "{out}");
    assert!(out.to_string().contains("status open, not closed"), "{out}");
}
