//! The functions under faults: the compiled binaries reach the emulator only through the
//! fault-injecting proxy (`resilience_tests::faults`), which answers 30 % of their AWS calls
//! with throttling, 5xx, a timeout or a closed connection. Each delivery either completes or
//! fails retryably; the test re-drives what failed, as Lambda, EventBridge and SQS would, and
//! then checks in the emulator (directly, not through the proxy) that the job was done once.
//!
//! The generator is seeded: `FAULT_SEED=<n>` replays a run (the seed is printed);
//! `FAULT_ROUNDS=<n>` runs more seeds (`make soak`).

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use resilience_tests::faults::FaultProxy;
use resilience_tests::platform::{NORTH, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const RATE: f64 = 0.3;
/// Longer than the SDK's 3 s attempt timeout, so a held request is a timeout to the client.
const HOLD: Duration = Duration::from_secs(4);
/// Deliveries before the test gives up (Lambda's async retries are 2; a DLQ re-drive adds more).
const MAX_DELIVERIES: usize = 25;

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("FAULT_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let rounds: u64 = std::env::var("FAULT_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let base = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(1);
    (0..rounds).map(|i| base.wrapping_add(i.wrapping_mul(7919))).collect()
}

/// A platform whose claims and leases lapse quickly, so a delivery that died holding one (its
/// release was faulted too) does not hold up the re-drive for a minute.
async fn platform() -> Platform {
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["policy"]["lease_seconds"] = json!(5);
    p.config["policy"]["lease_wait_seconds"] = json!(2);
    // Route 53's answers are read under faults too: a timed-out read holds 4 s, so the DNS
    // confirmation gets the default budget, not the latency model's short one.
    p.config["dns"]["answer_confirm_seconds"] = json!(40);
    p
}

async fn through(proxy: &FaultProxy, p: &Platform, function: &str) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let mut env = p.env();
    env.push(("AWS_ENDPOINT_URL", proxy.url()));
    let f = FunctionProcess::spawn(function, &api, &env);
    (api, f)
}

