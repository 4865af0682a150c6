//! Exactly once across regions: both regions' dns-failover binaries, each with its own replica
//! of the state table, the replicas joined by the test bed's replicator (last writer wins, with
//! a lag shorter and longer than a reaction), the same alarm delivered to both at once.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use resilience_tests::platform::{NORTH, Platform, SOUTH};
use resilience_tests::replicator::Replicator;
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use resilience_tests::{create_state_table, drain_queue, queue_on, sdk};
use serde_json::Value;
use std::time::Duration;

const FUNCTION: &str = "dns-failover";

/// The platform with the state table replicated to the primary region, a queue on the
/// primary's topic too, and one dns-failover in each region.
struct TwoRegions {
    p: Platform,
    south_queue: String,
    north: (RuntimeApi, FunctionProcess),
    south: (RuntimeApi, FunctionProcess),
    replicator: Replicator,
}

/// dns-failover deployed in `region`.
async fn spawn(p: &Platform, region: &str) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let mut env = p.env();
    env.push(("AWS_REGION", region.to_owned()));
    let f = FunctionProcess::spawn(FUNCTION, &api, &env);
    (api, f)
}

async fn two_regions(lag: Duration) -> TwoRegions {
    let p = Platform::provision(&["health-metric", "control-plane"]).await;
    create_state_table(&aws_sdk_dynamodb::Client::new(&sdk(SOUTH).await), &p.state_table).await;
    let south_topic = p.config["notifications"]["topics"][SOUTH].as_str().unwrap().to_owned();
    let south_queue = queue_on(&south_topic, SOUTH, &format!("{}-south", p.id)).await;
    let replicator = Replicator::start(&p.state_table, &[SOUTH, NORTH], lag).await;
    let north = spawn(&p, NORTH).await;
    let south = spawn(&p, SOUTH).await;
    TwoRegions {
        p,
        south_queue,
        north,
        south,
        replicator,
    }
}

impl TwoRegions {
    /// The same event to both regions' functions at once.
    async fn both(&self, event: &Value) -> (Value, Value) {
        let (n, s) = tokio::join!(self.north.0.invoke(event), self.south.0.invoke(event));
        (n.unwrap_or_else(|e| e), s.unwrap_or_else(|e| e))
    }

    async fn notifications(&self) -> Vec<Value> {
        let mut all = self.p.notifications().await;
        all.extend(
            drain_queue(SOUTH, &self.south_queue)
                .await
                .into_iter()
                .map(|e| serde_json::from_str(e["Message"].as_str().unwrap_or("null")).unwrap_or(Value::Null)),
        );
        all
    }

    async fn fail(&self, region: &str) {
        for base in ["api-5xx", "api-latency"] {
            self.p.set_alarm(region, base, StateValue::Alarm).await;
        }
    }
}

async fn one_alarm_to_both_regions_makes_one_change_and_one_notification(lag: Duration) {
    let t = two_regions(lag).await;
    t.fail(SOUTH).await;
    let (north, south) = t.both(&t.p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now())).await;
    assert_eq!(north["decision"]["decision"], "failover", "the peer acts: {north}");
    assert_eq!(
        south["decision"]["reason"], "other-region-acts",
        "the failing region defers: {south}"
    );
    assert_eq!(t.p.drain_metric(SOUTH).await, Some(1.0));
    let notes = t.notifications().await;
    assert_eq!(notes.len(), 1, "one notification from both regions: {notes:?}");
    assert_eq!(notes[0]["region"], NORTH);

    // A second delivery to both (an EventBridge retry): duplicates in each region.
    let (n2, s2) = t
        .both(&t.p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now() - chrono::Duration::seconds(1)))
        .await;
    assert_ne!(n2["decision"]["decision"], "failover", "{n2}");
    assert_ne!(s2["decision"]["decision"], "failover", "{s2}");
    assert!(t.notifications().await.is_empty());

    // Now the backup fails too, while the replica in the primary may not yet have the drain
    // (lag): the primary's function acts on the backup, reads the backup's copy of the state
    // where it is written, and never drains the last serving region.
    t.fail(NORTH).await;
    let (north, south) = t.both(&t.p.alarm_event("api-5xx", NORTH, "ALARM", Utc::now())).await;
    assert_eq!(north["decision"]["reason"], "other-region-acts", "{north}");
    assert_ne!(south["decision"]["decision"], "failover", "{south}");
    assert_eq!(t.p.drain_metric(NORTH).await, None, "the last serving region is never drained");
    assert_eq!(t.p.weights().await[NORTH], 100);
    let notes = t.notifications().await;
    assert_eq!(notes.len(), 1, "one refusal, announced once: {notes:?}");
    assert_eq!(notes[0]["region"], SOUTH);
    assert_eq!(notes[0]["severity"], "critical");

    // Each region wrote only its own copy; with the replicas converged, both views agree.
    tokio::time::sleep(lag + Duration::from_millis(800)).await;
    assert!(t.replicator.copied() > 0, "the replicas were joined");
    for region in [SOUTH, NORTH] {
        let store = t.p.store(aws_sdk_dynamodb::Client::new(&sdk(region).await));
        let config = resilience_core::config::SuiteConfig::from_json(&t.p.config.to_string()).unwrap();
        let home: resilience_core::Region = region.parse().unwrap();
        let (_, _, view) = resilience_core::documents::dns::read(&config, &home, &store, &[]).await.unwrap();
        assert_eq!(
            view.drained.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [SOUTH],
            "the view from {region}'s replica"
        );
    }
}

