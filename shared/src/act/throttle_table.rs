//! The throttle table in DynamoDB. Schema (`pk` = principal, string):
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `pk` | S | `user#<id>`, `key#<id>` or `ip#<address>` |
//! | `level`, `level_name` | N, S | index and name of the configured level |
//! | `block`, `limit_rps`, `usage_plan_key` | BOOL, N, S | what the edge enforces |
//! | `until` | N | epoch seconds; readers treat the record as void after it |
//! | `reason`, `offences`, `last_offence` | S, N, N | why, how many, when last |
//! | `history` | S | JSON list of the recent offences |
//! | `version` | N | optimistic concurrency: every write is conditional on it |
//! | `expires_at` | N | TTL attribute: the escalation window after `until`, then DynamoDB tidies |
//!
//! Writes for many principals go out as TransactWriteItems of up to 100 conditional puts; a
//! cancelled transaction (a concurrent writer won a race) falls back to single conditional
//! puts, so the winners are kept and only the losers are re-decided.

use crate::decide::throttle::ThrottleRecord;
use crate::model::Principal;
use crate::model::said;
use crate::store::transact::PutOutcome;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put};
use chrono::{DateTime, Duration};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum ThrottleTableError {
    #[error("throttle table unavailable: {0}")]
    Unavailable(String),
    #[error("throttle record {0} is corrupt: {1}")]
    Corrupt(String, String),
}

/// Counts of DynamoDB calls and items written, for the benchmarks and the audit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub calls: usize,
    pub items: usize,
}

