//! The one reader of DynamoDB tables: DescribeTable (status, creation time, replicas, key
//! schema) and DescribeContinuousBackups (point-in-time recovery), into typed facts; a failure
//! is one [`ReadError`] (a table that does not exist is `Missing`).

use crate::model::{ReadError, classify};
use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A table as DescribeTable gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableFacts {
    pub status: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// Each replica's region and status (global tables).
    pub replicas: BTreeMap<String, Option<String>>,
    /// The key attributes: name, whether it is the partition (hash) key, whether it is a string.
    pub keys: Vec<KeyFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    pub name: String,
    pub partition: bool,
    pub string: bool,
}

/// Point-in-time recovery as DescribeContinuousBackups gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PitrFacts {
    /// `ENABLED`, `DISABLED`, … (absent when the table has no description).
    pub status: Option<String>,
    pub period_days: Option<i32>,
    pub earliest: Option<DateTime<Utc>>,
    /// "LatestRestorableDateTime … typically 5 minutes before the current time"
    /// (PointInTimeRecoveryDescription).
    pub latest: Option<DateTime<Utc>>,
}

impl PitrFacts {
    pub fn enabled(&self) -> bool {
        self.status.as_deref() == Some("ENABLED")
    }
}

pub(crate) fn to_utc(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// DescribeTable of `table`.
pub async fn describe(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<TableFacts, ReadError> {
    let out = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| classify("DescribeTable", &e))?;
    let Some(t) = out.table() else {
        return Ok(TableFacts::default());
    };
    let kind = |name: &str| {
        t.attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == name)
            .map(|a| a.attribute_type().clone())
    };
    Ok(TableFacts {
        status: t.table_status().map(|s| s.as_str().to_owned()),
        created: t.creation_date_time().and_then(to_utc),
        replicas: t
            .replicas()
            .iter()
            .filter_map(|r| Some((r.region_name()?.to_owned(), r.replica_status().map(|s| s.as_str().to_owned()))))
            .collect(),
        keys: t
            .key_schema()
            .iter()
            .map(|k| KeyFacts {
                name: k.attribute_name().to_owned(),
                partition: *k.key_type() == KeyType::Hash,
                string: kind(k.attribute_name()) == Some(ScalarAttributeType::S),
            })
            .collect(),
    })
}

/// DescribeContinuousBackups of `table`.
pub async fn pitr(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<PitrFacts, ReadError> {
    let out = ddb
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .map_err(|e| classify("DescribeContinuousBackups", &e))?;
    let p = out
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description());
    Ok(PitrFacts {
        status: p.and_then(|p| p.point_in_time_recovery_status()).map(|s| s.as_str().to_owned()),
        period_days: p.and_then(|p| p.recovery_period_in_days()),
        earliest: p.and_then(|p| p.earliest_restorable_date_time()).and_then(to_utc),
        latest: p.and_then(|p| p.latest_restorable_date_time()).and_then(to_utc),
    })
}

/// A table reading's failure in the words of the backup report: the call, what it means
/// (`table not found`, `access denied`, `throttled`, `API error`) and what AWS said.
pub fn reading_failed(e: &ReadError) -> String {
    use crate::model::ReadErrorKind;
    let kind = match e.kind {
        ReadErrorKind::Missing => "table not found",
        ReadErrorKind::Denied => "access denied",
        ReadErrorKind::Throttled => "throttled",
        _ => "API error",
    };
    format!("{}: {kind}: {}", e.call, e.said())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::ReadErrorKind;
    use aws_sdk_dynamodb::operation::describe_table::{DescribeTableError, DescribeTableOutput};
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, KeySchemaElement, ReplicaDescription, ReplicaStatus, TableDescription, TableStatus,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    #[tokio::test]
    async fn a_table_is_read_into_its_status_replicas_and_keys() {
        let rule = mock!(aws_sdk_dynamodb::Client::describe_table).then_output(|| {
            DescribeTableOutput::builder()
                .table(
                    TableDescription::builder()
                        .table_status(TableStatus::Active)
                        .replicas(
                            ReplicaDescription::builder()
                                .region_name("eu-north-1")
                                .replica_status(ReplicaStatus::Active)
                                .build(),
                        )
                        .key_schema(
                            KeySchemaElement::builder()
                                .attribute_name("pk")
                                .key_type(KeyType::Hash)
                                .build()
                                .unwrap(),
                        )
                        .attribute_definitions(
                            AttributeDefinition::builder()
                                .attribute_name("pk")
                                .attribute_type(ScalarAttributeType::N)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
        });
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let t = describe(&ddb, "orders").await.unwrap();
        assert_eq!(t.status.as_deref(), Some("ACTIVE"));
        assert_eq!(t.replicas["eu-north-1"].as_deref(), Some("ACTIVE"));
        assert_eq!(
            t.keys,
            vec![KeyFacts {
                name: "pk".into(),
                partition: true,
                string: false
            }]
        );
    }

    #[tokio::test]
    async fn a_missing_table_is_missing_and_reported_in_the_reports_words() {
        let rule = mock!(aws_sdk_dynamodb::Client::describe_table).then_error(|| {
            DescribeTableError::generic(
                ErrorMetadata::builder()
                    .code("ResourceNotFoundException")
                    .message("Requested resource not found")
                    .build(),
            )
        });
        let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let e = describe(&ddb, "gone").await.unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Missing);
        assert_eq!(
            reading_failed(&e),
            "DescribeTable: table not found: ResourceNotFoundException: Requested resource not found"
        );
    }
}
