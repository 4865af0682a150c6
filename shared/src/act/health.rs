//! Reads region health: every configured health alarm of every region, with DescribeAlarms in
//! that region (never through the failed one).

use crate::act::alarms;
use crate::aws::clients::AwsClients;
use crate::config::SuiteConfig;
use crate::model::AlarmState;
use crate::model::Region;
use crate::model::{HealthView, RegionHealth, Unread};
use crate::model::{ReadError, ReadErrorKind};
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

    /// Reads the named alarms (metric and composite) in `region` (`act::alarms`). A region
    /// that cannot be reached (no connection, a timeout, a 5xx) is read a second time before it
    /// counts as unreachable; a refusal or throttling is reported as such, never as unreachable.
    pub async fn read_alarms(&self, region: Region, names: Vec<String>) -> (Region, RegionHealth) {
        let client = self.clients.cloudwatch(&region);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = match alarms::describe(&client, &region, &names).await {
                Ok(found) => return (region, RegionHealth::read(found.into_iter().map(|a| (a.name, a.state)).collect())),
                Err(e) => e,
            };
            tracing::warn!(%region, attempt, error = %e, "cannot read health alarms");
            let health = match e.kind {
                ReadErrorKind::Unreachable if attempt < 2 => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
                ReadErrorKind::Unreachable => RegionHealth {
                    reachable: false,
                    alarms: BTreeMap::new(),
                    unread: None,
                },
                // A refusal names the caller's rights or request ("Common error types",
                // CloudWatch API reference): a configuration problem a person must fix.
                _ if refused(&e) => RegionHealth {
                    unread: Some(Unread::Refused(e.to_string())),
                    ..RegionHealth::read(BTreeMap::new())
                },
                // Throttling, or any other answer: the API is up and said nothing about the region.
                _ => RegionHealth {
                    unread: Some(Unread::Throttled(e.to_string())),
                    ..RegionHealth::read(BTreeMap::new())
                },
            };
            return (region, health);
        }
    }

    /// One metric alarm in `region` (`act::alarms`): `Ok(None)` when no metric alarm has that
    /// name. An error names the call (throttled, refused or unreachable alike: the caller retries).
    pub async fn alarm_now(&self, region: &Region, name: &str) -> Result<Option<AlarmNow>, String> {
        let found = alarms::one(&self.clients.cloudwatch(region), region, name)
            .await
            .map_err(|e| e.to_string())?;
        Ok(found.filter(|a| !a.composite).map(|a| AlarmNow {
            state: a.state,
            dimensions: a.dimensions,
        }))
    }
}

/// A refusal: the caller's rights, or a request CloudWatch rejects as invalid.
fn refused(e: &ReadError) -> bool {
    e.kind == ReadErrorKind::Denied
        || e.code
            .as_deref()
            .is_some_and(|c| c.starts_with("Validation") || c.starts_with("InvalidParameter"))
}

/// One metric alarm as CloudWatch holds it now: what an event about it claims is checked
/// against this, since whoever can put an event or invoke a function can write the claim.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmNow {
    pub state: AlarmState,
    /// The dimensions of its metric, or of every metric of a metric-math alarm.
    pub dimensions: BTreeMap<String, String>,
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
