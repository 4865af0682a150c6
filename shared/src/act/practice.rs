//! The practice failover drill's reads and writes: the trigger (its metric, published with the
//! drain metric's switch), the trigger and guard alarms (`DescribeAlarms`), and what Route 53 answers for the practice
//! name (`TestDNSAnswer`, with the records' values from `ListResourceRecordSets` to tell which
//! region an answer is).

use crate::act::traffic::health_metric::HealthMetricSwitch;
use crate::act::{alarms, dns_records};
use crate::aws::clients::AwsClients;
use crate::config::{PracticeDrillConfig, SuiteConfig};
use crate::model::AlarmState;
use crate::model::Region;
use crate::model::audit::{ActionRecord, Outcome};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
pub struct PracticeApi {
    clients: AwsClients,
}

impl PracticeApi {
    pub fn new(clients: &AwsClients) -> Self {
        PracticeApi { clients: clients.clone() }
    }

    /// Pulls (`pulled`) or releases the drill's trigger for `d.region`: the trigger metric
    /// published in the drilled region, where its trigger alarms live (as its health alarms
    /// do). The production drain metric's switch, with the trigger's names.
    pub async fn trigger(&self, config: &SuiteConfig, d: &PracticeDrillConfig, pulled: bool) -> ActionRecord {
        let switch = HealthMetricSwitch {
            metric: d.trigger_switch_metric(),
            clients: self.clients.clone(),
            regions: config.regions.keys().cloned().collect(),
        };
        let started = std::time::Instant::now();
        let mut record = match switch.set_at(&[&d.region], &d.region, pulled).await {
            Ok(r) => r,
            Err(e) => ActionRecord {
                action: e.action,
                outcome: Outcome::Failed,
                detail: e.message,
                millis: 0,
                confirm_ms: None,
            },
        };
        record.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        record
    }

    /// Whether the alarm `name` in `region` is in ALARM, and since when: its state-change time
    /// (`StateTransitionedTimestamp`, "the date and time that the alarm's StateValue most recently
    /// changed"; `StateUpdatedTimestamp` where it is absent), read from CloudWatch, never taken
    /// from a delivered event.
    pub async fn alarm_state(&self, region: &Region, name: &str) -> Result<(bool, chrono::DateTime<chrono::Utc>), String> {
        let a = alarms::one(&self.clients.cloudwatch(region), region, name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("alarm {name} does not exist in {region}"))?;
        let at = a
            .changed_at
            .ok_or_else(|| format!("alarm {name} in {region} has no state-change time"))?;
        Ok((a.state == AlarmState::Alarm, at))
    }

    /// Waits, at most `within`, until every alarm of `names` in `region` is OK in CloudWatch;
    /// returns those that are not. CloudWatch evaluates each alarm on its own ("Alarm
    /// evaluation", CloudWatch User Guide), so alarms on one metric leave ALARM up to an
    /// evaluation period apart. Reads every 500 ms: two alarms a read, far inside
    /// DescribeAlarms' rate.
    pub async fn until_ok(&self, region: &Region, names: &[String], within: std::time::Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut pending = Vec::new();
            for name in names {
                if !matches!(self.alarm_state(region, name).await, Ok((false, _))) {
                    pending.push(name.clone());
                }
            }
            if pending.is_empty() || tokio::time::Instant::now() >= deadline {
                return pending;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// Of `names`, those in ALARM in any configured region, and those found in none.
    pub async fn firing(&self, config: &SuiteConfig, names: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
        if names.is_empty() {
            return Ok((vec![], vec![]));
        }
        let mut firing = BTreeSet::new();
        let mut found = BTreeSet::new();
        // Metric and composite alarms alike (`act::alarms`): a composite guard counts too.
        for region in config.regions.keys() {
            for a in alarms::describe(&self.clients.cloudwatch(region), region, names)
                .await
                .map_err(|e| e.to_string())?
            {
                if a.state == AlarmState::Alarm {
                    firing.insert(a.name.clone());
                }
                found.insert(a.name);
            }
        }
        let missing = names.iter().filter(|n| !found.contains(*n)).cloned().collect();
        Ok((firing.into_iter().collect(), missing))
    }

    /// The value Route 53 answers for `config.dns.record_name` now, and the region it belongs
    /// to by `owners` (None: no configured region's record holds it).
    pub async fn answer(&self, config: &SuiteConfig, owners: &BTreeMap<String, Region>) -> Result<(Vec<String>, Option<Region>), String> {
        let values = dns_records::answer(&self.clients.route53(), config)
            .await
            .map_err(|e| e.to_string())?;
        let region = values.iter().find_map(|v| owners.get(v).cloned());
        Ok((values, region))
    }

    /// Each record value of the name, by the region whose set identifier holds it; and each
    /// region's record weight now.
    pub async fn owners(&self, config: &SuiteConfig) -> Result<(BTreeMap<String, Region>, BTreeMap<Region, i64>), String> {
        let records = dns_records::records(&self.clients.route53(), config)
            .await
            .map_err(|e| e.to_string())?;
        let weights = records.iter().map(|(r, f)| (r.clone(), f.weight.unwrap_or(0))).collect();
        // Each record's values, inverted: value -> region.
        let owners = records
            .into_iter()
            .flat_map(|(region, facts)| facts.values.into_iter().map(move |v| (v, region.clone())))
            .collect();
        Ok((owners, weights))
    }
}
