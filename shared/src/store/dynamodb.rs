//! The DynamoDB [`StateStore`]: the table described in the module above, in the function's own
//! region (the global table's local replica), so the failover path never reads across regions.

use super::transact::PutOutcome;
use super::{Claim, Lease, LeaseOutcome, StateStore, StoreError, StoreResult, Versioned, keys};
use crate::model::audit::AuditRecord;
use crate::model::said;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use std::collections::HashMap;

/// Sort key of the single-item records.
const LEASE: &str = "LEASE";
const KEY: &str = "KEY";
const BASELINE: &str = "BASELINE";
const STATE: &str = "STATE";
const COUNT: &str = "COUNT";

/// How long leases and abandoned claims linger before TTL tidies them (readers check expiry).
const LINGER: Duration = Duration::days(1);

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

impl DynamoStore {
    /// Claims distinct keys.
    async fn claim_unique(&self, keys: &[String], in_progress_ttl: Duration, now: DateTime<Utc>) -> StoreResult<Vec<Claim>> {
        let puts = keys
            .iter()
            .map(|key| {
                let (item, condition, values) = claim_put(key, in_progress_ttl, now);
                let mut put = aws_sdk_dynamodb::types::Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(condition)
                    .expression_attribute_names("#status", "status")
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
                for (k, v) in values {
                    put = put.expression_attribute_values(k, v);
                }
                put.build().map_err(unavailable)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let (outcomes, _) = super::transact::put_all(&self.client, puts)
            .await
            .map_err(StoreError::Unavailable)?;
        let mut claims = Vec::with_capacity(keys.len());
        for (key, outcome) in keys.iter().zip(outcomes) {
            claims.push(match outcome {
                PutOutcome::Written => Claim::New,
                PutOutcome::Lost(Some(old)) => claim_of(key, &old, now + in_progress_ttl)?,
                PutOutcome::Lost(None) => {
                    let old = self.get(keys::idempotency(key), KEY).await?.unwrap_or_default();
                    claim_of(key, &old, now + in_progress_ttl)?
                }
            });
        }
        Ok(claims)
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// A conditional put: `Ok(None)` when written, `Ok(Some(old))` when the condition failed
    /// (with the item in the way, read back when the service did not return it).
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
        names: &[(&str, &str)],
    ) -> StoreResult<Option<Item>> {
        let pk = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let sk = item.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        match req.send().await {
            Ok(_) => Ok(None),
            Err(e) if is_condition_failed(&e) => {
                let old = e.as_service_error().and_then(|se| match se {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                });
                match old {
                    Some(item) => Ok(Some(item)),
                    None => Ok(Some(self.get(pk, &sk).await?.unwrap_or_default())),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl StateStore for DynamoStore {
    async fn take_lease(&self, name: &str, owner: &str, ttl: Duration, now: DateTime<Utc>) -> StoreResult<LeaseOutcome> {
        let until = now + ttl;
        let item = item([
            ("pk", s(keys::lease(name))),
            ("sk", s(LEASE)),
            ("owner", s(owner)),
            ("lease_until", n(until.timestamp_millis())),
            ("expires_at", n((until + LINGER).timestamp())),
        ]);
        let old = self
            .put_if(
                item,
                "attribute_not_exists(pk) OR lease_until < :now OR #owner = :owner",
                vec![(":now", n(now.timestamp_millis())), (":owner", s(owner))],
                &[("#owner", "owner")],
            )
            .await?;
        Ok(match old {
            None => LeaseOutcome::Acquired(Lease {
                name: name.to_owned(),
                owner: owner.to_owned(),
                until,
            }),
            Some(old) => LeaseOutcome::Busy {
                owner: get_s(&old, "owner").unwrap_or_default(),
                until: get_n(&old, "lease_until").map(millis).unwrap_or(now),
            },
        })
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::lease(&lease.name)))
            .key("sk", s(LEASE))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Lost to expiry and taken over: the new holder's lease must stay.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn claim_key(&self, key: &str, in_progress_ttl: Duration, now: DateTime<Utc>) -> StoreResult<Claim> {
        let (item, condition, values) = claim_put(key, in_progress_ttl, now);
        let old = self.put_if(item, condition, values, &[("#status", "status")]).await?;
        match old {
            None => Ok(Claim::New),
            Some(old) => claim_of(key, &old, now + in_progress_ttl),
        }
    }

    /// Claims in TransactWriteItems of [`super::transact::TRANSACTION_ITEMS`] puts; a key already claimed
    /// reports what holds it.
    async fn claim_keys(&self, keys: &[String], in_progress_ttl: Duration, now: DateTime<Utc>) -> StoreResult<Vec<Claim>> {
        // One transaction may not hold two operations on one item ("Amazon DynamoDB
        // Transactions": the whole TransactWriteItems would be rejected). A key repeated in the
        // batch is claimed once; its repeats are in progress: held by this very invocation.
        let mut unique: Vec<String> = Vec::new();
        let mut position: Vec<Option<usize>> = Vec::with_capacity(keys.len());
        let mut index: HashMap<&str, usize> = HashMap::new();
        for k in keys {
            if index.contains_key(k.as_str()) {
                position.push(None);
            } else {
                index.insert(k, unique.len());
                position.push(Some(unique.len()));
                unique.push(k.clone());
            }
        }
        let claims = self.claim_unique(&unique, in_progress_ttl, now).await?;
        Ok(position
            .into_iter()
            .map(|p| match p {
                Some(i) => claims[i].clone(),
                None => Claim::InProgress {
                    until: now + in_progress_ttl,
                },
            })
            .collect())
    }

    /// 25 per BatchWriteItem; unprocessed items are retried with a short backoff.
    async fn complete_keys(&self, done: &[(String, String)], retain_until: DateTime<Utc>) -> StoreResult<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in done.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|(key, outcome)| {
                    PutRequest::builder()
                        .set_item(Some(done_item(key, outcome, retain_until)))
                        .build()
                        .map(|p| WriteRequest::builder().put_request(p).build())
                        .map_err(unavailable)
                })
                .collect::<StoreResult<_>>()?;
            for round in 0..5u32 {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(unavailable)?;
                requests = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << round)).await;
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable(format!("{} completions left unprocessed", requests.len())));
            }
        }
        Ok(())
    }

    async fn complete_key(&self, key: &str, outcome: &str, retain_until: DateTime<Utc>) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(done_item(key, outcome, retain_until)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn extend_key(&self, key: &str, in_progress_ttl: Duration, now: DateTime<Utc>) -> StoreResult<()> {
        let (item, _, _) = claim_put(key, in_progress_ttl, now);
        // A put, as the claim itself (no UpdateItem grant needed), only over a claim in progress.
        self.put_if(
            item,
            "#status = :in_progress",
            vec![(":in_progress", s("IN_PROGRESS"))],
            &[("#status", "status")],
        )
        .await?;
        Ok(())
    }

    async fn abandon_key(&self, key: &str) -> StoreResult<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::idempotency(key)))
            .key("sk", s(KEY))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s("IN_PROGRESS"))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put_audit(&self, record: &AuditRecord, retain_until: DateTime<Utc>) -> StoreResult<()> {
        let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt {
            key: record.id.clone(),
            problem: e.to_string(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item([
                ("pk", s(keys::audit(&record.function))),
                (
                    "sk",
                    s(format!(
                        "{}#{}",
                        record.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        record.id
                    )),
                ),
                ("decision", s(record.decision.as_str())),
                ("signal_key", s(&record.signal_key)),
                ("record", s(json)),
                ("expires_at", n(retain_until.timestamp())),
            ])))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn recent_audit(&self, function: &str, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::audit(function)))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                let text = get_s(&i, "record").unwrap_or_default();
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    key: get_s(&i, "sk").unwrap_or_default(),
                    problem: e.to_string(),
                })
            })
            .collect()
    }

    async fn save_baseline(&self, resource: &str, value: &Value, now: DateTime<Utc>) -> StoreResult<Value> {
        let item = item([
            ("pk", s(keys::baseline(resource))),
            ("sk", s(BASELINE)),
            ("value", s(value.to_string())),
            ("saved_at", n(now.timestamp_millis())),
        ]);
        match self.put_if(item, "attribute_not_exists(pk)", vec![], &[]).await? {
            None => Ok(value.clone()),
            Some(existing) => json_attr(&existing, "value", &keys::baseline(resource)),
        }
    }

    async fn load_baseline(&self, resource: &str) -> StoreResult<Option<Value>> {
        let key = keys::baseline(resource);
        match self.get(key.clone(), BASELINE).await? {
            None => Ok(None),
            Some(item) => json_attr(&item, "value", &key).map(Some),
        }
    }

    async fn clear_baseline(&self, resource: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::baseline(resource)))
            .key("sk", s(BASELINE))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn count_within(&self, name: &str, add: u64, limit: u64, expires: DateTime<Utc>) -> StoreResult<bool> {
        let Some(room) = limit.checked_sub(add) else { return Ok(false) };
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::counter(name)))
            .key("sk", s(COUNT))
            .update_expression("ADD n :add SET expires_at = :exp")
            .condition_expression("attribute_not_exists(n) OR n <= :room")
            .expression_attribute_values(":add", n(add))
            .expression_attribute_values(":room", n(room))
            .expression_attribute_values(":exp", n(expires.timestamp()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_state(&self, name: &str) -> StoreResult<Option<Versioned>> {
        let key = keys::state(name);
        let Some(item) = self.get(key.clone(), STATE).await? else {
            return Ok(None);
        };
        Ok(Some(Versioned {
            value: json_attr(&item, "value", &key)?,
            version: get_n(&item, "version")
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: key.clone(),
                    problem: "no version".into(),
                })?,
        }))
    }

    async fn put_state(&self, name: &str, value: &Value, expected: u64) -> StoreResult<u64> {
        let version = expected + 1;
        let item = item([
            ("pk", s(keys::state(name))),
            ("sk", s(STATE)),
            ("value", s(value.to_string())),
            ("version", n(version)),
        ]);
        let (condition, values) = if expected == 0 {
            ("attribute_not_exists(pk)", vec![])
        } else {
            ("version = :expected", vec![(":expected", n(expected))])
        };
        match self.put_if(item, condition, values, &[]).await? {
            None => Ok(version),
            Some(_) => Err(StoreError::Conflict(name.to_owned())),
        }
    }
}

