//! Backup verification, the readings: DescribeTable, DescribeContinuousBackups, ListBackups and
//! CloudWatch ReplicationLatency for every protected table in every region, and the restore
//! drill (RestoreTableToPointInTime into a scratch table, bounded wait, validation by content,
//! deletion always). The source table is only ever read.

use crate::aws::clients::AwsClients;
use crate::config::{DrillConfig, SuiteConfig};
use crate::decide::backup::{self, BackupReport, CanonicalItem, CheckResult, DrillReport, Status};
use crate::model::Region;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, KeysAndAttributes, TableStatus};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct BackupInspector {
    clients: AwsClients,
    /// Tests: the same (mocked) clients for every region.
    fixed: Option<(aws_sdk_dynamodb::Client, aws_sdk_cloudwatch::Client)>,
}

fn to_utc(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Names an API failure the way an operator reads it.
fn api_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    call: &str,
    e: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> String {
    let kind = match e.code() {
        Some("ResourceNotFoundException" | "TableNotFoundException") => "table not found",
        Some("AccessDeniedException") => "access denied",
        Some(c) if c.contains("Throttl") || c == "ProvisionedThroughputExceededException" => "throttled",
        _ => "API error",
    };
    format!("{call}: {kind}: {}", DisplayErrorContext(e))
}

/// DynamoDB attribute values as JSON in the wire shape (`{"S": ...}`), sets sorted.
pub fn attribute_json(v: &AttributeValue) -> Value {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b.as_ref() }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(s) => json!({ "SS": sorted(s.clone()) }),
        AttributeValue::Ns(s) => json!({ "NS": sorted(s.clone()) }),
        AttributeValue::Bs(s) => {
            let mut v: Vec<Vec<u8>> = s.iter().map(|b| b.as_ref().to_vec()).collect();
            v.sort();
            json!({ "BS": v })
        }
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect::<serde_json::Map<_, _>>() }),
        _ => json!({ "unknown": format!("{v:?}") }),
    }
}

fn canonical(item: &HashMap<String, AttributeValue>) -> CanonicalItem {
    CanonicalItem::of(&item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect())
}

fn key_string(item: &HashMap<String, AttributeValue>, key_names: &[String]) -> String {
    key_names
        .iter()
        .map(|k| item.get(k).map(attribute_json).unwrap_or(Value::Null).to_string())
        .collect::<Vec<_>>()
        .join("|")
}

impl BackupInspector {
    pub fn new(clients: AwsClients) -> Self {
        BackupInspector { clients, fixed: None }
    }

    /// Uses these clients for every region (aws-smithy-mocks tests of what the emulator lacks).
    pub fn with_clients(clients: AwsClients, dynamodb: aws_sdk_dynamodb::Client, cloudwatch: aws_sdk_cloudwatch::Client) -> Self {
        BackupInspector {
            clients,
            fixed: Some((dynamodb, cloudwatch)),
        }
    }

    fn dynamodb(&self, region: &Region) -> aws_sdk_dynamodb::Client {
        self.fixed
            .as_ref()
            .map_or_else(|| self.clients.dynamodb(region), |(d, _)| d.clone())
    }

    fn cloudwatch(&self, region: &Region) -> aws_sdk_cloudwatch::Client {
        self.fixed
            .as_ref()
            .map_or_else(|| self.clients.cloudwatch(region), |(_, c)| c.clone())
    }