/// Delivers `event` until it is answered without error; every error on the way must say a
/// retry can help. Returns the answer and the errors.
async fn redrive(api: &RuntimeApi, event: &Value, seed: u64) -> (Value, Vec<Value>) {
    let mut errors = Vec::new();
    for _ in 0..MAX_DELIVERIES {
        match api.invoke(event).await {
            Ok(out) => return (out, errors),
            Err(e) => {
                let kind = e["errorType"].as_str().unwrap_or_default().to_owned();
                assert!(
                    kind.starts_with("Retryable."),
                    "seed {seed}: a fault must leave the event safe to re-drive: {e}"
                );
                errors.push(e);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    panic!("seed {seed}: not done after {MAX_DELIVERIES} deliveries: {errors:?}");
}

#[tokio::test]
async fn dns_failover_under_30_percent_faults_moves_traffic_once_and_announces_it_once() {
    for seed in seeds() {
        let p = platform().await;
        // In front of the latency model's proxy: Route 53's checkers and answers are modelled
        // there, and faulted here like every other call.
        let proxy = FaultProxy::start(&p.latency.proxy.url(), RATE, seed, HOLD).await;
        let (api, _f) = through(&proxy, &p, "dns-failover").await;
        p.set_alarm(SOUTH, "api-5xx", StateValue::Alarm).await;
        p.set_alarm(SOUTH, "api-latency", StateValue::Alarm).await;
        let event = p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now());

        let (out, errors) = redrive(&api, &event, seed).await;
        eprintln!(
            "seed {seed}: {} deliveries, faults {:?}, answer {}",
            errors.len() + 1,
            proxy.faults(),
            out["decision"]["decision"]
        );
        assert!(!proxy.faults().is_empty(), "seed {seed}: the proxy injected faults");
        assert_eq!(
            p.weights().await,
            [(NORTH.to_owned(), 100), (SOUTH.to_owned(), 0)].into(),
            "seed {seed}"
        );
        let changes = proxy.forwarded_by_operation().get("route53:ChangeResourceRecordSets").copied();
        assert_eq!(changes, Some(1), "seed {seed}: one change reached Route 53");

        let audit = p.audit("dns-failover").await;
        assert!(
            audit.iter().any(|r| r.decision == resilience_core::model::DecisionName::Failover
                && r.actions.iter().any(|a| a.action.starts_with("route53:ChangeResourceRecordSets"))),
            "seed {seed}: the change is on record: {audit:?}"
        );
        // Announced after everything was saved: one announcement. A copy can only come from a
        // faulted outbox clean-up, and carries the same audit id.
        let notes = p.notifications().await;
        let failovers: BTreeSet<String> = notes
            .iter()
            .filter(|n| n["subject"].as_str().unwrap_or_default().starts_with("Failover:"))
            .map(|n| n["body"]["audit_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(failovers.len(), 1, "seed {seed}: {notes:?}");

        // Later deliveries (EventBridge retries, a DLQ re-drive) change nothing.
        proxy.set_rate(0.0);
        let again = api.invoke(&event).await.expect("handled");
        assert!(
            again["duplicate"] == true || again["decision"]["reason"] == "already-drained",
            "{again}"
        );
        assert_eq!(
            proxy.forwarded_by_operation().get("route53:ChangeResourceRecordSets").copied(),
            Some(1)
        );
    }
}

#[tokio::test]
async fn capacity_scaler_under_30_percent_faults_reaches_the_failover_level_once() {
    for seed in seeds() {
        let p = platform().await;
        let proxy = FaultProxy::start(&resilience_tests::endpoint(), RATE, seed, HOLD).await;
        let (api, _f) = through(&proxy, &p, "capacity-scaler").await;
        let intent = p.command("Resilience Failover Command", Some(NORTH));
        let (out, errors) = redrive(&api, &intent, seed).await;
        eprintln!("seed {seed}: {} deliveries, faults {:?}", errors.len() + 1, proxy.faults());
        // "no-action": an earlier delivery raised everything, then failed before finishing.
        assert!(
            out["decision"] == "scale" || out["decision"] == "no-action" || out["duplicate"] == true,
            "seed {seed}: {out}"
        );
        // Two failover steps above the baseline, however many deliveries it took: no stacking.
        assert_eq!(p.scalable_target(NORTH, &p.table_target()).await, (205, 205), "seed {seed}");
        assert_eq!(p.scalable_target(NORTH, &p.provisioned_target()).await, (102, 102), "seed {seed}");
        assert_eq!(p.reserved_concurrency().await, Some(300), "seed {seed}");
        assert_eq!(
            p.scalable_target(SOUTH, &p.table_target()).await,
            (5, 40),
            "seed {seed}: other region untouched"
        );
    }
}

#[tokio::test]
async fn user_throttle_under_30_percent_faults_throttles_every_principal_of_a_batch_once() {
    for seed in seeds() {
        let p = Platform::provision(&["control-plane"]).await;
        let mut p = p;
        p.config["policy"]["lease_seconds"] = json!(5);
        let proxy = FaultProxy::start(&resilience_tests::endpoint(), RATE, seed, HOLD).await;
        let (api, _f) = through(&proxy, &p, "user-throttle").await;
        let principals: Vec<String> = (0..12).map(|i| format!("user#fault-{i}")).collect();
        let bodies: Vec<Value> = principals.iter().map(|u| p.suspicious(u)).collect();
        let mut batch = p.sqs_batch(&bodies);
        // SQS re-delivers exactly the records reported in batchItemFailures.
        let mut deliveries = 0;
        loop {
            deliveries += 1;
            assert!(deliveries <= MAX_DELIVERIES, "seed {seed}: batch not done");
            let failed: BTreeSet<String> = match api.invoke(&batch).await {
                Ok(out) => out["batchItemFailures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
                    .collect(),
                Err(e) => {
                    assert!(
                        e["errorType"].as_str().unwrap_or_default().starts_with("Retryable."),
                        "seed {seed}: {e}"
                    );
                    continue;
                }
            };
            if failed.is_empty() {
                break;
            }
            let records: Vec<Value> = batch["Records"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| failed.contains(r["messageId"].as_str().unwrap()))
                .cloned()
                .collect();
            batch["Records"] = json!(records);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        eprintln!("seed {seed}: {deliveries} deliveries, faults {:?}", proxy.faults());
        for u in &principals {
            let (level, _, offences) = p
                .throttle_record(u)
                .await
                .unwrap_or_else(|| panic!("seed {seed}: {u} not throttled"));
            assert_eq!(level, "rate-limited", "seed {seed}: {u} escalated once, not per delivery");
            assert_eq!(offences, 1, "seed {seed}: {u}'s one offence recorded once, however often delivered");
        }
    }
}

#[tokio::test]
async fn backup_verifier_under_30_percent_faults_completes_and_its_next_run_passes_with_no_scratch_table_left() {
    for seed in seeds() {
        let p = platform().await;
        let proxy = FaultProxy::start(&resilience_tests::endpoint(), RATE, seed, HOLD).await;
        let (api, _f) = through(&proxy, &p, "backup-verifier").await;
        let (out, errors) = redrive(&api, &p.command("Resilience Verify Now Command", None), seed).await;
        eprintln!(
            "seed {seed}: {} deliveries, faults {:?}, status {}",
            errors.len() + 1,
            proxy.faults(),
            out["status"]
        );
        // A fault is a finding (FAIL / WARN with the error), never a crash or a silent PASS of
        // a check that could not be made: each check names its status.
        let checks = out["report"]["checks"].as_array().cloned().unwrap_or_default();
        assert!(!checks.is_empty(), "seed {seed}: {out}");
        assert!(
            checks
                .iter()
                .all(|c| ["PASS", "WARN", "FAIL", "SKIP"].contains(&c["status"].as_str().unwrap_or_default())),
            "seed {seed}: {out}"
        );
        // With the faults gone the next run passes, and whatever scratch table a faulted drill
        // could not delete is removed by it.
        // (Re-driven too: a lease whose release was faulted is busy until it lapses, 5 s.)
        proxy.set_rate(0.0);
        let (clean, _) = redrive(&api, &p.command("Resilience Verify Now Command", None), seed).await;
        assert_eq!(clean["status"], "PASS", "seed {seed}: {clean}");
        assert!(
            p.tables_starting(NORTH, &format!("{}-orders-drill-", p.id)).await.is_empty(),
            "seed {seed}: no scratch table left"
        );
    }
}

#[tokio::test]
async fn access_authorizer_under_30_percent_faults_answers_every_request_and_never_lets_a_forged_token_in() {
    use jsonwebtoken::Algorithm;
    use resilience_tests::jwt;
    let arn = "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders";
    for seed in seeds() {
        let keys = jwt::generate();
        let mut p = platform().await;
        p.config["auth"] = json!({ "issuer": jwt::ISSUER, "audience": jwt::AUDIENCE, "jwks": keys.jwks, "default_usage_plan_key": "aworldUsagePlanDefault0001", "cache_seconds": 60 });
        let proxy = FaultProxy::start(&resilience_tests::endpoint(), RATE, seed, HOLD).await;
        let (api, _f) = through(&proxy, &p, "access-authorizer").await;
        let mut via = std::collections::BTreeMap::new();
        for i in 0..15 {
            // A user of its own each time: every request is a cache miss that reads the table.
            let token = jwt::sign(&keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims(&format!("u-{i}"), 300));
            let out = api
                .invoke(&json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": arn }))
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: a valid token must be answered: {e}"));
            // None of these users is throttled: each is let in, except one no replica could
            // clear (every attempt on both faulted), which is denied as unverified
            // (throttle.on_lookup_failure's default), never allowed blind.
            let lookup = out["context"]["lookup"].as_str().unwrap_or_default().to_owned();
            let effect = out["policyDocument"]["Statement"][0]["Effect"].as_str().unwrap_or_default();
            let expected = if lookup == "fail-closed" { "Deny" } else { "Allow" };
            assert_eq!(effect, expected, "seed {seed}: {out}");
            *via.entry(lookup).or_insert(0) += 1;
            let forged = jwt::tampered(&token, &jwt::claims("admin", 300));
            let err = api
                .invoke(&json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {forged}"), "methodArn": arn }))
                .await
                .expect_err("forged");
            assert_eq!(err["errorMessage"], "Unauthorized", "seed {seed}: {err}");
        }
        // The table was unreadable for some requests only when all 3 attempts were faulted:
        // those were read from the peer or failed closed (logged, counted), the rest were read.
        eprintln!("seed {seed}: lookups {via:?}, faults {:?}", proxy.faults());
        assert!(via.get("table").copied().unwrap_or(0) > 0, "seed {seed}: {via:?}");
        assert!(!via.contains_key("fail-open"), "seed {seed}: nobody allowed blind: {via:?}");
    }
}
