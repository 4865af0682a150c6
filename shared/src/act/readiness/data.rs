//! Reading the data of a region: each protected table's point-in-time recovery and, for global
//! tables, the replicas this region sees. A region to fail over to must hold the data and be
//! able to restore it, so both are read from every region.

use super::ReadinessProbe;
use crate::act::tables;
use crate::config::SuiteConfig;
use crate::decide::readiness::{self as grade, Area, Grade, Item};
use crate::model::ReadErrorKind;
use crate::model::Region;
use std::collections::BTreeMap;

impl ReadinessProbe {
    /// Every protected table in `region`: its point-in-time recovery, and its replicas when
    /// the tables are global.
    pub(super) async fn data(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let ddb = client!(self, aws_sdk_dynamodb, region);
        let mut items = Vec::new();
        for table in &config.protected_tables {
            items.push(pitr(&ddb, config, region, table).await);
            if config.backup.global_tables {
                items.push(replicas(&ddb, config, region, table).await);
            }
        }
        items
    }
}

/// The grade of `table`'s point-in-time recovery in `region` (a table missing here is a
/// missing replica).
async fn pitr(ddb: &aws_sdk_dynamodb::Client, config: &SuiteConfig, region: &Region, table: &str) -> Item {
    let item = format!("point-in-time recovery of {table}");
    match tables::pitr(ddb, table).await {
        Ok(p) => grade::grade_pitr(
            table,
            region,
            p.status.as_deref(),
            p.period_days,
            config.backup.recovery_period_days,
        ),
        Err(e) if e.kind == ReadErrorKind::Missing => Item::new(
            Area::Data,
            region.as_str(),
            item,
            Grade::Fail,
            format!("table {table} has no replica in {region}"),
            "add the replica to the global table, or remove the region",
        ),
        Err(e) => grade::unreadable(Area::Data, region.as_str(), item, "dynamodb:DescribeContinuousBackups", &e),
    }
}

/// The grade of `table`'s replicas as `region` sees them (DescribeTable's replica list).
async fn replicas(ddb: &aws_sdk_dynamodb::Client, config: &SuiteConfig, region: &Region, table: &str) -> Item {
    match tables::describe(ddb, table).await {
        Ok(t) => {
            let replicas: BTreeMap<String, String> = t.replicas.into_iter().map(|(r, s)| (r, s.unwrap_or_default())).collect();
            grade::grade_replicas(config, table, region, &replicas)
        }
        Err(e) => grade::unreadable(
            Area::Data,
            region.as_str(),
            format!("replicas of {table} seen from {region}"),
            "dynamodb:DescribeTable",
            &e,
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::test_support::{config, grades, probe, region};
    use super::*;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn every_peer_replica_must_be_active_and_pitr_on_with_the_configured_period() {
        use aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput;
        use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
        use aws_sdk_dynamodb::types::*;
        let pitr = |days: i32| {
            mock!(aws_sdk_dynamodb::Client::describe_continuous_backups)
                .sequence()
                .output(move || {
                    DescribeContinuousBackupsOutput::builder()
                        .continuous_backups_description(
                            ContinuousBackupsDescription::builder()
                                .continuous_backups_status(ContinuousBackupsStatus::Enabled)
                                .point_in_time_recovery_description(
                                    PointInTimeRecoveryDescription::builder()
                                        .point_in_time_recovery_status(PointInTimeRecoveryStatus::Enabled)
                                        .recovery_period_in_days(days)
                                        .build(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .repeatedly()
                .build()
        };
        let table = |peer: ReplicaStatus| {
            mock!(aws_sdk_dynamodb::Client::describe_table)
                .sequence()
                .output(move || {
                    DescribeTableOutput::builder()
                        .table(
                            TableDescription::builder()
                                .replicas(
                                    ReplicaDescription::builder()
                                        .region_name("eu-south-1")
                                        .replica_status(ReplicaStatus::Active)
                                        .build(),
                                )
                                .replicas(
                                    ReplicaDescription::builder()
                                        .region_name("eu-north-1")
                                        .replica_status(peer.clone())
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                })
                .repeatedly()
                .build()
        };
        let items = probe(&[pitr(35), table(ReplicaStatus::Active)])
            .data(&config(), &region("eu-south-1"))
            .await;
        assert!(items.iter().all(|i| i.grade == Grade::Pass), "{:#?}", grades(&items));
        assert_eq!(items.len(), 4, "PITR and replicas of both protected tables");
        let items = probe(&[pitr(7), table(ReplicaStatus::Creating)])
            .data(&config(), &region("eu-south-1"))
            .await;
        let failing: Vec<&Item> = items.iter().filter(|i| i.grade == Grade::Fail).collect();
        assert_eq!(failing.len(), 4, "{:#?}", grades(&items));
        assert!(failing.iter().any(|i| i.detail.contains("eu-north-1 is CREATING")), "{failing:?}");
        assert!(
            failing.iter().any(|i| i.detail.contains("7 days of recovery, 35 configured")),
            "{failing:?}"
        );
    }
}
