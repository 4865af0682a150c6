//! An in-memory [`StateStore`] with the same conditional semantics as the DynamoDB one, for
//! unit tests of pure logic and the property tests. Not for production: nothing survives the
//! process.

use super::{Claim, Lease, LeaseOutcome, StateStore, StoreError, StoreResult, Versioned};
use crate::model::audit::AuditRecord;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    leases: HashMap<String, Lease>,
    keys: HashMap<String, KeyEntry>,
    audit: Vec<AuditRecord>,
    baselines: HashMap<String, Value>,
    states: HashMap<String, Versioned>,
    counters: HashMap<String, u64>,
    /// When set, every call fails as an unreachable table would.
    unavailable: bool,
}

#[derive(Debug, Clone)]
enum KeyEntry {
    InProgress { until: DateTime<Utc> },
    Done { outcome: String },
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call fail with [`StoreError::Unavailable`] (or work again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock_raw().unavailable = unavailable;
    }

    /// Every audit record, oldest first.
    pub fn audit_log(&self) -> Vec<AuditRecord> {
        self.lock_raw().audit.clone()
    }

    fn lock_raw(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Inner>> {
        let inner = self.lock_raw();
        if inner.unavailable {
            return Err(StoreError::Unavailable("in-memory store set unavailable".into()));
        }
        Ok(inner)
    }
}

impl StateStore for MemoryStore {
    async fn take_lease(&self, name: &str, owner: &str, ttl: Duration, now: DateTime<Utc>) -> StoreResult<LeaseOutcome> {
        let mut inner = self.lock()?;
        if let Some(held) = inner.leases.get(name)
            && held.owner != owner
            && held.until > now
        {
            return Ok(LeaseOutcome::Busy {
                owner: held.owner.clone(),
                until: held.until,
            });
        }
        let lease = Lease {
            name: name.to_owned(),
            owner: owner.to_owned(),
            until: now + ttl,
        };
        inner.leases.insert(name.to_owned(), lease.clone());
        Ok(LeaseOutcome::Acquired(lease))
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if inner.leases.get(&lease.name).is_some_and(|l| l.owner == lease.owner) {
            inner.leases.remove(&lease.name);
        }
        Ok(())
    }

    async fn claim_key(&self, key: &str, in_progress_ttl: Duration, now: DateTime<Utc>) -> StoreResult<Claim> {
        let mut inner = self.lock()?;
        match inner.keys.get(key) {
            Some(KeyEntry::Done { outcome }) => return Ok(Claim::Done { outcome: outcome.clone() }),
            Some(KeyEntry::InProgress { until }) if *until > now => return Ok(Claim::InProgress { until: *until }),
            _ => {}
        }
        inner.keys.insert(
            key.to_owned(),
            KeyEntry::InProgress {
                until: now + in_progress_ttl,
            },
        );
        Ok(Claim::New)
    }

    async fn complete_key(&self, key: &str, outcome: &str, _retain_until: DateTime<Utc>) -> StoreResult<()> {
        self.lock()?.keys.insert(
            key.to_owned(),
            KeyEntry::Done {
                outcome: outcome.to_owned(),
            },
        );
        Ok(())
    }

    async fn extend_key(&self, key: &str, in_progress_ttl: Duration, now: DateTime<Utc>) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if let Some(KeyEntry::InProgress { until }) = inner.keys.get_mut(key) {
            *until = now + in_progress_ttl;
        }
        Ok(())
    }

    async fn abandon_key(&self, key: &str) -> StoreResult<()> {
        let mut inner = self.lock()?;
        if matches!(inner.keys.get(key), Some(KeyEntry::InProgress { .. })) {
            inner.keys.remove(key);
        }
        Ok(())
    }

    async fn put_audit(&self, record: &AuditRecord, _retain_until: DateTime<Utc>) -> StoreResult<()> {
        self.lock()?.audit.push(record.clone());
        Ok(())
    }

    async fn recent_audit(&self, function: &str, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        let inner = self.lock()?;
        let mut records: Vec<AuditRecord> = inner.audit.iter().filter(|r| r.function == function).cloned().collect();
        records.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        records.truncate(limit);
        Ok(records)
    }

    async fn save_baseline(&self, resource: &str, value: &Value, _now: DateTime<Utc>) -> StoreResult<Value> {
        let mut inner = self.lock()?;
        Ok(inner.baselines.entry(resource.to_owned()).or_insert_with(|| value.clone()).clone())
    }

    async fn load_baseline(&self, resource: &str) -> StoreResult<Option<Value>> {
        Ok(self.lock()?.baselines.get(resource).cloned())
    }

    async fn clear_baseline(&self, resource: &str) -> StoreResult<()> {
        self.lock()?.baselines.remove(resource);
        Ok(())
    }

    async fn count_within(&self, name: &str, add: u64, limit: u64, _expires: DateTime<Utc>) -> StoreResult<bool> {
        let mut inner = self.lock()?;
        let n = inner.counters.entry(name.to_owned()).or_insert(0);
        if *n + add > limit {
            return Ok(false);
        }
        *n += add;
        Ok(true)
    }

    async fn get_state(&self, name: &str) -> StoreResult<Option<Versioned>> {
        Ok(self.lock()?.states.get(name).cloned())
    }

    async fn put_state(&self, name: &str, value: &Value, expected: u64) -> StoreResult<u64> {
        let mut inner = self.lock()?;
        let current = inner.states.get(name).map_or(0, |v| v.version);
        if current != expected {
            return Err(StoreError::Conflict(name.to_owned()));
        }
        let version = expected + 1;
        inner.states.insert(
            name.to_owned(),
            Versioned {
                value: value.clone(),
                version,
            },
        );
        Ok(version)
    }
}