fn item<const N: usize>(pairs: [(&str, AttributeValue); N]) -> Item {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn json_attr(item: &Item, attr: &str, key: &str) -> StoreResult<Value> {
    let text = get_s(item, attr).ok_or_else(|| StoreError::Corrupt {
        key: key.to_owned(),
        problem: format!("no {attr}"),
    })?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        problem: e.to_string(),
    })
}

fn is_condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}

fn unavailable<E: crate::model::read_error::Said>(e: E) -> StoreError {
    StoreError::Unavailable(said(&e))
}

/// The claim write: new, or an earlier claim that lapsed, or a remembered key past its
/// retention that TTL has not deleted yet.
fn claim_put(key: &str, in_progress_ttl: Duration, now: DateTime<Utc>) -> (Item, &'static str, Vec<(&'static str, AttributeValue)>) {
    let until = now + in_progress_ttl;
    let item = item([
        ("pk", s(keys::idempotency(key))),
        ("sk", s(KEY)),
        ("status", s("IN_PROGRESS")),
        ("claimed_at", n(now.timestamp_millis())),
        ("claim_until", n(until.timestamp_millis())),
        ("expires_at", n((until + LINGER).timestamp())),
    ]);
    (
        item,
        "attribute_not_exists(pk) OR (#status = :in_progress AND claim_until < :now) OR expires_at < :now_s",
        vec![
            (":in_progress", s("IN_PROGRESS")),
            (":now", n(now.timestamp_millis())),
            (":now_s", n(now.timestamp())),
        ],
    )
}

/// A key remembered as done until `retain_until`.
fn done_item(key: &str, outcome: &str, retain_until: DateTime<Utc>) -> Item {
    item([
        ("pk", s(keys::idempotency(key))),
        ("sk", s(KEY)),
        ("status", s("DONE")),
        ("outcome", s(outcome)),
        ("expires_at", n(retain_until.timestamp())),
    ])
}

/// What an existing key item says about a claim that could not be taken.
fn claim_of(key: &str, old: &Item, until: DateTime<Utc>) -> StoreResult<Claim> {
    match get_s(old, "status").as_deref() {
        Some("DONE") => Ok(Claim::Done {
            outcome: get_s(old, "outcome").unwrap_or_default(),
        }),
        Some("IN_PROGRESS") => Ok(Claim::InProgress {
            until: get_n(old, "claim_until").map(millis).unwrap_or(until),
        }),
        // Deleted between our write and our read: a retry will claim it.
        None => Ok(Claim::InProgress { until }),
        Some(other) => Err(StoreError::Corrupt {
            key: keys::idempotency(key),
            problem: format!("unknown status {other:?}"),
        }),
    }
}