#[derive(Debug, Clone)]
pub struct ThrottleTable {
    client: crate::model::Deferred<Client>,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn to_item(r: &ThrottleRecord, keep_after_until: Duration) -> Item {
    let mut i: Item = [
        ("pk", s(r.principal.as_str())),
        ("level", n(r.level)),
        ("level_name", s(&r.level_name)),
        ("block", AttributeValue::Bool(r.block)),
        ("until", n(r.until.timestamp())),
        ("reason", s(&r.reason)),
        ("offences", n(r.offences)),
        ("last_offence", n(r.last_offence.timestamp_millis())),
        ("history", s(serde_json::to_string(&r.history).unwrap_or_default())),
        ("version", n(r.version + 1)),
        ("expires_at", n((r.until + keep_after_until).timestamp())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(l) = r.limit_rps {
        i.insert("limit_rps".into(), n(l));
    }
    if let Some(k) = &r.usage_plan_key {
        i.insert("usage_plan_key".into(), s(k));
    }
    i
}

fn from_item(i: &Item) -> Result<ThrottleRecord, ThrottleTableError> {
    let pk = i.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let bad = |what: &str| ThrottleTableError::Corrupt(pk.clone(), what.to_owned());
    let get_s = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
    let get_n = |k: &str| i.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<f64>().ok());
    let time = |secs: f64| DateTime::from_timestamp(secs as i64, 0);
    Ok(ThrottleRecord {
        principal: Principal::parse(&pk).map_err(|e| bad(&e.to_string()))?,
        level: get_n("level").ok_or_else(|| bad("no level"))? as usize,
        level_name: get_s("level_name").unwrap_or_default(),
        block: i.get("block").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true),
        limit_rps: get_n("limit_rps"),
        usage_plan_key: get_s("usage_plan_key"),
        until: get_n("until").and_then(time).ok_or_else(|| bad("no until"))?,
        reason: get_s("reason").unwrap_or_default(),
        offences: get_n("offences").unwrap_or(0.0) as u32,
        last_offence: get_n("last_offence")
            .and_then(|ms| DateTime::from_timestamp_millis(ms as i64))
            .ok_or_else(|| bad("no last_offence"))?,
        history: get_s("history").and_then(|h| serde_json::from_str(&h).ok()).unwrap_or_default(),
        version: get_n("version").unwrap_or(0.0) as u64,
    })
}

/// BatchGetItem rounds for one chunk: the first read and four retries of unprocessed keys
/// (50, 100, 200, 400 ms apart).
const BATCH_ROUNDS: u32 = 5;

fn unavailable<E: crate::model::read_error::Said>(e: E) -> ThrottleTableError {
    ThrottleTableError::Unavailable(said(&e))
}

impl ThrottleTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        ThrottleTable::deferred(crate::model::Deferred::ready(client), table)
    }

    /// With the client made on the first read or write.
    pub fn deferred(client: crate::model::Deferred<Client>, table: impl Into<String>) -> Self {
        ThrottleTable {
            client,
            table: table.into(),
        }
    }

    /// One principal (eventually consistent: the edge's local replica read).
    pub async fn get(&self, p: &Principal, consistent: bool) -> Result<Option<ThrottleRecord>, ThrottleTableError> {
        let out = self
            .client
            .get()
            .get_item()
            .table_name(&self.table)
            .key("pk", s(p.as_str()))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// Many principals, 100 per BatchGetItem, consistent. Unprocessed keys are retried with
    /// exponential backoff ("If DynamoDB returns any unprocessed items, you should retry the
    /// batch operation on those items. However, we strongly recommend that you use an
    /// exponential backoff algorithm", BatchGetItem); keys still unread after the last round
    /// are an error, never read as "no record" (that would reset a principal's escalation).
    pub async fn get_many(&self, principals: &[Principal]) -> Result<HashMap<Principal, ThrottleRecord>, ThrottleTableError> {
        let mut out = HashMap::new();
        for chunk in principals.chunks(100) {
            let keys: Vec<Item> = chunk.iter().map(|p| [("pk".to_owned(), s(p.as_str()))].into()).collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(unavailable)?,
            );
            for round in 0..BATCH_ROUNDS {
                let Some(req) = pending.take() else { break };
                if round > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << round)).await;
                }
                let got = self
                    .client
                    .get()
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in got
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let r = from_item(item)?;
                    out.insert(r.principal.clone(), r);
                }
                pending = got
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
            }
            if let Some(left) = pending {
                return Err(ThrottleTableError::Unavailable(format!(
                    "dynamodb:BatchGetItem {}: {} keys still unprocessed after {BATCH_ROUNDS} rounds",
                    self.table,
                    left.keys().len()
                )));
            }
        }
        Ok(out)
    }

    fn put(&self, r: &ThrottleRecord, keep: Duration) -> Result<Put, ThrottleTableError> {
        let (condition, values): (&str, Vec<(&str, AttributeValue)>) = if r.version == 0 {
            ("attribute_not_exists(pk)", vec![])
        } else {
            ("version = :v", vec![(":v", n(r.version))])
        };
        let mut b = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(r, keep)))
            .condition_expression(condition);
        for (k, v) in values {
            b = b.expression_attribute_values(k, v);
        }
        b.build().map_err(unavailable)
    }

    /// Writes every record conditionally on its version, 100 per TransactWriteItems
    /// ([`crate::store::transact`]). Returns, per record, whether it was written (false:
    /// someone else changed it first; re-read and re-decide).
    pub async fn put_all(&self, records: &[ThrottleRecord], keep: Duration) -> Result<(Vec<bool>, WriteStats), ThrottleTableError> {
        let puts = records.iter().map(|r| self.put(r, keep)).collect::<Result<Vec<_>, _>>()?;
        let (outcomes, calls) = crate::store::transact::put_all(self.client.get(), puts)
            .await
            .map_err(ThrottleTableError::Unavailable)?;
        let written: Vec<bool> = outcomes.iter().map(|o| *o == PutOutcome::Written).collect();
        let items = written.iter().filter(|w| **w).count();
        Ok((written, WriteStats { calls, items }))
    }

    /// Ends a principal's limits now (operator release).
    pub async fn release(&self, p: &Principal) -> Result<bool, ThrottleTableError> {
        let out = self
            .client
            .get()
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(p.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn record(user: &str) -> ThrottleRecord {
        let at = chrono::Utc::now();
        ThrottleRecord {
            principal: Principal::parse(user).unwrap(),
            level: 0,
            level_name: "rate-limited".into(),
            block: false,
            limit_rps: Some(5.0),
            usage_plan_key: None,
            until: at + Duration::minutes(15),
            reason: "test".into(),
            offences: 1,
            last_offence: at,
            history: vec![],
            version: 0,
        }
    }

    #[tokio::test]
    async fn a_cancelled_transaction_loses_only_the_records_whose_condition_failed_and_writes_the_rest_in_one_more_call() {
        let cancelled = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .match_requests(|r| r.transact_items().len() == 3)
            .then_error(|| {
                let reason = |code: &str| CancellationReason::builder().code(code).build();
                TransactWriteItemsError::TransactionCanceledException(
                    TransactionCanceledException::builder()
                        .message("Transaction cancelled")
                        .cancellation_reasons(reason("None"))
                        .cancellation_reasons(reason("ConditionalCheckFailed"))
                        .cancellation_reasons(reason("None"))
                        .build(),
                )
            });
        let retried = mock!(aws_sdk_dynamodb::Client::transact_write_items)
            .match_requests(|r| r.transact_items().len() == 2)
            .then_output(|| TransactWriteItemsOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&cancelled, &retried]);
        let table = ThrottleTable::new(client, "throttle");
        let records = [record("user#a"), record("user#b"), record("user#c")];
        let (written, stats) = table.put_all(&records, Duration::hours(1)).await.unwrap();
        assert_eq!(written, [true, false, true], "user#b lost its race and is re-decided");
        assert_eq!((stats.calls, stats.items), (2, 2));
        assert_eq!((cancelled.num_calls(), retried.num_calls()), (1, 1));
    }

    /// A BatchGetItem answer: `found` read, `left` unprocessed.
    fn batch(found: &[&str], left: &[&str]) -> aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let items: Vec<Item> = found.iter().map(|u| to_item(&record(u), Duration::hours(1))).collect();
        let mut out = aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput::builder().responses("throttle", items);
        if !left.is_empty() {
            let keys: Vec<Item> = left.iter().map(|u| [("pk".to_owned(), s(*u))].into()).collect();
            out = out.unprocessed_keys("throttle", KeysAndAttributes::builder().set_keys(Some(keys)).build().unwrap());
        }
        out.build()
    }

    #[tokio::test]
    async fn unprocessed_keys_are_read_again_and_keys_never_read_are_an_error_not_an_absent_record() {
        let principals: Vec<Principal> = ["user#a", "user#b"].iter().map(|u| Principal::parse(u).unwrap()).collect();
        let later = mock!(aws_sdk_dynamodb::Client::batch_get_item)
            .sequence()
            .output(|| batch(&["user#a"], &["user#b"]))
            .output(|| batch(&["user#b"], &[]))
            .build();
        let table = ThrottleTable::new(mock_client!(aws_sdk_dynamodb, [&later]), "throttle");
        let got = table.get_many(&principals).await.unwrap();
        assert_eq!(got.len(), 2, "user#b read on the second round");
        assert_eq!(later.num_calls(), 2);

        let never = mock!(aws_sdk_dynamodb::Client::batch_get_item)
            .sequence()
            .output(|| batch(&["user#a"], &["user#b"]))
            .repeatedly()
            .build();
        let table = ThrottleTable::new(mock_client!(aws_sdk_dynamodb, [&never]), "throttle");
        let e = table.get_many(&principals).await.unwrap_err();
        assert!(e.to_string().contains("1 keys still unprocessed"), "{e}");
        assert_eq!(never.num_calls(), BATCH_ROUNDS as usize);
    }
}
