//! The state store: one DynamoDB table for leases, idempotency keys, audit records, saved
//! baselines and small state documents, behind [`StateStore`].
//!
//! Key design (`pk`, `sk` strings; `expires_at` is the table's TTL attribute, epoch seconds):
//!
//! | item | pk | sk | other attributes |
//! |---|---|---|---|
//! | lease | `LEASE#<name>` | `LEASE` | `owner`, `lease_until` (epoch ms) |
//! | idempotency key | `KEY#<signal key>` | `KEY` | `status` (`IN_PROGRESS`/`DONE`), `claimed_at`, `outcome` |
//! | audit record | `AUDIT#<function>` | `<RFC 3339 time>#<id>` | `decision`, `signal_key`, `record` (JSON) |
//! | baseline | `BASELINE#<resource>` | `BASELINE` | `value` (JSON), `saved_at` |
//! | state document | `STATE#<name>` | `STATE` | `value` (JSON), `version` |
//! | counter | `COUNT#<name>` | `COUNT` | `n` (e.g. principals throttled in one minute) |
//!
//! Every change is a conditional write, so concurrent invocations serialise on DynamoDB and a
//! crashed holder's lease or claim expires instead of blocking forever. TTL deletion is lazy
//! (up to days late), so every reader also checks the expiry itself.

pub mod dynamodb;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
pub mod transact;

use crate::model::audit::AuditRecord;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::future::Future;

/// A held lease: only its owner can renew or release it, anyone can take it once expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub owner: String,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired(Lease),
    /// Someone else holds it until `until`.
    Busy {
        owner: String,
        until: DateTime<Utc>,
    },
}

/// Result of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First time seen (or an earlier attempt's claim expired): go ahead.
    New,
    /// Already handled, with the recorded outcome.
    Done { outcome: String },
    /// Another invocation is handling it right now.
    InProgress { until: DateTime<Utc> },
}

/// A small JSON document with a version for optimistic concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub value: Value,
    pub version: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The table could not be reached or refused the call (throttling, 5xx, timeout): retrying
    /// may help. Nothing must be done blind while the store is unavailable.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// A conditional write lost a race (state document changed since it was read).
    #[error("state document {0} changed concurrently")]
    Conflict(String),
    /// An item that is not what this code wrote.
    #[error("state store item {key} is corrupt: {problem}")]
    Corrupt { key: String, problem: String },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Conflict(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the functions keep between invocations.
pub trait StateStore: Send + Sync {
    /// Takes (or renews, for the same owner) the lease `name` until `now + ttl`.
    fn take_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<LeaseOutcome>> + Send;
    /// Releases a lease this owner holds; releasing a lease lost to expiry is not an error.
    fn release_lease(&self, lease: &Lease) -> impl Future<Output = StoreResult<()>> + Send;

    /// Claims `key` for handling; the claim lapses after `in_progress_ttl` if never completed.
    fn claim_key(&self, key: &str, in_progress_ttl: Duration, now: DateTime<Utc>) -> impl Future<Output = StoreResult<Claim>> + Send;
    /// Marks a claimed key done, remembered until `retain_until`.
    fn complete_key(&self, key: &str, outcome: &str, retain_until: DateTime<Utc>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Extends a claim still in progress (its holder is still working), so that a redelivery
    /// does not take it over; a claim that is no longer in progress is left alone.
    fn extend_key(&self, key: &str, in_progress_ttl: Duration, now: DateTime<Utc>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Gives a claim up (the handling failed and may be retried).
    fn abandon_key(&self, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Claims many keys at once (a batch of records), one result per key in order. The default
    /// claims one by one; the DynamoDB store writes up to 100 claims per call.
    fn claim_keys(
        &self,
        keys: &[String],
        in_progress_ttl: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Vec<Claim>>> + Send {
        async move {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                out.push(self.claim_key(k, in_progress_ttl, now).await?);
            }
            Ok(out)
        }
    }
    /// Marks many claimed keys done, `(key, outcome)`. The default completes one by one; the
    /// DynamoDB store writes 25 per call.
    fn complete_keys(&self, done: &[(String, String)], retain_until: DateTime<Utc>) -> impl Future<Output = StoreResult<()>> + Send {
        async move {
            for (k, outcome) in done {
                self.complete_key(k, outcome, retain_until).await?;
            }
            Ok(())
        }
    }

    /// Appends an audit record, kept until `retain_until`.
    fn put_audit(&self, record: &AuditRecord, retain_until: DateTime<Utc>) -> impl Future<Output = StoreResult<()>> + Send;
    /// The newest `limit` audit records of `function`, newest first.
    fn recent_audit(&self, function: &str, limit: usize) -> impl Future<Output = StoreResult<Vec<AuditRecord>>> + Send;

    /// Saves a baseline unless one is already saved (the first, pre-emergency value wins).
    /// Returns the baseline in force.
    fn save_baseline(&self, resource: &str, value: &Value, now: DateTime<Utc>) -> impl Future<Output = StoreResult<Value>> + Send;
    fn load_baseline(&self, resource: &str) -> impl Future<Output = StoreResult<Option<Value>>> + Send;
    fn clear_baseline(&self, resource: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Adds `add` to the counter `name` unless that would take it above `limit`; counters
    /// expire (TTL) at `expires`. Returns whether it was added.
    fn count_within(&self, name: &str, add: u64, limit: u64, expires: DateTime<Utc>) -> impl Future<Output = StoreResult<bool>> + Send;

    fn get_state(&self, name: &str) -> impl Future<Output = StoreResult<Option<Versioned>>> + Send;
    /// Writes a state document if its version is still `expected` (0 = must not exist yet).
    fn put_state(&self, name: &str, value: &Value, expected: u64) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Writes a state document whatever its version (a report where the last writer wins).
    fn replace_state(&self, name: &str, value: &Value) -> impl Future<Output = StoreResult<u64>> + Send {
        async move {
            let version = self.get_state(name).await?.map_or(0, |v| v.version);
            self.put_state(name, value, version).await
        }
    }
}

/// Item keys, one place.
pub(crate) mod keys {
    pub fn lease(name: &str) -> String {
        format!("LEASE#{name}")
    }
    /// The item key of a signal key. Signal keys come from senders (an event id can be any
    /// length); a partition key holds at most 2,048 bytes (DynamoDB "Service, account, and
    /// table quotas"), so a longer key is replaced by its SHA-256, which is as unique.
    pub fn idempotency(key: &str) -> String {
        if key.len() <= MAX_PLAIN_KEY {
            format!("KEY#{key}")
        } else {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            format!("KEY#sha256:{hex}")
        }
    }

    /// Keys up to this many bytes are stored as they are (well inside the 2,048-byte limit).
    pub const MAX_PLAIN_KEY: usize = 1024;
    pub fn audit(function: &str) -> String {
        format!("AUDIT#{function}")
    }
    pub fn baseline(resource: &str) -> String {
        format!("BASELINE#{resource}")
    }
    pub fn state(name: &str) -> String {
        format!("STATE#{name}")
    }
    pub fn counter(name: &str) -> String {
        format!("COUNT#{name}")
    }
}
