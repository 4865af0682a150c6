//! Backup verification, the readings: DescribeTable, DescribeContinuousBackups, ListBackups and
//! CloudWatch ReplicationLatency for every protected table in every region; the RPO probe
//! (`rpo`); the restore drill a step per invocation (`drill`: canaries written under the drill's
//! own keys, RestoreTableToPointInTime to an explicit time into a scratch table, validation on the
//! canaries, deletion always). Beyond the canaries, the source table is only ever read.

mod drill;
mod rpo;

pub use drill::DrillTurn;

use crate::act::tables;
use crate::aws::clients::AwsClients;
use crate::config::{BackupConfig, SuiteConfig};
use crate::decide::backup::{self, BackupReport, CheckResult, Status};
use crate::model::Region;
use crate::model::said;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BackupInspector {
    clients: AwsClients,
    /// Tests: the same (mocked) clients for every region.
    fixed: Option<(aws_sdk_dynamodb::Client, aws_sdk_cloudwatch::Client)>,
}

/// Names an API failure the way an operator reads it, in one line: the call, what it means,
/// what AWS said: the one classifier (`model::classify`) in the report's words (`tables::reading_failed`).
pub(crate) fn api_error<E: ProvideErrorMetadata>(
    call: &str,
    e: aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String {
    tables::reading_failed(&crate::model::classify(call, &e))
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

/// Point-in-time recovery (DescribeContinuousBackups): whether it is on and its window, and,
/// only when it is on, the RPO from its latest restorable time.
async fn pitr_checks(
    ddb: &aws_sdk_dynamodb::Client,
    cfg: &BackupConfig,
    table: &str,
    r: &str,
    created: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<CheckResult> {
    let p = match tables::pitr(ddb, table).await {
        Ok(p) => p,
        Err(e) => return vec![CheckResult::new(table, r, "pitr", Status::Fail, None, tables::reading_failed(&e))],
    };
    let (enabled, latest) = (p.enabled(), p.latest);
    let reading = backup::PitrReading {
        enabled,
        period_days: p.period_days,
        earliest: p.earliest,
        created,
    };
    let mut out = backup::pitr(cfg, table, r, reading, now);
    if enabled {
        out.push(backup::rpo(cfg, table, r, latest, now));
    }
    out
}

/// The age of the newest on-demand backup (ListBackups), read only when a maximum age is
/// configured; otherwise the check grades no backup against no limit.
async fn backup_age_check(ddb: &aws_sdk_dynamodb::Client, cfg: &BackupConfig, table: &str, r: &str, now: DateTime<Utc>) -> CheckResult {
    if cfg.max_backup_age_hours.is_none() {
        return backup::backup_age(cfg, table, r, None, now);
    }
    // Every page: ListBackups returns at most 100 a page, oldest first, and the newest is on the
    // last ("LastEvaluatedBackupArn ... use it as ExclusiveStartBackupArn", ListBackups).
    let mut newest = None;
    let mut start: Option<String> = None;
    loop {
        match ddb
            .list_backups()
            .table_name(table)
            .set_exclusive_start_backup_arn(start.take())
            .send()
            .await
        {
            Ok(l) => {
                let page = l
                    .backup_summaries()
                    .iter()
                    .filter_map(|b| b.backup_creation_date_time())
                    .filter_map(tables::to_utc)
                    .max();
                newest = newest.max(page);
                match l.last_evaluated_backup_arn() {
                    Some(arn) => start = Some(arn.to_owned()),
                    None => break,
                }
            }
            Err(e) => return CheckResult::new(table, r, "on-demand-backup", Status::Fail, None, api_error("ListBackups", e)),
        }
    }
    backup::backup_age(cfg, table, r, newest, now)
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

    pub(crate) fn dynamodb(&self, region: &Region) -> aws_sdk_dynamodb::Client {
        self.fixed
            .as_ref()
            .map_or_else(|| self.clients.dynamodb(region), |(d, _)| d.clone())
    }

    pub(crate) fn cloudwatch(&self, region: &Region) -> aws_sdk_cloudwatch::Client {
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
        let (created, replicas) = match tables::describe(&ddb, table).await {
            Ok(t) => {
                let replicas: BTreeMap<String, String> = t
                    .replicas
                    .into_iter()
                    .map(|(region, status)| (region, status.unwrap_or_else(|| "UNKNOWN".to_owned())))
                    .collect();
                (t.created, Some(replicas))
            }
            Err(e) => {
                out.push(CheckResult::new(table, r, "table", Status::Fail, None, tables::reading_failed(&e)));
                (None, None)
            }
        };
        out.extend(pitr_checks(&ddb, cfg, table, r, created, now).await);
        let expected: Vec<String> = config.regions.keys().map(|r| r.to_string()).collect();
        if let Some(found) = &replicas {
            out.push(backup::replicas(cfg, table, r, found, &expected));
        }
        out.extend(self.latency_checks(config, table, region).await);
        out.push(backup_age_check(&ddb, cfg, table, r, now).await);
        out
    }

    /// The replication latency to each peer region, one check per peer. Without global tables
    /// nothing is read, and each check grades the absent figure.
    async fn latency_checks(&self, config: &SuiteConfig, table: &str, region: &Region) -> Vec<CheckResult> {
        let cfg = &config.backup;
        let r = region.as_str();
        let mut out = Vec::new();
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
            .map_err(|e| format!("GetMetricData ReplicationLatency: {}", said(&e)))?;
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

    /// The checks, with the RPO probe from `home` where configured. The restore drill is taken
    /// a step at a time by the caller, who keeps its state ([`Self::drill_start`],
    /// [`Self::drill_advance`]).
    pub async fn run(&self, config: &SuiteConfig, home: &Region) -> BackupReport {
        let now = Utc::now();
        let mut checks = self.check_all(config, now).await;
        if let Some(probe) = &config.backup.rpo_probe {
            checks.extend(self.rpo_probe(config, home, probe).await);
        }
        BackupReport {
            at: now,
            checks,
            drill: None,
            drill_progress: None,
        }
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
    use aws_sdk_dynamodb::operation::delete_table::DeleteTableOutput;
    use aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
    use aws_sdk_dynamodb::operation::restore_table_to_point_in_time::RestoreTableToPointInTimeOutput;
    use aws_sdk_dynamodb::types::TableStatus;
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

    #[tokio::test]
    async fn the_newest_on_demand_backup_is_found_on_the_last_page_of_list_backups() {
        use aws_sdk_dynamodb::operation::list_backups::ListBackupsOutput;
        use aws_sdk_dynamodb::types::BackupSummary;
        let now = Utc::now();
        let summary = |arn: &str, at: DateTime<Utc>| {
            BackupSummary::builder()
                .backup_arn(arn)
                .backup_creation_date_time(smithy(at))
                .build()
        };
        let pages = mock!(Ddb::list_backups)
            .sequence()
            .output(move || {
                ListBackupsOutput::builder()
                    .backup_summaries(summary("arn:old-1", now - chrono::Duration::days(30)))
                    .backup_summaries(summary("arn:old-2", now - chrono::Duration::days(20)))
                    .last_evaluated_backup_arn("arn:old-2")
                    .build()
            })
            .output(move || {
                ListBackupsOutput::builder()
                    .backup_summaries(summary("arn:new", now - chrono::Duration::hours(2)))
                    .build()
            })
            .build();
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&pages]);
        let mut cfg = config().backup;
        cfg.max_backup_age_hours = Some(24);
        let checked = backup_age_check(&ddb, &cfg, "aworld-orders", "eu-south-1", now).await;
        assert_eq!(checked.status, Status::Pass, "{checked:?}");
        assert_eq!(pages.num_calls(), 2, "both pages read");
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
    async fn a_restore_holding_writes_after_its_time_fails_and_the_scratch_table_and_canaries_are_still_deleted() {
        use crate::decide::restore_drill::{DrillState, Phase};
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
        use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
        let now = Utc::now();
        let mut state = DrillState::new(
            "aworld-orders",
            "eu-north-1",
            ("id", None),
            "d1",
            now - chrono::Duration::minutes(30),
            &["before-0".into(), "before-1".into()],
        );
        state.phase = Phase::Restoring;
        state.submitted_at = Some(now - chrono::Duration::minutes(20));
        let describe = mock!(Ddb::describe_table)
            .match_requests(|r| r.table_name() == Some("aworld-orders-drill-d1"))
            .then_output(move || {
                DescribeTableOutput::builder()
                    .table(table("aworld-orders-drill-d1", TableStatus::Active, now))
                    .build()
            });
        // A restore of the data as it is now (not as of the restore time): the canaries' later
        // values, and the late canary present.
        let get = mock!(Ddb::get_item).then_compute_output(|req| {
            let key = req
                .key()
                .and_then(|k| k.get("id"))
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let value = if key.ends_with("#late") {
                "late".to_owned()
            } else {
                "after-x".to_owned()
            };
            GetItemOutput::builder()
                .item("id", AttributeValue::S(key))
                .item(crate::decide::restore_drill::CANARY_ATTRIBUTE, AttributeValue::S(value))
                .build()
        });
        let delete = mock!(Ddb::delete_table)
            .match_requests(|r| r.table_name() == Some("aworld-orders-drill-d1"))
            .then_output(|| DeleteTableOutput::builder().build());
        let delete_items = mock!(Ddb::delete_item)
            .match_requests(|r| r.table_name() == Some("aworld-orders"))
            .then_output(|| DeleteItemOutput::builder().build());
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &get, &delete, &delete_items]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&latency(vec![])]);
        let drill = config().backup.drill.unwrap();
        let turn = inspector(ddb, cw).drill_advance(&drill, state, now).await;
        let report = turn.report.expect("the drill is over");
        assert!(turn.state.is_none(), "nothing left to do");
        assert_eq!(report.status, Status::Fail, "{report:?}");
        assert_eq!((report.sampled, report.mismatched), (3, 3), "{}", report.detail);
        assert!(report.detail.contains("written after the restore time"), "{}", report.detail);
        assert!((report.restore_seconds.unwrap() - 1200.0).abs() < 1.0);
        assert!(report.cleaned_up);
        assert_eq!(delete.num_calls(), 1, "the scratch table is deleted even though validation failed");
        assert_eq!(
            delete_items.num_calls(),
            3,
            "both canaries and the late one are deleted from the source"
        );
    }

    #[tokio::test]
    async fn a_restore_time_pitr_has_not_reached_is_never_submitted() {
        use crate::decide::restore_drill::{DrillState, Phase};
        let now = Utc::now();
        let mut state = DrillState::new("aworld-orders", "eu-north-1", ("id", None), "d2", now, &["before-0".into()]);
        state.restore_time = now + chrono::Duration::seconds(1);
        // LatestRestorableDateTime is typically 5 minutes behind (PointInTimeRecoveryDescription).
        let backups = mock!(Ddb::describe_continuous_backups)
            .then_output(move || pitr(now - chrono::Duration::minutes(5), now - chrono::Duration::days(1)));
        let restore = mock!(Ddb::restore_table_to_point_in_time).then_output(|| RestoreTableToPointInTimeOutput::builder().build());
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&backups, &restore]);
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&latency(vec![])]);
        let drill = config().backup.drill.unwrap();
        let turn = inspector(ddb, cw).drill_advance(&drill, state, now).await;
        assert!(turn.report.is_none());
        let kept = turn.state.expect("still in progress");
        assert_eq!((kept.phase, kept.steps), (Phase::AwaitingPitr, 2));
        assert!(turn.progress.contains("waiting for point-in-time recovery"), "{}", turn.progress);
        assert_eq!(restore.num_calls(), 0);
    }
}
