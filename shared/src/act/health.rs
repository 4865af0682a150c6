//! Reads region health: every configured health alarm of every region, with DescribeAlarms in
//! that region (never through the failed one).

use crate::aws::clients::AwsClients;
use crate::config::SuiteConfig;
use crate::model::AlarmState;
use crate::model::Region;
use crate::model::{HealthView, RegionHealth};
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_route53::error::DisplayErrorContext;
use std::collections::BTreeMap;
use std::future::Future;

/// Reads the health alarms of every configured region.
pub trait HealthReader: Send + Sync {
    fn read(&self, config: &SuiteConfig) -> impl Future<Output = HealthView> + Send;
}

/// Reads alarms with DescribeAlarms in each region, all regions at once. A region whose API
/// cannot be reached is reported unreachable (the decision treats that as not healthy).
#[derive(Debug, Clone)]
pub struct CloudWatchHealth {
    clients: AwsClients,
}

impl CloudWatchHealth {
    pub fn new(clients: AwsClients) -> Self {
        CloudWatchHealth { clients }
    }

    /// Reads the named alarms (metric and composite) in `region`.
    pub async fn read_alarms(&self, region: Region, names: Vec<String>) -> (Region, RegionHealth) {
        let client = self.clients.cloudwatch(&region);
        let res = client
            .describe_alarms()
            .set_alarm_names(Some(names))
            // Without AlarmTypes, DescribeAlarms returns metric alarms only.
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await;
        let health = match res {
            Err(e) => {
                tracing::warn!(%region, error = %DisplayErrorContext(&e), "cannot read health alarms");
                RegionHealth {
                    reachable: false,
                    alarms: BTreeMap::new(),
                }
            }
            Ok(out) => {
                let metric = out
                    .metric_alarms()
                    .iter()
                    .filter_map(|a| Some((a.alarm_name()?.to_owned(), a.state_value()?.clone())));
                let composite = out
                    .composite_alarms()
                    .iter()
                    .filter_map(|a| Some((a.alarm_name()?.to_owned(), a.state_value()?.clone())));
                let alarms = metric
                    .chain(composite)
                    .map(|(name, state)| {
                        let state = match state {
                            StateValue::Ok => AlarmState::Ok,
                            StateValue::Alarm => AlarmState::Alarm,
                            _ => AlarmState::InsufficientData,
                        };
                        (name, state)
                    })
                    .collect();
                RegionHealth { reachable: true, alarms }
            }
        };
        (region, health)
    }
}

impl HealthReader for CloudWatchHealth {
    async fn read(&self, config: &SuiteConfig) -> HealthView {
        let reads = config.regions.iter().map(|(region, rc)| {
            let names: Vec<String> = rc.health_alarms.iter().chain(rc.composite_alarm.iter()).cloned().collect();
            self.read_alarms(region.clone(), names)
        });
        futures_util::future::join_all(reads).await.into_iter().collect()
    }
}