    /// Every check of one table in one region. Never fails: API errors are results.
    pub async fn check_table(&self, config: &SuiteConfig, table: &str, region: &Region, now: DateTime<Utc>) -> Vec<CheckResult> {
        let cfg = &config.backup;
        let r = region.as_str();
        let ddb = self.dynamodb(region);
        let mut out = Vec::new();

        let (created, replicas) = match ddb.describe_table().table_name(table).send().await {
            Ok(d) => {
                let t = d.table();
                let replicas: BTreeMap<String, String> = t
                    .map(|t| t.replicas())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|rep| {
                        Some((
                            rep.region_name()?.to_owned(),
                            rep.replica_status().map_or("UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
                        ))
                    })
                    .collect();
                (t.and_then(|t| t.creation_date_time()).and_then(to_utc), Some(replicas))
            }
            Err(e) => {
                out.push(CheckResult::new(
                    table,
                    r,
                    "table",
                    Status::Fail,
                    None,
                    api_error("DescribeTable", e),
                ));
                (None, None)
            }
        };

        match ddb.describe_continuous_backups().table_name(table).send().await {
            Ok(cb) => {
                let pitr = cb
                    .continuous_backups_description()
                    .and_then(|d| d.point_in_time_recovery_description());
                let enabled = pitr
                    .and_then(|p| p.point_in_time_recovery_status())
                    .is_some_and(|s| s.as_str() == "ENABLED");
                let earliest = pitr.and_then(|p| p.earliest_restorable_date_time()).and_then(to_utc);
                let latest = pitr.and_then(|p| p.latest_restorable_date_time()).and_then(to_utc);
                let period = pitr.and_then(|p| p.recovery_period_in_days());
                let reading = backup::PitrReading {
                    enabled,
                    period_days: period,
                    earliest,
                    created,
                };
                out.extend(backup::pitr(cfg, table, r, reading, now));
                if enabled {
                    out.push(backup::rpo(cfg, table, r, latest, now));
                }
            }
            Err(e) => out.push(CheckResult::new(
                table,
                r,
                "pitr",
                Status::Fail,
                None,
                api_error("DescribeContinuousBackups", e),
            )),
        }

        let expected: Vec<String> = config.regions.keys().map(|r| r.to_string()).collect();
        if let Some(found) = &replicas {
            out.push(backup::replicas(cfg, table, r, found, &expected));
        }
        for peer in config.peers_of(region) {
            let latency = if cfg.global_tables {
                self.replication_latency(table, region, peer).await
            } else {
                Ok(None)
            };
            match latency {
                Ok(ms) => out.push(backup::replication_latency(cfg, table, r, peer.as_str(), ms)),
                Err(e) => out.push(CheckResult::new(
                    table,
                    r,
                    &format!("replication-latency-to-{peer}"),
                    Status::Fail,
                    None,
                    e,
                )),
            }
        }
        if cfg.max_backup_age_hours.is_some() {
            match ddb.list_backups().table_name(table).send().await {
                Ok(l) => {
                    let newest = l
                        .backup_summaries()
                        .iter()
                        .filter_map(|b| b.backup_creation_date_time())
                        .filter_map(to_utc)
                        .max();
                    out.push(backup::backup_age(cfg, table, r, newest, now));
                }
                Err(e) => out.push(CheckResult::new(
                    table,
                    r,
                    "on-demand-backup",
                    Status::Fail,
                    None,
                    api_error("ListBackups", e),
                )),
            }
        } else {
            out.push(backup::backup_age(cfg, table, r, None, now));
        }
        out
    }

    async fn replication_latency(&self, table: &str, region: &Region, receiving: &Region) -> Result<Option<f64>, String> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        let now = std::time::SystemTime::now();
        let query = MetricDataQuery::builder()
            .id("latency")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/DynamoDB")
                            .metric_name("ReplicationLatency")
                            .dimensions(Dimension::builder().name("TableName").value(table).build())
                            .dimensions(Dimension::builder().name("ReceivingRegion").value(receiving.as_str()).build())
                            .build(),
                    )
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let out = self
            .cloudwatch(region)
            .get_metric_data()
            .metric_data_queries(query)
            .start_time((now - Duration::from_secs(900)).into())
            .end_time(now.into())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetMetricData ReplicationLatency: {}",
                    aws_sdk_cloudwatch::error::DisplayErrorContext(e)
                )
            })?;
        Ok(out
            .metric_data_results()
            .first()
            .and_then(|r| r.values().iter().copied().reduce(f64::max)))
    }

    /// Every check of every protected table in every configured region.
    pub async fn check_all(&self, config: &SuiteConfig, now: DateTime<Utc>) -> Vec<CheckResult> {
        let mut reads = Vec::new();
        for table in &config.protected_tables {
            for region in config.regions.keys() {
                reads.push(self.check_table(config, table, region, now));
            }
        }
        futures_util::future::join_all(reads).await.into_iter().flatten().collect()
    }

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

    /// Checks, and the drill when asked.
    pub async fn run(&self, config: &SuiteConfig, with_drill: bool) -> BackupReport {
        let now = Utc::now();
        let checks = self.check_all(config, now).await;
        let drill = match (&config.backup.drill, with_drill) {
            (Some(d), true) => Some(self.drill(d, now).await),
            _ => None,
        };
        BackupReport { at: now, checks, drill }
    }
}

