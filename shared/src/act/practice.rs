//! The practice failover drill's reads and writes: the trigger alarms (`SetAlarmState`), the
//! guard alarms in every region (`DescribeAlarms`), and what Route 53 answers for the practice
//! name (`TestDNSAnswer`, with the records' values from `ListResourceRecordSets` to tell which
//! region an answer is).

use crate::aws::clients::AwsClients;
use crate::config::SuiteConfig;
use crate::model::Region;
use aws_sdk_cloudwatch::error::DisplayErrorContext;
use aws_sdk_cloudwatch::types::StateValue;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct PracticeApi {
    clients: AwsClients,
}

impl PracticeApi {
    pub fn new(clients: &AwsClients) -> Self {
        PracticeApi { clients: clients.clone() }
    }

    /// Sets every alarm in `names` (in `region`) to `ALARM` or `OK`. `SetAlarmState` changes an
    /// alarm's state until its next evaluation; the practice alarms watch a metric nobody
    /// publishes with `TreatMissingData: ignore`, so the state stays as set.
    pub async fn set_alarms(&self, region: &Region, names: &[String], alarm: bool, reason: &str) -> Result<(), String> {
        let cw = self.clients.cloudwatch(region);
        for name in names {
            cw.set_alarm_state()
                .alarm_name(name)
                .state_value(if alarm { StateValue::Alarm } else { StateValue::Ok })
                .state_reason(reason)
                .send()
                .await
                .map_err(|e| format!("cloudwatch:SetAlarmState {name} in {region}: {}", DisplayErrorContext(e)))?;
        }
        Ok(())
    }

    /// Whether the alarm `name` in `region` is in ALARM, and since when (its state-change time):
    /// read from CloudWatch, never taken from a delivered event.
    pub async fn alarm_state(&self, region: &Region, name: &str) -> Result<(bool, chrono::DateTime<chrono::Utc>), String> {
        let out = self
            .clients
            .cloudwatch(region)
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .map_err(|e| format!("cloudwatch:DescribeAlarms {name} in {region}: {}", DisplayErrorContext(e)))?;
        let a = out
            .metric_alarms()
            .first()
            .ok_or_else(|| format!("alarm {name} does not exist in {region}"))?;
        let at = a
            .state_updated_timestamp()
            .and_then(|t| chrono::DateTime::from_timestamp_millis(t.to_millis().ok()?))
            .ok_or_else(|| format!("alarm {name} in {region} has no state-change time"))?;
        Ok((a.state_value() == Some(&StateValue::Alarm), at))
    }

    /// Of `names`, those in ALARM in any configured region, and those found in none.
    pub async fn firing(&self, config: &SuiteConfig, names: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
        if names.is_empty() {
            return Ok((vec![], vec![]));
        }
        let mut firing = BTreeSet::new();
        let mut found = BTreeSet::new();
        for region in config.regions.keys() {
            // DescribeAlarms takes up to 100 names per call.
            for chunk in names.chunks(100) {
                let out = self
                    .clients
                    .cloudwatch(region)
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| format!("cloudwatch:DescribeAlarms in {region}: {}", DisplayErrorContext(e)))?;
                for a in out.metric_alarms() {
                    let name = a.alarm_name().unwrap_or_default().to_owned();
                    if a.state_value() == Some(&StateValue::Alarm) {
                        firing.insert(name.clone());
                    }
                    found.insert(name);
                }
            }
        }
        let missing = names.iter().filter(|n| !found.contains(*n)).cloned().collect();
        Ok((firing.into_iter().collect(), missing))
    }

    /// The value Route 53 answers for `config.dns.record_name` now, and the region it belongs
    /// to by `owners` (None: no configured region's record holds it).
    pub async fn answer(&self, config: &SuiteConfig, owners: &BTreeMap<String, Region>) -> Result<(Vec<String>, Option<Region>), String> {
        let r53 = self.clients.route53();
        let out = r53
            .test_dns_answer()
            .hosted_zone_id(&config.dns.hosted_zone_id)
            .record_name(&config.dns.record_name)
            .record_type(aws_sdk_route53::types::RrType::A)
            .send()
            .await
            .map_err(|e| format!("route53:TestDNSAnswer: {}", aws_sdk_route53::error::DisplayErrorContext(e)))?;
        let values = out.record_data().to_vec();
        let region = values.iter().find_map(|v| owners.get(v).cloned());
        Ok((values, region))
    }

    /// Each record value of the name, by the region whose set identifier holds it.
    pub async fn owners(&self, config: &SuiteConfig) -> Result<BTreeMap<String, Region>, String> {
        let out = self
            .clients
            .route53()
            .list_resource_record_sets()
            .hosted_zone_id(&config.dns.hosted_zone_id)
            .start_record_name(&config.dns.record_name)
            .send()
            .await
            .map_err(|e| format!("route53:ListResourceRecordSets: {}", aws_sdk_route53::error::DisplayErrorContext(e)))?;
        let mut owners = BTreeMap::new();
        for rrs in out.resource_record_sets().iter().filter(|r| r.name() == config.dns.record_name) {
            let region = config
                .dns
                .records
                .iter()
                .find(|(_, r)| Some(r.set_identifier.as_str()) == rrs.set_identifier())
                .map(|(region, _)| region.clone());
            if let Some(region) = region {
                for v in rrs.resource_records() {
                    owners.insert(v.value().to_owned(), region.clone());
                }
            }
        }
        Ok(owners)
    }
}
