//! Exactly once: every reaction is claimed by its signal's idempotency key and runs under a
//! lease, so duplicates, retries and concurrent deliveries make one change. One implementation,
//! used by every function.

use crate::config::Policy;
use crate::store::{Claim, Lease, LeaseOutcome, StateStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

/// What came of a guarded reaction.
#[derive(Debug)]
pub enum Once<T> {
    /// This invocation did the work.
    Ran(T),
    /// Another delivery of the same signal did it.
    Duplicate { status: String },
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("{0} (no action taken blind; retry)")]
    Store(#[from] StoreError),
    #[error("lease {name} is held by {owner} until {until}; retry")]
    LeaseBusy { name: String, owner: String, until: DateTime<Utc> },
    /// Another delivery claimed the signal and has not finished. It may still fail (and give the
    /// claim up) or die holding it, so this delivery must not report success: a retry confirms
    /// the outcome, or runs the work once the claim has lapsed.
    #[error("being handled by another invocation (claimed until {until}); retry to confirm it finished")]
    InProgress { until: DateTime<Utc> },
}

impl GuardError {
    pub fn kind(&self) -> &'static str {
        match self {
            GuardError::Store(_) => "StoreUnavailable",
            GuardError::LeaseBusy { .. } => "LeaseBusy",
            GuardError::InProgress { .. } => "InProgress",
        }
    }
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// The idempotency key of `key` as seen by `function`.
pub fn scoped_key(function: &str, key: &str) -> String {
    format!("{function}/{key}")
}

/// Takes `name`, waiting up to `policy.lease_wait_seconds` with backoff while another holder has it.
pub async fn take_lease<S: StateStore>(store: &S, policy: &Policy, name: &str) -> Result<Lease, GuardError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let deadline = Instant::now() + std::time::Duration::from_secs(policy.lease_wait_seconds);
    let mut pause = std::time::Duration::from_millis(50);
    loop {
        match store.take_lease(name, &owner, seconds(policy.lease_seconds), Utc::now()).await? {
            LeaseOutcome::Acquired(lease) => return Ok(lease),
            LeaseOutcome::Busy { owner, until } => {
                if Instant::now() >= deadline {
                    return Err(GuardError::LeaseBusy {
                        name: name.to_owned(),
                        owner,
                        until,
                    });
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(500));
            }
        }
    }
}

/// Renews `lease`, and the claim of `key`, every third of `lease_seconds` for as long as it is
/// polled (never returns). A renewal that finds the lease taken (it lapsed during a stall
/// longer than the lease) is logged as an error: another holder may be acting at the same time.
async fn keep_lease<S: StateStore>(store: &S, policy: &Policy, lease: &Lease, key: &str) {
    let every = std::time::Duration::from_millis((policy.lease_seconds * 1000 / 3).max(500));
    loop {
        tokio::time::sleep(every).await;
        match store
            .take_lease(&lease.name, &lease.owner, seconds(policy.lease_seconds), Utc::now())
            .await
        {
            Ok(LeaseOutcome::Acquired(_)) => {}
            Ok(LeaseOutcome::Busy { owner, until }) => {
                tracing::error!(lease = %lease.name, %owner, %until, "lease lost while working: it lapsed and was taken over");
                std::future::pending::<()>().await;
            }
            // Tried again at the next tick; the lease is still valid for two more.
            Err(e) => tracing::warn!(error = %e, lease = %lease.name, "lease not renewed"),
        }
        if let Err(e) = store.extend_key(key, seconds(policy.lease_seconds), Utc::now()).await {
            tracing::warn!(error = %e, %key, "claim not extended");
        }
    }
}

