//! The one reader of Route 53 records: the record sets of the protected name
//! (ListResourceRecordSets), each configured region's record among them, Route 53's own answer
//! (TestDNSAnswer), a health check (GetHealthCheck) and its checkers' reports
//! (GetHealthCheckStatus), into typed facts; a failure is one
//! [`ReadError`]. Each takes the client, so a caller that counts or mocks its calls passes its own.

use crate::config::SuiteConfig;
use crate::decide::readiness::{HealthCheckFacts, RecordFacts};
use crate::model::{ReadError, ReadErrorKind, Region, classify};
use aws_sdk_route53::types::{ResourceRecordSet, RrType};
use std::collections::BTreeMap;

/// The record sets from `name` on in `zone`: one page (up to 100), which holds every weighted
/// record of one name.
pub async fn record_sets(r53: &aws_sdk_route53::Client, zone: &str, name: &str) -> Result<Vec<ResourceRecordSet>, ReadError> {
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .max_items(100)
        .send()
        .await
        .map_err(|e| classify(format!("route53:ListResourceRecordSets {zone} {name}"), &e))?;
    Ok(out.resource_record_sets().to_vec())
}

/// Each configured region's record of the protected name.
pub async fn records(r53: &aws_sdk_route53::Client, config: &SuiteConfig) -> Result<BTreeMap<Region, RecordFacts>, ReadError> {
    let sets = record_sets(r53, &config.dns.hosted_zone_id, &config.dns.record_name).await?;
    Ok(record_facts(&config.dns, &sets))
}

/// What Route 53 answers for the protected name now (TestDNSAnswer, type A).
pub async fn answer(r53: &aws_sdk_route53::Client, config: &SuiteConfig) -> Result<Vec<String>, ReadError> {
    answer_for(r53, &config.dns.hosted_zone_id, &config.dns.record_name).await
}

/// What Route 53 answers for `name` in `zone` now (TestDNSAnswer, type A): one weighted record
/// per query, chosen by weight among the healthy ones.
pub async fn answer_for(r53: &aws_sdk_route53::Client, zone: &str, name: &str) -> Result<Vec<String>, ReadError> {
    let out = r53
        .test_dns_answer()
        .hosted_zone_id(zone)
        .record_name(name)
        .record_type(RrType::A)
        .send()
        .await
        .map_err(|e| classify("route53:TestDNSAnswer", &e))?;
    Ok(out.record_data().to_vec())
}

/// Health check `id`: `None` when it does not exist. GetHealthCheck always gives a
/// CLOUDWATCH_METRIC check its AlarmIdentifier (required by CreateHealthCheck for that type):
/// one without it is an answer that cannot be graded.
pub async fn health_check(r53: &aws_sdk_route53::Client, id: &str) -> Result<Option<HealthCheckFacts>, ReadError> {
    let out = match r53.get_health_check().health_check_id(id).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = classify("route53:GetHealthCheck", &e);
            return if e.kind == ReadErrorKind::Missing { Ok(None) } else { Err(e) };
        }
    };
    let Some(c) = out.health_check().and_then(|h| h.health_check_config()) else {
        return Ok(None);
    };
    if c.r#type().as_str() == "CLOUDWATCH_METRIC" && c.alarm_identifier().is_none() {
        return Err(ReadError::other(
            "route53:GetHealthCheck",
            "a CLOUDWATCH_METRIC health check was described without its AlarmIdentifier",
        ));
    }
    Ok(Some(HealthCheckFacts {
        kind: c.r#type().as_str().to_owned(),
        inverted: c.inverted().unwrap_or(false),
        alarm_name: c.alarm_identifier().map(|a| a.name().to_owned()),
        alarm_region: c.alarm_identifier().map(|a| a.region().as_str().to_owned()),
        routing_control_arn: c.routing_control_arn().map(str::to_owned),
    }))
}

/// What each of Route 53's health checkers reports for health check `id` now (GetHealthCheckStatus:
/// "one HealthCheckObservation element for each Amazon Route 53 health checker"), `true` for
/// healthy: a report whose status begins "Success".
pub async fn health_check_status(r53: &aws_sdk_route53::Client, id: &str) -> Result<Vec<bool>, ReadError> {
    let out = r53
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| classify(format!("route53:GetHealthCheckStatus {id}"), &e))?;
    Ok(out
        .health_check_observations()
        .iter()
        .map(|o| o.status_report().and_then(|r| r.status()).is_some_and(|s| s.starts_with("Success")))
        .collect())
}

/// Each configured region's record of `dns.record_name` among `sets` (a
/// ListResourceRecordSets page), matched by set identifier.
pub fn record_facts(dns: &crate::config::DnsConfig, sets: &[aws_sdk_route53::types::ResourceRecordSet]) -> BTreeMap<Region, RecordFacts> {
    let want = dns.record_name.trim_end_matches('.');
    let sets: Vec<_> = sets.iter().filter(|s| s.name().trim_end_matches('.') == want).collect();
    dns.records
        .iter()
        .filter_map(|(region, rec)| {
            sets.iter()
                .find(|s| s.set_identifier() == Some(rec.set_identifier.as_str()))
                .map(|s| {
                    (
                        region.clone(),
                        RecordFacts {
                            weight: s.weight(),
                            ttl: s.ttl(),
                            health_check_id: s.health_check_id().map(str::to_owned),
                            values: s.resource_records().iter().map(|r| r.value().to_owned()).collect(),
                        },
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_route53::operation::get_health_check::{GetHealthCheckError, GetHealthCheckOutput};
    use aws_sdk_route53::types::{HealthCheck, HealthCheckConfig, HealthCheckType};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    fn check(config: HealthCheckConfig) -> GetHealthCheckOutput {
        GetHealthCheckOutput::builder()
            .health_check(
                HealthCheck::builder()
                    .id("hc")
                    .caller_reference("r")
                    .health_check_config(config)
                    .health_check_version(1)
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_missing_health_check_is_none_and_one_that_cannot_be_graded_is_a_read_error() {
        let missing = mock!(aws_sdk_route53::Client::get_health_check)
            .match_requests(|r| r.health_check_id() == Some("gone"))
            .then_error(|| GetHealthCheckError::generic(ErrorMetadata::builder().code("NoSuchHealthCheck").build()));
        let bare = mock!(aws_sdk_route53::Client::get_health_check)
            .match_requests(|r| r.health_check_id() == Some("bare"))
            .then_output(|| {
                check(
                    HealthCheckConfig::builder()
                        .r#type(HealthCheckType::CloudwatchMetric)
                        .build()
                        .unwrap(),
                )
            });
        let r53 = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&missing, &bare]);
        assert_eq!(health_check(&r53, "gone").await.unwrap(), None);
        let e = health_check(&r53, "bare").await.unwrap_err();
        assert_eq!((e.kind, e.call.as_str()), (ReadErrorKind::Other, "route53:GetHealthCheck"));
        assert!(e.message.contains("AlarmIdentifier"), "{e}");
    }

    #[tokio::test]
    async fn a_refused_answer_is_one_typed_read_error_naming_the_call() {
        use aws_sdk_route53::operation::test_dns_answer::TestDNSAnswerError;
        let rule = mock!(aws_sdk_route53::Client::test_dns_answer)
            .then_error(|| TestDNSAnswerError::generic(ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build()));
        let r53 = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&rule]);
        let config = SuiteConfig::from_json(crate::config::EXAMPLE).unwrap();
        let e = answer(&r53, &config).await.unwrap_err();
        assert_eq!((e.kind, e.call.as_str()), (ReadErrorKind::Throttled, "route53:TestDNSAnswer"));
    }
}