#[tokio::test]
async fn one_alarm_to_both_regions_with_replication_faster_than_a_reaction() {
    one_alarm_to_both_regions_makes_one_change_and_one_notification(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn one_alarm_to_both_regions_with_replication_slower_than_a_reaction() {
    one_alarm_to_both_regions_makes_one_change_and_one_notification(Duration::from_secs(4)).await;
}

const CENTRAL: &str = "eu-central-1";

fn messages(envelopes: Vec<Value>) -> Vec<Value> {
    envelopes
        .into_iter()
        .map(|e| serde_json::from_str(e["Message"].as_str().unwrap_or("null")).unwrap_or(Value::Null))
        .collect()
}

/// Three regions, each with its binary and its replica, replicated with a 1 s lag: each
/// failure drains one region, to the preferred healthy one, acted on by one region only, and
/// the last serving region is never drained.
#[tokio::test]
async fn three_regions_drain_one_at_a_time_to_the_preferred_healthy_region_and_never_the_last() {
    let mut p = Platform::provision(&["control-plane"]).await;
    let central_queue = p.add_region(CENTRAL, 50, "192.0.2.30").await;
    for region in [SOUTH, CENTRAL] {
        create_state_table(&aws_sdk_dynamodb::Client::new(&sdk(region).await), &p.state_table).await;
    }
    let south_topic = p.config["notifications"]["topics"][SOUTH].as_str().unwrap().to_owned();
    let south_queue = queue_on(&south_topic, SOUTH, &format!("{}-south", p.id)).await;
    let _replicator = Replicator::start(&p.state_table, &[SOUTH, CENTRAL, NORTH], Duration::from_secs(1)).await;
    let mut functions = Vec::new();
    for region in [SOUTH, CENTRAL, NORTH] {
        functions.push(spawn(&p, region).await);
    }
    let all = |event: Value| {
        let functions = &functions;
        async move {
            let answers = futures_util::future::join_all(functions.iter().map(|(api, _)| api.invoke(&event))).await;
            answers.into_iter().map(|a| a.unwrap_or_else(|e| e)).collect::<Vec<Value>>()
        }
    };
    let notes = async || {
        let mut n = p.notifications().await;
        n.extend(messages(drain_queue(SOUTH, &south_queue).await));
        n.extend(messages(drain_queue(CENTRAL, &central_queue).await));
        n
    };
    let fail = async |region: &str| {
        for base in ["api-5xx", "api-latency"] {
            p.set_alarm(region, base, StateValue::Alarm).await;
        }
    };
    let acted = |answers: &[Value]| -> Vec<(String, Value)> {
        answers
            .iter()
            .zip([SOUTH, CENTRAL, NORTH])
            .filter(|(a, _)| a["decision"]["reason"] != "other-region-acts")
            .map(|(a, r)| (r.to_owned(), a.clone()))
            .collect()
    };

    // The primary fails: eu-central-1 (priority 50, before the backup's 100) takes its traffic
    // and is the one that acts.
    fail(SOUTH).await;
    let answers = all(p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now())).await;
    let acting = acted(&answers);
    assert_eq!(acting.len(), 1, "{answers:?}");
    assert_eq!(acting[0].0, CENTRAL);
    assert_eq!(acting[0].1["decision"]["decision"], "failover", "{}", acting[0].1);
    assert_eq!(acting[0].1["decision"]["target"], CENTRAL);
    let w = p.weights().await;
    assert_eq!((w[SOUTH], w[CENTRAL], w[NORTH]), (0, 100, 100));
    assert_eq!(notes().await.len(), 1);

    // Then eu-central-1 fails: the backup acts (the primary is drained) and takes the traffic,
    // its capacity raised first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fail(CENTRAL).await;
    let answers = all(p.alarm_event("api-5xx", CENTRAL, "ALARM", Utc::now())).await;
    let acting = acted(&answers);
    assert_eq!(acting.len(), 1, "{answers:?}");
    assert_eq!(acting[0].0, NORTH);
    assert_eq!(acting[0].1["decision"]["target"], NORTH, "{}", acting[0].1);
    assert!(
        acting[0].1["actions"].to_string().contains("scale eu-north-1 before shift"),
        "capacity raised where the traffic goes: {}",
        acting[0].1
    );
    let w = p.weights().await;
    assert_eq!((w[SOUTH], w[CENTRAL], w[NORTH]), (0, 0, 100));
    assert_eq!(notes().await.len(), 1);

    // The backup fails as well: it is the last serving region, never drained; one refusal.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fail(NORTH).await;
    let answers = all(p.alarm_event("api-5xx", NORTH, "ALARM", Utc::now())).await;
    let acting = acted(&answers);
    assert_eq!(acting.len(), 1, "{answers:?}");
    assert_eq!(acting[0].1["decision"]["reason"], "last-serving-region", "{}", acting[0].1);
    assert_eq!(p.weights().await[NORTH], 100);
    let n = notes().await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["severity"], "critical");
}