#[cfg(test)]
mod tests {
    //! What the emulator cannot show (replicas, replication latency, restorable times that
    //! advance, a restore that differs, throttling, access denied), with aws-smithy-mocks
    //! rules returning real-shaped responses.
    use super::*;
    use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
    use aws_sdk_cloudwatch::types::MetricDataResult;
    use aws_sdk_dynamodb::Client as Ddb;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::delete_table::DeleteTableOutput;
    use aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
    use aws_sdk_dynamodb::operation::list_tables::ListTablesOutput;
    use aws_sdk_dynamodb::operation::restore_table_to_point_in_time::RestoreTableToPointInTimeOutput;
    use aws_sdk_dynamodb::operation::scan::ScanOutput;
    use aws_sdk_dynamodb::types::{
        ContinuousBackupsDescription, ContinuousBackupsStatus, KeySchemaElement, KeyType, PointInTimeRecoveryDescription,
        PointInTimeRecoveryStatus, ReplicaDescription, ReplicaStatus, TableDescription,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn config() -> SuiteConfig {
        let mut c = SuiteConfig::from_json(crate::config::EXAMPLE).unwrap();
        c.backup.global_tables = true;
        c
    }

    fn inspector(ddb: Ddb, cw: aws_sdk_cloudwatch::Client) -> BackupInspector {
        let base = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        BackupInspector::with_clients(AwsClients::from_config(base), ddb, cw)
    }

    fn smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(t.timestamp())
    }

    fn table(name: &str, status: TableStatus, created: DateTime<Utc>) -> TableDescription {
        TableDescription::builder()
            .table_name(name)
            .table_status(status)
            .creation_date_time(smithy(created))
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .replicas(
                ReplicaDescription::builder()
                    .region_name("eu-south-1")
                    .replica_status(ReplicaStatus::Active)
                    .build(),
            )
            .replicas(
                ReplicaDescription::builder()
                    .region_name("eu-north-1")
                    .replica_status(ReplicaStatus::Creating)
                    .build(),
            )
            .build()
    }

