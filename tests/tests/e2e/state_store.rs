//! The DynamoDB state store against the emulator, through the real SDK, and the in-memory store
//! against the same contract.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use resilience_core::model::audit::AuditRecord;
use resilience_core::store::dynamodb::DynamoStore;
use resilience_core::store::memory::MemoryStore;
use resilience_core::store::{Claim, LeaseOutcome, StateStore, StoreError};
use resilience_tests::{create_state_table, sdk, unique};
use serde_json::json;
use std::sync::Arc;

async fn dynamo() -> DynamoStore {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk("eu-north-1").await);
    let table = unique("state");
    create_state_table(&ddb, &table).await;
    DynamoStore::new(ddb, table)
}

async fn many_racers_one_lease_winner<S: StateStore + 'static>(store: Arc<S>) {
    let now = Utc::now();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .take_lease("dns#api", &format!("owner-{i}"), Duration::seconds(30), now)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        if let LeaseOutcome::Acquired(_) = t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one of 20 racing tasks holds the lease");
}

async fn expired_lease_is_taken_over_and_the_old_holder_cannot_release_it<S: StateStore>(store: &S) {
    let t0 = Utc::now();
    let LeaseOutcome::Acquired(old) = store.take_lease("l", "crashed", Duration::seconds(5), t0).await.unwrap() else {
        panic!()
    };
    assert!(
        matches!(store.take_lease("l", "next", Duration::seconds(5), t0 + Duration::seconds(1)).await.unwrap(), LeaseOutcome::Busy { owner, .. } if owner == "crashed")
    );
    let LeaseOutcome::Acquired(new) = store
        .take_lease("l", "next", Duration::seconds(5), t0 + Duration::seconds(6))
        .await
        .unwrap()
    else {
        panic!("an expired lease can be taken over")
    };
    store.release_lease(&old).await.unwrap();
    assert!(
        matches!(store.take_lease("l", "third", Duration::seconds(5), t0 + Duration::seconds(7)).await.unwrap(), LeaseOutcome::Busy { owner, .. } if owner == "next")
    );
    store.release_lease(&new).await.unwrap();
    assert!(matches!(
        store
            .take_lease("l", "third", Duration::seconds(5), t0 + Duration::seconds(7))
            .await
            .unwrap(),
        LeaseOutcome::Acquired(_)
    ));
}

async fn idempotency_keys<S: StateStore>(store: &S) {
    let t0 = Utc::now();
    assert_eq!(store.claim_key("k1", Duration::seconds(30), t0).await.unwrap(), Claim::New);
    assert!(matches!(
        store.claim_key("k1", Duration::seconds(30), t0).await.unwrap(),
        Claim::InProgress { .. }
    ));
    store.complete_key("k1", "failover", t0 + Duration::days(7)).await.unwrap();
    assert_eq!(
        store.claim_key("k1", Duration::seconds(30), t0).await.unwrap(),
        Claim::Done {
            outcome: "failover".into()
        }
    );
    // A claim whose holder crashed lapses; an abandoned one is free at once.
    assert_eq!(store.claim_key("k2", Duration::seconds(30), t0).await.unwrap(), Claim::New);
    assert_eq!(
        store
            .claim_key("k2", Duration::seconds(30), t0 + Duration::seconds(31))
            .await
            .unwrap(),
        Claim::New
    );
    store.abandon_key("k2").await.unwrap();
    assert_eq!(store.claim_key("k2", Duration::seconds(30), t0).await.unwrap(), Claim::New);
}

async fn audit_records_read_back_newest_first<S: StateStore>(store: &S) {
    let t0 = Utc::now();
    for i in 0..5 {
        let mut r = AuditRecord::new(
            "dns-failover",
            "eu-north-1",
            t0 + Duration::seconds(i),
            &format!("sig-{i}"),
            json!({"n": i}),
            resilience_core::model::audit::DecisionName::NoAction,
            format!("because {i}"),
        );
        r.actions.push(resilience_core::model::audit::ActionRecord {
            action: "x".into(),
            outcome: resilience_core::model::audit::Outcome::Skipped,
            detail: "d".into(),
            millis: 1,
            confirm_ms: None,
        });
        store.put_audit(&r, t0 + Duration::days(1)).await.unwrap();
    }
    let got = store.recent_audit("dns-failover", 3).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.signal_key.as_str()).collect::<Vec<_>>(),
        ["sig-4", "sig-3", "sig-2"]
    );
    assert_eq!(got[0].reason, "because 4");
    assert_eq!(got[0].actions.len(), 1);
    assert!(store.recent_audit("other-function", 3).await.unwrap().is_empty());
}

