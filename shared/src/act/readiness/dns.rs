//! Reading DNS, once per check for every region (Route 53 is global): the weighted records,
//! their health checks, the routing controls, Route 53's own answer and the zone's accelerated
//! recovery. Everything a drain goes through is read on a quiet day, so that a drain that
//! could not happen is known before it is needed.

use super::read::failure;
use super::{CheckInputs, ReadinessProbe};
use crate::act::dns_records;
use crate::config::{Strategy, SuiteConfig};
use crate::decide::readiness::{self as grade, Area, Grade, Item, RecordFacts};
use crate::model::Region;
use std::collections::BTreeMap;

impl ReadinessProbe {
    /// DNS, from Route 53's control plane: each configured region's record and its health
    /// check, the routing controls, the answer a resolver gets, accelerated recovery. Records
    /// that could not be listed are the only item: nothing else can be matched to a region.
    pub(super) async fn dns(&self, config: &SuiteConfig, inputs: &CheckInputs) -> Vec<Item> {
        let us_east_1: Region = crate::aws::clients::ROUTE53_CONTROL_PLANE_REGION
            .parse()
            .unwrap_or_else(|_| unreachable!("a region code"));
        let r53 = client!(self, aws_sdk_route53, &us_east_1);
        let records = match list_records(&r53, config).await {
            Ok(records) => records,
            Err(unread) => return vec![unread],
        };
        let mut items = Vec::new();
        for region in config.dns.records.keys() {
            let found = records.get(region);
            items.push(grade::grade_record(config, region, found));
            if let Some(id) = found.and_then(|r| r.health_check_id.as_deref()) {
                items.push(health_check(&r53, config, region, id).await);
            }
        }
        items.extend(self.routing_controls(config).await);
        items.push(answer(&r53, config, inputs, &records).await);
        items.push(accelerated_recovery(&r53, &config.dns.hosted_zone_id).await);
        items
    }

    /// Whether each routing control answers through the cluster, when the routing-control
    /// strategy is configured (none otherwise): a control no endpoint answers cannot drain.
    async fn routing_controls(&self, config: &SuiteConfig) -> Vec<Item> {
        let Some(rc) = config
            .dns
            .routing_control
            .as_ref()
            .filter(|_| config.dns.strategies.contains(&Strategy::RoutingControl))
        else {
            return vec![];
        };
        let switches = crate::act::traffic::TrafficSwitches::new(config, &self.clients);
        let mut items = Vec::new();
        for (region, arn) in &rc.controls {
            let item = format!("routing control of {region}");
            items.push(match switches.holds(Strategy::RoutingControl, region).await {
                Ok(drained) => Item::pass(
                    Area::Dns,
                    "global",
                    item,
                    format!("{arn} answers through the cluster ({})", if drained { "Off" } else { "On" }),
                ),
                Err(e) => Item::new(
                    Area::Dns,
                    "global",
                    item,
                    Grade::Fail,
                    format!("{arn} does not answer through any cluster endpoint: {e}"),
                    "check dns.routing_control (control ARN, cluster endpoints) against the ARC cluster",
                ),
            });
        }
        items
    }
}

/// The record set of the protected name (weighted records: one per set identifier), each
/// configured region's record found by set identifier; or, if it could not be listed, the
/// item saying so.
async fn list_records(r53: &aws_sdk_route53::Client, config: &SuiteConfig) -> Result<BTreeMap<Region, RecordFacts>, Item> {
    dns_records::records(r53, config).await.map_err(|e| {
        grade::unreadable(
            Area::Dns,
            "global",
            format!("records of {}", config.dns.record_name),
            "route53:ListResourceRecordSets",
            &e,
        )
    })
}

/// The grade of health check `id`, which `region`'s record carries (one that does not exist
/// is graded as missing, one that could not be read as unread).
async fn health_check(r53: &aws_sdk_route53::Client, config: &SuiteConfig, region: &Region, id: &str) -> Item {
    match dns_records::health_check(r53, id).await {
        Ok(facts) => grade::grade_health_check(config, region, id, facts.as_ref()),
        Err(e) => grade::unreadable(
            Area::Dns,
            "global",
            format!("health check {id} ({region})"),
            "route53:GetHealthCheck",
            &e,
        ),
    }
}