    fn pitr(latest: DateTime<Utc>, earliest: DateTime<Utc>) -> DescribeContinuousBackupsOutput {
        DescribeContinuousBackupsOutput::builder()
            .continuous_backups_description(
                ContinuousBackupsDescription::builder()
                    .continuous_backups_status(ContinuousBackupsStatus::Enabled)
                    .point_in_time_recovery_description(
                        PointInTimeRecoveryDescription::builder()
                            .point_in_time_recovery_status(PointInTimeRecoveryStatus::Enabled)
                            .recovery_period_in_days(35)
                            .earliest_restorable_date_time(smithy(earliest))
                            .latest_restorable_date_time(smithy(latest))
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
    }

    fn latency(values: Vec<f64>) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(move || {
            GetMetricDataOutput::builder()
                .metric_data_results(MetricDataResult::builder().id("latency").set_values(Some(values.clone())).build())
                .build()
        })
    }

    #[tokio::test]
    async fn emulator_gap_stale_restorable_time_fails_rpo_replica_creating_fails_and_slow_replication_warns() {
        let now = Utc::now();
        let created = now - chrono::Duration::days(3);
        let describe = mock!(Ddb::describe_table).then_output(move || {
            DescribeTableOutput::builder()
                .table(table("orders", TableStatus::Active, created))
                .build()
        });
        let backups = mock!(Ddb::describe_continuous_backups).then_output(move || pitr(now - chrono::Duration::hours(2), created));
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &backups]);
        let lat = latency(vec![120.0, 2500.0, 300.0]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&lat]);
        let results = inspector(ddb, cw)
            .check_table(&config(), "orders", &"eu-south-1".parse().unwrap(), now)
            .await;
        let by = |check: &str| {
            results
                .iter()
                .find(|r| r.check == check)
                .unwrap_or_else(|| panic!("no {check} in {results:#?}"))
        };
        assert_eq!(by("rpo").status, Status::Fail);
        assert!((by("rpo").figure.unwrap() - 7200.0).abs() < 5.0);
        assert_eq!(by("replicas").status, Status::Fail);
        assert!(by("replicas").detail.contains("eu-north-1: CREATING"), "{}", by("replicas").detail);
        assert_eq!(by("replication-latency-to-eu-north-1").status, Status::Warn);
        assert_eq!(by("replication-latency-to-eu-north-1").figure, Some(2500.0));
        assert_eq!(by("pitr").status, Status::Pass);
        assert_eq!(by("pitr-window").status, Status::Pass);
    }

    #[tokio::test]
    async fn throttling_and_access_denied_are_reported_as_results_not_crashes() {
        let describe = mock!(Ddb::describe_table).sequence().http_status(
            400,
            Some(r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#.to_owned()),
        ).repeatedly().build();
        let backups = mock!(Ddb::describe_continuous_backups).sequence().http_status(
            400,
            Some(r#"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"User: arn:aws:sts::123456789012:assumed-role/verifier is not authorized to perform: dynamodb:DescribeContinuousBackups"}"#.to_owned()),
        ).repeatedly().build();
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &backups]);
        let lat = latency(vec![]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&lat]);
        let results = inspector(ddb, cw)
            .check_table(&config(), "orders", &"eu-south-1".parse().unwrap(), Utc::now())
            .await;
        let table = results.iter().find(|r| r.check == "table").unwrap();
        assert!(table.status == Status::Fail && table.detail.contains("throttled"), "{table:?}");
        let pitr = results.iter().find(|r| r.check == "pitr").unwrap();
        assert!(pitr.status == Status::Fail && pitr.detail.contains("access denied"), "{pitr:?}");
        assert!(
            results.iter().any(|r| r.check.starts_with("replication-latency")),
            "the other checks still ran"
        );
    }

    #[tokio::test]
    async fn a_restore_whose_data_differs_fails_and_the_scratch_table_is_still_deleted() {
        let now = Utc::now();
        let item = |id: &str, v: &str| -> HashMap<String, AttributeValue> {
            [
                ("id".to_owned(), AttributeValue::S(id.into())),
                ("v".to_owned(), AttributeValue::N(v.into())),
            ]
            .into()
        };
        let list = mock!(Ddb::list_tables).then_output(|| ListTablesOutput::builder().build());
        let describe = mock!(Ddb::describe_table).then_compute_output(move |req| {
            DescribeTableOutput::builder()
                .table(table(
                    req.table_name().unwrap_or_default(),
                    TableStatus::Active,
                    now - chrono::Duration::days(1),
                ))
                .build()
        });
        let backups = mock!(Ddb::describe_continuous_backups)
            .then_output(move || pitr(now - chrono::Duration::minutes(5), now - chrono::Duration::days(1)));
        let restore = mock!(Ddb::restore_table_to_point_in_time)
            .match_requests(|r| r.source_table_name() == Some("aworld-orders") && r.use_latest_restorable_time() == Some(true))
            .then_output(|| RestoreTableToPointInTimeOutput::builder().build());
        let scan = mock!(Ddb::scan)
            .match_requests(|r| r.table_name().is_some_and(|t| t.starts_with("aworld-orders-drill-")))
            .then_output(move || ScanOutput::builder().items(item("a", "1")).items(item("b", "2")).count(2).build());
        let source = mock!(Ddb::batch_get_item).then_output(move || {
            BatchGetItemOutput::builder()
                .responses("aworld-orders", vec![item("a", "1"), item("b", "3")])
                .build()
        });
        let delete = mock!(Ddb::delete_table)
            .match_requests(|r| r.table_name().is_some_and(|t| t.starts_with("aworld-orders-drill-")))
            .then_output(|| DeleteTableOutput::builder().build());
        let ddb = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&list, &describe, &backups, &restore, &scan, &source, &delete]
        );
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&latency(vec![])]);
        let drill = config().backup.drill.unwrap();
        let report = inspector(ddb, cw).drill(&drill, now).await;
        assert_eq!(report.status, Status::Fail, "{report:?}");
        assert_eq!((report.sampled, report.mismatched), (2, 1));
        assert_ne!(report.restored_checksum, report.source_checksum);
        assert!(report.cleaned_up);
        assert_eq!(delete.num_calls(), 1, "the scratch table is deleted even though validation failed");
        assert_eq!(restore.num_calls(), 1);
    }
}