async fn baselines_keep_the_first_value<S: StateStore>(store: &S) {
    let now = Utc::now();
    assert_eq!(
        store.save_baseline("table/orders", &json!({"min": 5}), now).await.unwrap(),
        json!({"min": 5})
    );
    assert_eq!(
        store.save_baseline("table/orders", &json!({"min": 50}), now).await.unwrap(),
        json!({"min": 5})
    );
    assert_eq!(store.load_baseline("table/orders").await.unwrap(), Some(json!({"min": 5})));
    store.clear_baseline("table/orders").await.unwrap();
    assert_eq!(store.load_baseline("table/orders").await.unwrap(), None);
}

async fn state_documents_are_versioned<S: StateStore>(store: &S) {
    assert_eq!(store.get_state("dns").await.unwrap(), None);
    assert_eq!(store.put_state("dns", &json!({"drained": []}), 0).await.unwrap(), 1);
    assert!(matches!(
        store.put_state("dns", &json!({"x": 1}), 0).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.put_state("dns", &json!({"drained": ["eu-south-1"]}), 1).await.unwrap(), 2);
    let v = store.get_state("dns").await.unwrap().unwrap();
    assert_eq!((v.version, v.value), (2, json!({"drained": ["eu-south-1"]})));
}

async fn counters_stop_at_their_limit<S: StateStore>(store: &S) {
    let exp = Utc::now() + Duration::minutes(2);
    assert!(store.count_within("minute", 30, 50, exp).await.unwrap());
    assert!(store.count_within("minute", 20, 50, exp).await.unwrap());
    assert!(!store.count_within("minute", 1, 50, exp).await.unwrap(), "the 51st is refused");
    assert!(
        !store.count_within("other", 51, 50, exp).await.unwrap(),
        "one step above the limit is refused"
    );
}

macro_rules! contract {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn many_racers_one_lease_winner() {
                super::many_racers_one_lease_winner(Arc::new($make)).await
            }
            #[tokio::test]
            async fn expired_lease_is_taken_over_and_the_old_holder_cannot_release_it() {
                super::expired_lease_is_taken_over_and_the_old_holder_cannot_release_it(&$make).await
            }
            #[tokio::test]
            async fn idempotency_keys_claim_once_lapse_and_abandon() {
                super::idempotency_keys(&$make).await
            }
            #[tokio::test]
            async fn audit_records_read_back_newest_first() {
                super::audit_records_read_back_newest_first(&$make).await
            }
            #[tokio::test]
            async fn baselines_keep_the_first_value() {
                super::baselines_keep_the_first_value(&$make).await
            }
            #[tokio::test]
            async fn counters_stop_at_their_limit() {
                super::counters_stop_at_their_limit(&$make).await
            }
            #[tokio::test]
            async fn state_documents_are_versioned() {
                super::state_documents_are_versioned(&$make).await
            }
        }
    };
}

contract!(dynamodb_on_the_emulator, dynamo().await);
contract!(in_memory, MemoryStore::new());

#[tokio::test]
async fn unreachable_table_is_reported_unavailable_and_retryable() {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk("eu-north-1").await);
    let store = DynamoStore::new(ddb, unique("no-such-table"));
    let e = store.claim_key("k", Duration::seconds(5), Utc::now()).await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)) && e.is_retryable(), "{e}");
}