/// What a resolver gets now, from Route 53 itself (TestDNSAnswer), graded against the
/// drained regions the suite recorded (a warning when those could not be read).
async fn answer(
    r53: &aws_sdk_route53::Client,
    config: &SuiteConfig,
    inputs: &CheckInputs,
    records: &BTreeMap<Region, RecordFacts>,
) -> Item {
    let answer_item = "answer agrees with the recorded state";
    // One answer is one weighted draw: a drained region still answered would be missed half
    // the time at 50/50. Enough answers to rule chance out (`decide::dns_moved`, one look).
    let samples = inputs.recorded_drained.as_ref().map_or(1, |drained| {
        drained
            .iter()
            .filter_map(|r| {
                let serving = config.dns.records.get(r).map_or(0, |c| c.weight);
                let others = records
                    .iter()
                    .filter(|(o, _)| *o != r)
                    .map(|(_, f)| f.weight.unwrap_or(0).max(0))
                    .sum();
                crate::decide::dns_moved::answers_needed(serving, others, 1)
            })
            .max()
            .unwrap_or(1)
    });
    let mut seen = std::collections::BTreeSet::new();
    let mut failed = None;
    for i in 0..samples {
        match dns_records::answer(r53, config).await {
            Ok(values) => seen.extend(values),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        if i + 1 < samples {
            tokio::time::sleep(std::time::Duration::from_millis(config.dns.answer_sample_ms)).await;
        }
    }
    let answered: Result<Vec<String>, _> = match failed {
        Some(e) => Err(e),
        None => Ok(seen.into_iter().collect()),
    };
    match answered {
        Ok(values) => match &inputs.recorded_drained {
            Some(drained) => {
                let mut graded = grade::grade_answer(&values, records, drained);
                if samples > 1 {
                    graded.detail = format!("{} (over {samples} answers, enough to rule chance out)", graded.detail);
                }
                graded
            }
            None => Item::new(
                Area::Dns,
                "global",
                answer_item,
                Grade::Warn,
                format!("Route 53 answers {:?}; the recorded state could not be read to compare", values),
                "check the state table (`resilience status`)",
            ),
        },
        Err(e) => grade::unreadable(Area::Dns, "global", answer_item, "route53:TestDNSAnswer", &e),
    }
}

/// Whether `zone` has accelerated recovery, which keeps record changes possible while
/// us-east-1 is impaired ("Enabling accelerated recovery for managing public DNS records":
/// HostedZone.Features); without it a control-plane drain depends on us-east-1, so it warns.
async fn accelerated_recovery(r53: &aws_sdk_route53::Client, zone: &str) -> Item {
    let item = format!("accelerated recovery of zone {zone}");
    match r53.get_hosted_zone().id(zone).send().await {
        Ok(out) => {
            let status = out
                .hosted_zone()
                .and_then(|z| z.features())
                .and_then(|f| f.accelerated_recovery_status())
                .map(|s| s.as_str().to_owned());
            match status.as_deref() {
                Some("ENABLED") => Item::pass(Area::Dns, "global", item, "enabled"),
                other => Item::new(
                    Area::Dns,
                    "global",
                    item,
                    Grade::Warn,
                    format!(
                        "accelerated recovery is {}: a control-plane drain depends on us-east-1",
                        other.unwrap_or("not enabled")
                    ),
                    "UpdateHostedZoneFeatures with EnableAcceleratedRecovery (public zones)",
                ),
            }
        }
        Err(e) => grade::unreadable(Area::Dns, "global", item, "route53:GetHostedZone", &failure(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::test_support::{config, grades, probe, region};
    use super::*;
    use aws_smithy_mocks::{Rule, mock};
    use std::collections::BTreeSet;

    fn dns_rules(answer: &'static str, accelerated: aws_sdk_route53::types::AcceleratedRecoveryStatus) -> Vec<Rule> {
        use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneOutput;
        use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
        use aws_sdk_route53::operation::test_dns_answer::TestDnsAnswerOutput;
        use aws_sdk_route53::types::*;
        let record = |id: &str, value: &str, check: &str| {
            ResourceRecordSet::builder()
                .name("api.aworld.example.")
                .r#type(RrType::A)
                .set_identifier(id)
                .weight(100)
                .ttl(60)
                .health_check_id(check)
                .resource_records(ResourceRecord::builder().value(value).build().unwrap())
                .build()
                .unwrap()
        };
        let (south, north) = (
            record("eu-south-1", "192.0.2.20", "hc-south"),
            record("eu-north-1", "192.0.2.10", "hc-north"),
        );
        vec![
            mock!(aws_sdk_route53::Client::list_resource_record_sets).then_output(move || {
                ListResourceRecordSetsOutput::builder()
                    .resource_record_sets(south.clone())
                    .resource_record_sets(north.clone())
                    .is_truncated(false)
                    .max_items(100)
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_route53::Client::get_health_check)
                .match_requests(|r| r.health_check_id() == Some("hc-south"))
                .then_output(|| health_check("hc-south", "aworld-drained-eu-south-1", CloudWatchRegion::EuNorth1)),
            mock!(aws_sdk_route53::Client::get_health_check)
                .match_requests(|r| r.health_check_id() == Some("hc-north"))
                .then_output(|| health_check("hc-north", "aworld-drained-eu-north-1", CloudWatchRegion::EuSouth1)),
            mock!(aws_sdk_route53::Client::test_dns_answer).then_output(move || {
                TestDnsAnswerOutput::builder()
                    .nameserver("ns-1.awsdns-01.org")
                    .record_name("api.aworld.example.")
                    .record_type(RrType::A)
                    .record_data(answer)
                    .response_code("NOERROR")
                    .protocol("UDP")
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_route53::Client::get_hosted_zone).then_output(move || {
                GetHostedZoneOutput::builder()
                    .hosted_zone(
                        HostedZone::builder()
                            .id("Z0AWORLDEXAMPLE")
                            .name("aworld.example.")
                            .caller_reference("r")
                            .features(
                                HostedZoneFeatures::builder()
                                    .accelerated_recovery_status(accelerated.clone())
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
        ]
    }

    fn health_check(
        id: &str,
        alarm: &str,
        alarm_region: aws_sdk_route53::types::CloudWatchRegion,
    ) -> aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput {
        use aws_sdk_route53::types::*;
        aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput::builder()
            .health_check(
                HealthCheck::builder()
                    .id(id)
                    .caller_reference(id)
                    .health_check_version(1)
                    .health_check_config(
                        HealthCheckConfig::builder()
                            .r#type(HealthCheckType::CloudwatchMetric)
                            .alarm_identifier(AlarmIdentifier::builder().region(alarm_region).name(alarm).build().unwrap())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_dns_answer_naming_a_drained_region_fails_and_one_naming_a_serving_region_passes() {
        use aws_sdk_route53::types::AcceleratedRecoveryStatus;
        let drained = CheckInputs {
            config_parameter: None,
            config_signer: None,
            recorded_drained: Some(BTreeSet::from([region("eu-south-1")])),
        };
        let items = probe(&dns_rules("192.0.2.20", AcceleratedRecoveryStatus::Enabled))
            .dns(&config(), &drained)
            .await;
        let answer = items.iter().find(|i| i.item.starts_with("answer")).unwrap();
        assert_eq!(answer.grade, Grade::Fail, "{answer:?}");
        assert!(answer.detail.contains("eu-south-1"), "{answer:?}");
        assert_eq!(
            items.iter().filter(|i| i.grade != Grade::Pass).count(),
            1,
            "records, health checks and accelerated recovery pass: {:#?}",
            grades(&items)
        );

        let items = probe(&dns_rules("192.0.2.10", AcceleratedRecoveryStatus::Disabled))
            .dns(&config(), &drained)
            .await;
        let answer = items.iter().find(|i| i.item.starts_with("answer")).unwrap();
        assert_eq!(answer.grade, Grade::Pass, "{answer:?}");
        let accelerated = items.iter().find(|i| i.item.starts_with("accelerated")).unwrap();
        assert_eq!(
            accelerated.grade,
            Grade::Warn,
            "a zone without accelerated recovery warns: {accelerated:?}"
        );
    }
}
