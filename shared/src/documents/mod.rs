//! The suite's state documents, in one place: their names in the state table and their typed
//! load and save. A document that does not decode as its type is [`StoreError::Corrupt`], once,
//! here, and never "absent": a reader that took garbage for "nothing stored" would start a
//! second drill, forget a freeze or erase a history.
//!
//! This floor sits above `store/` (the raw table) and `decide/` (whose state types the
//! documents hold), below `act/` and `handler/`.

pub mod dns;

use crate::model::Region;
use crate::store::{StateStore, StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Loads `name` as a `T`, with the version to write it back under: `None` when absent (version
/// 0) or cleared (a `null` value, at its version), and [`StoreError::Corrupt`] when it does not
/// decode.
pub async fn load<T: DeserializeOwned, S: StateStore>(store: &S, name: &str) -> StoreResult<(Option<T>, u64)> {
    let Some(v) = store.get_state(name).await? else {
        return Ok((None, 0));
    };
    if v.value.is_null() {
        return Ok((None, v.version));
    }
    Ok((Some(decode(name, v.value)?), v.version))
}

/// Decodes a stored value as a `T`, naming the document when it is not one.
pub fn decode<T: DeserializeOwned>(name: &str, value: Value) -> StoreResult<T> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
        key: name.to_owned(),
        problem: e.to_string(),
    })
}

/// Writes `value` to `name` if it is still at `expected` (0 = must not exist yet); the new version.
pub async fn save<T: Serialize, S: StateStore>(store: &S, name: &str, value: &T, expected: u64) -> StoreResult<u64> {
    store.put_state(name, &to_value(name, value)?, expected).await
}

/// Writes `value` to `name` whatever its version (a report where the last writer wins).
pub async fn replace<T: Serialize, S: StateStore>(store: &S, name: &str, value: &T) -> StoreResult<u64> {
    store.replace_state(name, &to_value(name, value)?).await
}

/// Clears `name` (a `null` value) if it is still at `expected`.
pub async fn clear<S: StateStore>(store: &S, name: &str, expected: u64) -> StoreResult<u64> {
    store.put_state(name, &Value::Null, expected).await
}

fn to_value<T: Serialize>(name: &str, value: &T) -> StoreResult<Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt {
        key: name.to_owned(),
        problem: format!("not serialisable: {e}"),
    })
}

// ---- names: every document of the state table ------------------------------------------------

/// `region`'s copy of the DNS state of the protected name (written by dns-failover there).
pub fn dns_copy(record_name: &str, region: &Region) -> String {
    format!("dns#{record_name}@{region}")
}

/// The single DNS state document of earlier versions (read once, when no copy exists yet).
pub fn dns_legacy(record_name: &str) -> String {
    format!("dns#{record_name}")
}

/// capacity-scaler's memory of `region`: baselines raised, OK periods.
pub fn capacity(region: &Region) -> String {
    format!("capacity#{region}")
}

/// The restore drill in progress for `table`, conducted from `region`.
pub fn restore_drill(table: &str, region: &str) -> String {
    format!("restore-drill#{table}@{region}")
}

/// When the last restore drill of `table` in `region` started (`{"at": time}`): scheduled starts
/// are spaced by `backup.drill.min_interval_hours`.
pub fn restore_drill_started(table: &str, region: &str) -> String {
    format!("restore-drill-started#{table}@{region}")
}

/// `region`'s last readiness report.
pub fn readiness_report(region: &Region) -> String {
    format!("readiness#{region}")
}

/// `region`'s drill history (restore drills, RPO probes, practice drills).
pub fn drill_history(region: &Region) -> String {
    format!("drills#history@{region}")
}

/// The practice drill in progress on `record_name` (the practice record).
pub fn practice_run(record_name: &str) -> String {
    format!("failover-drill#{record_name}")
}

/// The report of the last finished practice drill on `record_name`.
pub fn practice_last(record_name: &str) -> String {
    format!("failover-drill#last#{record_name}")
}

/// backup-verifier's last report.
pub const BACKUP_REPORT: &str = "backup#last-report";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        n: u32,
    }

    #[tokio::test]
    async fn an_undecodable_document_is_corrupt_never_absent() {
        let store = MemoryStore::default();
        store.put_state("x", &serde_json::json!({"n": "not a number"}), 0).await.unwrap();
        let err = load::<Doc, _>(&store, "x").await.unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt { key, .. } if key == "x"), "{err}");
    }

    #[tokio::test]
    async fn absent_and_cleared_documents_load_as_none_at_their_version() {
        let store = MemoryStore::default();
        assert_eq!(load::<Doc, _>(&store, "x").await.unwrap(), (None, 0));
        let v = save(&store, "x", &Doc { n: 1 }, 0).await.unwrap();
        assert_eq!(load::<Doc, _>(&store, "x").await.unwrap(), (Some(Doc { n: 1 }), v));
        let cleared = clear(&store, "x", v).await.unwrap();
        assert_eq!(load::<Doc, _>(&store, "x").await.unwrap(), (None, cleared));
        save(&store, "x", &Doc { n: 2 }, cleared)
            .await
            .expect("written back under the cleared version");
    }
}