async fn batch_claims_match_single_claims<S: StateStore>(store: S) {
    let now = Utc::now();
    let ttl = Duration::seconds(60);
    let keys: Vec<String> = (0..230).map(|i| format!("batch/{i}")).collect();
    // Some already done, some in progress: the batch must report each as a single claim would.
    store.claim_key(&keys[3], ttl, now).await.unwrap();
    store.complete_key(&keys[3], "throttle", now + Duration::days(1)).await.unwrap();
    store.claim_key(&keys[150], ttl, now).await.unwrap();
    let claims = store.claim_keys(&keys, ttl, now).await.unwrap();
    assert_eq!(claims.len(), 230);
    assert_eq!(
        claims[3],
        Claim::Done {
            outcome: "throttle".into()
        }
    );
    assert!(matches!(claims[150], Claim::InProgress { .. }), "{:?}", claims[150]);
    assert_eq!(claims.iter().filter(|c| **c == Claim::New).count(), 228);
    // Completed together, they are duplicates for the next delivery.
    let done: Vec<(String, String)> = keys.iter().take(60).map(|k| (k.clone(), "coalesced".to_owned())).collect();
    store.complete_keys(&done, now + Duration::days(1)).await.unwrap();
    let again = store.claim_keys(&keys[..60], ttl, now).await.unwrap();
    assert!(again.iter().all(|c| matches!(c, Claim::Done { .. })), "{again:?}");
}

#[tokio::test]
async fn dynamodb_claims_a_batch_in_transactions_and_reports_each_key() {
    batch_claims_match_single_claims(dynamo().await).await;
}

#[tokio::test]
async fn memory_store_claims_a_batch_like_the_dynamodb_store() {
    batch_claims_match_single_claims(MemoryStore::new()).await;
}

/// A key repeated in one batch (two deliveries of one event in one SQS batch) and a key longer
/// than DynamoDB's 2,048-byte partition key: the batch is claimed, not rejected as a whole.
async fn repeated_and_oversized_keys_in_one_batch<S: StateStore>(store: S) {
    let now = Utc::now();
    let ttl = Duration::seconds(60);
    let long = format!("event/{}", "x".repeat(5000));
    let dup = resilience_tests::unique("dup");
    let keys = vec![dup.clone(), long.clone(), dup, resilience_tests::unique("other")];
    let claims = store.claim_keys(&keys, ttl, now).await.unwrap();
    assert_eq!(claims[0], Claim::New);
    assert_eq!(claims[1], Claim::New, "an over-long key is claimable");
    assert!(
        matches!(claims[2], Claim::InProgress { .. }),
        "the repeat is held by this batch: {:?}",
        claims[2]
    );
    assert_eq!(claims[3], Claim::New);
    store
        .complete_keys(&[(long.clone(), "throttle".to_owned())], now + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        store.claim_keys(&[long], ttl, now).await.unwrap(),
        [Claim::Done {
            outcome: "throttle".into()
        }],
        "and remembered under its digest"
    );
}

#[tokio::test]
async fn dynamodb_claims_repeated_and_oversized_keys_without_failing_the_batch() {
    repeated_and_oversized_keys_in_one_batch(dynamo().await).await;
}

#[tokio::test]
async fn memory_store_claims_repeated_and_oversized_keys_like_the_dynamodb_store() {
    repeated_and_oversized_keys_in_one_batch(MemoryStore::new()).await;
}

/// The same contract for both stores: an extended claim is still in progress after its first
/// lifetime, and extending a claim already done leaves it done.
async fn an_extended_claim_outlives_its_first_ttl_and_never_reopens_a_done_one<S: StateStore>(store: S) {
    let t0 = Utc::now();
    assert_eq!(store.claim_key("k", Duration::seconds(10), t0).await.unwrap(), Claim::New);
    store
        .extend_key("k", Duration::seconds(10), t0 + Duration::seconds(8))
        .await
        .unwrap();
    let later = store
        .claim_key("k", Duration::seconds(10), t0 + Duration::seconds(15))
        .await
        .unwrap();
    assert!(matches!(later, Claim::InProgress { .. }), "{later:?}");
    store.complete_key("k", "failover", t0 + Duration::days(1)).await.unwrap();
    store
        .extend_key("k", Duration::seconds(10), t0 + Duration::seconds(16))
        .await
        .unwrap();
    assert!(matches!(
        store
            .claim_key("k", Duration::seconds(10), t0 + Duration::seconds(17))
            .await
            .unwrap(),
        Claim::Done { .. }
    ));
}

#[tokio::test]
async fn claims_are_extended_while_their_holder_works_dynamodb() {
    an_extended_claim_outlives_its_first_ttl_and_never_reopens_a_done_one(dynamo().await).await;
}

#[tokio::test]
async fn claims_are_extended_while_their_holder_works_memory() {
    an_extended_claim_outlives_its_first_ttl_and_never_reopens_a_done_one(MemoryStore::new()).await;
}
