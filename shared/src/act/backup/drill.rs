//! The restore drill: restore a table to a point in time into a scratch table, compare it with
//! the source, and remove the scratch table whatever happened.

use super::{BackupInspector, api_error, canonical, key_string, to_utc};
use crate::config::DrillConfig;
use crate::decide::backup::{self, CanonicalItem, DrillReport, Status};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, KeysAndAttributes, TableStatus};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

impl BackupInspector {
    /// Restores the drill table into a scratch table, validates it by content, deletes it.
    pub async fn drill(&self, drill: &DrillConfig, now: DateTime<Utc>) -> DrillReport {
        let ddb = self.dynamodb(&drill.region);
        let scratch = format!(
            "{}-drill-{}-{}",
            drill.table,
            now.format("%Y%m%d%H%M%S"),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let mut report = DrillReport {
            table: drill.table.clone(),
            region: drill.region.to_string(),
            scratch_table: scratch.clone(),
            status: Status::Fail,
            restore_seconds: None,
            sampled: 0,
            mismatched: 0,
            restored_checksum: None,
            source_checksum: None,
            cleaned_up: false,
            detail: String::new(),
        };
        let mut notes = self.remove_leftovers(&ddb, &drill.table).await;
        let result = self.restore_and_validate(&ddb, drill, &scratch, &mut report).await;
        // Always delete the scratch table, whatever happened above.
        match ddb.delete_table().table_name(&scratch).send().await {
            Ok(_) => report.cleaned_up = true,
            Err(e) if e.code() == Some("ResourceNotFoundException") && report.restore_seconds.is_none() => report.cleaned_up = true,
            Err(e) => notes.push(format!(
                "scratch table {scratch} not deleted ({}); the next drill removes it",
                api_error("DeleteTable", e)
            )),
        }
        match result {
            Ok(detail) => notes.insert(0, detail),
            Err(e) => {
                report.status = Status::Fail;
                notes.insert(0, e);
            }
        }
        report.detail = notes.join("; ");
        report
    }

    async fn remove_leftovers(&self, ddb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<String> {
        let prefix = format!("{table}-drill-");
        let mut notes = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let Ok(page) = ddb.list_tables().set_exclusive_start_table_name(start.clone()).send().await else {
                break;
            };
            for name in page.table_names().iter().filter(|n| n.starts_with(&prefix)) {
                match ddb.delete_table().table_name(name).send().await {
                    Ok(_) => notes.push(format!("removed leftover scratch table {name}")),
                    Err(e) => notes.push(format!(
                        "leftover scratch table {name} not removed: {}",
                        api_error("DeleteTable", e)
                    )),
                }
            }
            start = page.last_evaluated_table_name().map(str::to_owned);
            if start.is_none() {
                break;
            }
        }
        notes
    }

    async fn restore_and_validate(
        &self,
        ddb: &aws_sdk_dynamodb::Client,
        drill: &DrillConfig,
        scratch: &str,
        report: &mut DrillReport,
    ) -> Result<String, String> {
        let source = ddb
            .describe_table()
            .table_name(&drill.table)
            .send()
            .await
            .map_err(|e| api_error("DescribeTable", e))?;
        let key_names: Vec<String> = source
            .table()
            .map(|t| t.key_schema())
            .unwrap_or_default()
            .iter()
            .map(|k| k.attribute_name().to_owned())
            .collect();
        let latest = ddb
            .describe_continuous_backups()
            .table_name(&drill.table)
            .send()
            .await
            .map_err(|e| api_error("DescribeContinuousBackups", e))?
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.latest_restorable_date_time())
            .and_then(to_utc);

        let started = Instant::now();
        ddb.restore_table_to_point_in_time()
            .source_table_name(&drill.table)
            .target_table_name(scratch)
            .use_latest_restorable_time(true)
            // A drill should cost little: on-demand, whatever the source uses.
            .billing_mode_override(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| api_error("RestoreTableToPointInTime", e))?;
        let deadline = Duration::from_secs(drill.max_wait_seconds);
        loop {
            let status = ddb
                .describe_table()
                .table_name(scratch)
                .send()
                .await
                .ok()
                .and_then(|d| d.table().and_then(|t| t.table_status().cloned()));
            if status == Some(TableStatus::Active) {
                break;
            }
            if started.elapsed() >= deadline {
                return Err(format!(
                    "restored table not ACTIVE after {} s (status {status:?}): RTO data point exceeded",
                    deadline.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_secs(2).min(deadline.saturating_sub(started.elapsed()))).await;
        }
        report.restore_seconds = Some(started.elapsed().as_secs_f64());

        // Validate by content: never trust ItemCount (it refreshes every few hours).
        let scan = ddb
            .scan()
            .table_name(scratch)
            .limit(drill.sample_size)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| api_error("Scan (restored)", e))?;
        let restored_items = scan.items();
        if restored_items.is_empty() {
            let source_has = ddb
                .scan()
                .table_name(&drill.table)
                .limit(1)
                .send()
                .await
                .map_err(|e| api_error("Scan (source)", e))?
                .count()
                > 0;
            if source_has {
                return Err("the restored table is empty but the source has items".into());
            }
            report.status = Status::Pass;
            return Ok("restored an empty table, as the source is".into());
        }
        let restored: BTreeMap<String, CanonicalItem> = restored_items.iter().map(|i| (key_string(i, &key_names), canonical(i))).collect();
        let keys: Vec<HashMap<String, AttributeValue>> = restored_items
            .iter()
            .map(|i| key_names.iter().filter_map(|k| Some((k.clone(), i.get(k)?.clone()))).collect())
            .collect();
        let mut source: BTreeMap<String, CanonicalItem> = BTreeMap::new();
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
            for _attempt in 0..5 {
                let Some(request) = pending.take() else { break };
                let got = ddb
                    .batch_get_item()
                    .request_items(&drill.table, request)
                    .send()
                    .await
                    .map_err(|e| api_error("BatchGetItem (source)", e))?;
                for item in got
                    .responses()
                    .and_then(|r| r.get(&drill.table))
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    source.insert(key_string(item, &key_names), canonical(item));
                }
                pending = got.unprocessed_keys().and_then(|u| u.get(&drill.table)).cloned();
            }
        }
        let (sampled, mismatched) = backup::compare(&restored, &source);
        report.sampled = sampled;
        report.mismatched = mismatched.len();
        report.restored_checksum = Some(backup::checksum(&restored.values().cloned().collect::<Vec<_>>()));
        report.source_checksum = Some(backup::checksum(&source.values().cloned().collect::<Vec<_>>()));
        let restore_point = latest.map_or("the latest restorable time".to_owned(), |t| t.to_string());
        if mismatched.is_empty() {
            report.status = Status::Pass;
            Ok(format!(
                "restored as of {restore_point} in {:.1} s; {sampled} sampled items identical to the source",
                report.restore_seconds.unwrap_or_default()
            ))
        } else {
            report.status = Status::Fail;
            let first: Vec<&String> = mismatched.iter().take(5).collect();
            Ok(format!(
                "{} of {sampled} sampled items differ from the source (first keys: {first:?})",
                mismatched.len()
            ))
        }
    }
}