/// Releases a lease. A release that fails delays the next holder until the lease expires (for
/// backup-verifier, the drill's wait plus two minutes), so a transient failure, after the SDK's
/// own attempts, is retried twice more before the lease is left to expire.
pub async fn release_lease<S: StateStore>(store: &S, lease: &Lease) {
    for attempt in 1..=3u64 {
        match store.release_lease(lease).await {
            Ok(()) => return,
            Err(e) if attempt == 3 => {
                tracing::warn!(error = %e, lease = %lease.name, "lease not released; it expires by itself");
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await,
        }
    }
}

/// Runs `work` once per function for `key`, under the lease `lease_name`. The claim is scoped
/// by `function`: one event delivered to two functions (one rule, two targets) is acted on by
/// each, once. `work` returns a short outcome
/// name (remembered with the key) and its result; if it fails, the claim is given up so a retry
/// runs it again.
pub async fn exactly_once<S, T, E>(
    store: &S,
    policy: &Policy,
    function: &str,
    key: &str,
    lease_name: &str,
    work: impl AsyncFnOnce() -> Result<(String, T), E>,
) -> Result<Once<T>, E>
where
    S: StateStore,
    E: From<GuardError>,
{
    let scoped = scoped_key(function, key);
    let key = scoped.as_str();
    match store
        .claim_key(key, seconds(policy.lease_seconds), Utc::now())
        .await
        .map_err(GuardError::from)?
    {
        Claim::New => {}
        Claim::Done { outcome } => {
            return Ok(Once::Duplicate {
                status: format!("already handled: {outcome}"),
            });
        }
        Claim::InProgress { until } => return Err(GuardError::InProgress { until }.into()),
    }
    let lease = match take_lease(store, policy, lease_name).await {
        Ok(lease) => lease,
        Err(e) => {
            let _ = store.abandon_key(key).await;
            return Err(e.into());
        }
    };
    // The lease is renewed while the work runs (a drain waits for its effect for minutes), so
    // it cannot lapse under a live holder; if the holder dies, it lapses `lease_seconds` later.
    let result = tokio::select! {
        biased;
        result = work() => result,
        () = keep_lease(store, policy, &lease, key) => unreachable!("keep_lease never returns"),
    };
    release_lease(store, &lease).await;
    match result {
        Ok((outcome, value)) => {
            let retain = policy.key_kept_until(Utc::now());
            store.complete_key(key, &outcome, retain).await.map_err(GuardError::from)?;
            Ok(Once::Ran(value))
        }
        Err(e) => {
            let _ = store.abandon_key(key).await;
            Err(e)
        }
    }
}

/// Claims the keys of a batch for `function` at once (user-throttle's batch path: the same
/// claims as [`exactly_once`], written up to 100 per call). One result per key, in order.
pub async fn claim_batch<S: StateStore>(store: &S, policy: &Policy, function: &str, keys: &[String]) -> Result<Vec<Claim>, GuardError> {
    let scoped: Vec<String> = keys.iter().map(|k| scoped_key(function, k)).collect();
    Ok(store.claim_keys(&scoped, seconds(policy.lease_seconds), Utc::now()).await?)
}

/// Closes a batch's claims: `done` (key, outcome) are remembered as handled, `failed` are given
/// up so a redelivery runs them again. A claim that cannot be given up lapses by itself.
pub async fn finish_batch<S: StateStore>(
    store: &S,
    policy: &Policy,
    function: &str,
    done: &[(String, String)],
    failed: &[String],
) -> Result<(), GuardError> {
    let done: Vec<(String, String)> = done.iter().map(|(k, o)| (scoped_key(function, k), o.clone())).collect();
    let completed = store.complete_keys(&done, policy.key_kept_until(Utc::now())).await;
    for key in failed {
        let key = scoped_key(function, key);
        if let Err(e) = store.abandon_key(&key).await {
            tracing::warn!(error = %e, %key, "claim not given up; it lapses by itself");
        }
    }
    Ok(completed?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, thiserror::Error)]
    enum E {
        #[error(transparent)]
        Guard(#[from] GuardError),
        #[error("work failed")]
        Work,
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_deliveries_run_the_work_once_and_the_unfinished_ones_retry_to_a_duplicate() {
        let store = Arc::new(MemoryStore::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let policy = Arc::new(Policy::default());
        let deliver = |store: Arc<MemoryStore>, runs: Arc<AtomicUsize>, policy: Arc<Policy>| async move {
            exactly_once(&*store, &policy, "f", "sig", "lease", async || {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok::<_, E>(("done".to_owned(), ()))
            })
            .await
        };
        let tasks: Vec<_> = (0..50)
            .map(|_| tokio::spawn(deliver(store.clone(), runs.clone(), policy.clone())))
            .collect();
        let mut in_progress = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => {}
                Err(E::Guard(GuardError::InProgress { .. })) => in_progress += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(in_progress > 0, "deliveries during the 20 ms of work see it unfinished");
        // Their retries (as Lambda or SQS would make them) find it done.
        for _ in 0..in_progress {
            let r = deliver(store.clone(), runs.clone(), policy.clone()).await.unwrap();
            assert!(matches!(r, Once::Duplicate { status } if status.contains("done")));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failed_work_gives_the_claim_up_for_a_retry() {
        let store = MemoryStore::new();
        let policy = Policy::default();
        let r = exactly_once(&store, &policy, "f", "sig", "lease", async || Err::<(String, ()), _>(E::Work)).await;
        assert!(matches!(r, Err(E::Work)));
        let r = exactly_once(&store, &policy, "f", "sig", "lease", async || Ok::<_, E>(("done".to_owned(), 7)))
            .await
            .unwrap();
        assert!(matches!(r, Once::Ran(7)));
        let r = exactly_once(&store, &policy, "f", "sig", "lease", async || Ok::<_, E>(("again".to_owned(), 8)))
            .await
            .unwrap();
        assert!(matches!(r, Once::Duplicate { status } if status.contains("done")));
    }

    #[tokio::test]
    async fn one_event_is_acted_on_once_by_each_function_it_reaches() {
        let store = MemoryStore::new();
        let policy = Policy::default();
        for function in ["dns-failover", "capacity-scaler"] {
            let r = exactly_once(&store, &policy, function, "operator:1", "lease", async || {
                Ok::<_, E>(("done".to_owned(), ()))
            })
            .await
            .unwrap();
            assert!(matches!(r, Once::Ran(())), "{function}");
        }
        let again = exactly_once(&store, &policy, "capacity-scaler", "operator:1", "lease", async || {
            Ok::<_, E>(("done".to_owned(), ()))
        })
        .await
        .unwrap();
        assert!(matches!(again, Once::Duplicate { .. }));
    }

    #[tokio::test]
    async fn a_busy_lease_fails_retryably_and_frees_the_claim() {
        let store = MemoryStore::new();
        let policy = Policy {
            lease_wait_seconds: 0,
            ..Policy::default()
        };
        store
            .take_lease("lease", "someone", Duration::seconds(60), Utc::now())
            .await
            .unwrap();
        let r = exactly_once(&store, &policy, "f", "sig", "lease", async || Ok::<_, E>(("done".to_owned(), ()))).await;
        assert!(matches!(r, Err(E::Guard(GuardError::LeaseBusy { .. }))));
        assert_eq!(
            store
                .claim_key(&scoped_key("f", "sig"), Duration::seconds(5), Utc::now())
                .await
                .unwrap(),
            Claim::New
        );
    }

    #[tokio::test]
    async fn a_lease_and_its_claim_are_renewed_while_the_work_outlasts_them() {
        let store = Arc::new(MemoryStore::new());
        let policy = Policy {
            lease_seconds: 1,
            ..Policy::default()
        };
        let work = exactly_once(&*store, &policy, "f", "long", "lease", async || {
            // Three lease lifetimes: without renewal another holder could take it after one.
            tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
            Ok::<_, E>(("done".to_owned(), ()))
        });
        let rival = async {
            tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
            let lease = store.take_lease("lease", "rival", seconds(1), Utc::now()).await.unwrap();
            // A redelivery then: the claim is still in progress, not free to take over.
            let claim = store.claim_key(&scoped_key("f", "long"), seconds(1), Utc::now()).await.unwrap();
            (lease, claim)
        };
        let (done, (rival, claim)) = tokio::join!(work, rival);
        assert!(matches!(done, Ok(Once::Ran(()))));
        assert!(matches!(rival, LeaseOutcome::Busy { .. }), "{rival:?}");
        assert!(matches!(claim, Claim::InProgress { .. }), "{claim:?}");
    }
}
