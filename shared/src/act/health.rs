//! Reads region health: every configured health alarm of every region, with DescribeAlarms in
//! that region (never through the failed one).

use crate::aws::clients::AwsClients;
use crate::config::SuiteConfig;
use crate::model::AlarmState;
use crate::model::Region;
use crate::model::{HealthView, RegionHealth, Unread};
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_route53::error::DisplayErrorContext;
use aws_smithy_runtime_api::http::Response as HttpResponse;
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

    /// Reads the named alarms (metric and composite) in `region`. A region that cannot be
    /// reached (no connection, a timeout, a 5xx) is read a second time before it counts as
    /// unreachable; a refusal or throttling is reported as such, never as unreachable.
    pub async fn read_alarms(&self, region: Region, names: Vec<String>) -> (Region, RegionHealth) {
        let client = self.clients.cloudwatch(&region);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = client
                .describe_alarms()
                .set_alarm_names(Some(names.clone()))
                // Without AlarmTypes, DescribeAlarms returns metric alarms only.
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .send()
                .await;
            let e = match res {
                Ok(out) => return (region, RegionHealth::read(states(&out))),
                Err(e) => e,
            };
            tracing::warn!(%region, attempt, error = %DisplayErrorContext(&e), "cannot read health alarms");
            // What a person reads in the notification: the service's code and message.
            let message = match (e.code(), e.message()) {
                (Some(code), Some(m)) => format!("cloudwatch:DescribeAlarms in {region}: {code}: {m}"),
                (Some(code), None) => format!("cloudwatch:DescribeAlarms in {region}: {code}"),
                _ => format!("cloudwatch:DescribeAlarms in {region}: {e}"),
            };
            let health = match classify(&e) {
                Failure::Unreachable if attempt < 2 => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
                Failure::Unreachable => RegionHealth {
                    reachable: false,
                    alarms: BTreeMap::new(),
                    unread: None,
                },
                Failure::Throttled => RegionHealth {
                    unread: Some(Unread::Throttled(message)),
                    ..RegionHealth::read(BTreeMap::new())
                },
                Failure::Refused => RegionHealth {
                    unread: Some(Unread::Refused(message)),
                    ..RegionHealth::read(BTreeMap::new())
                },
            };
            return (region, health);
        }
    }
}

/// One metric alarm as CloudWatch holds it now: what an event about it claims is checked
/// against this, since whoever can put an event or invoke a function can write the claim.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmNow {
    pub state: AlarmState,
    /// The dimensions of its metric, or of every metric of a metric-math alarm.
    pub dimensions: BTreeMap<String, String>,
}

impl CloudWatchHealth {
    /// DescribeAlarms of one metric alarm in `region`: `Ok(None)` when it does not exist. An
    /// error names the call (throttled, refused or unreachable alike: the caller retries).
    pub async fn alarm_now(&self, region: &Region, name: &str) -> Result<Option<AlarmNow>, String> {
        let out = self
            .clients
            .cloudwatch(region)
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .send()
            .await
            .map_err(|e| format!("cloudwatch:DescribeAlarms {name} in {region}: {}", DisplayErrorContext(&e)))?;
        let Some(alarm) = out.metric_alarms().iter().find(|a| a.alarm_name() == Some(name)) else {
            return Ok(None);
        };
        let state = match alarm.state_value() {
            Some(StateValue::Alarm) => AlarmState::Alarm,
            Some(StateValue::Ok) => AlarmState::Ok,
            _ => AlarmState::InsufficientData,
        };
        let single = alarm.dimensions().iter();
        let math = alarm
            .metrics()
            .iter()
            .filter_map(|m| m.metric_stat()?.metric())
            .flat_map(|m| m.dimensions().iter());
        let dimensions = single
            .chain(math)
            .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
            .collect();
        Ok(Some(AlarmNow { state, dimensions }))
    }
}

enum Failure {
    Unreachable,
    Throttled,
    Refused,
}

/// What an error says about the region: only no connection, a timeout or a 5xx say anything
/// about it; throttling and refusals (AccessDenied, validation) say the API is up.
fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Failure::Unreachable,
        SdkError::ServiceError(se) if se.raw().status().is_server_error() => Failure::Unreachable,
        // A refusal names the caller's rights or request ("Common error types", CloudWatch API
        // reference): a configuration problem a person must fix.
        SdkError::ServiceError(se)
            if se.err().code().is_some_and(|c| {
                [
                    "AccessDenied",
                    "Unauthorized",
                    "InvalidClientTokenId",
                    "UnrecognizedClient",
                    "Validation",
                    "InvalidParameter",
                ]
                .iter()
                .any(|p| c.starts_with(p))
            }) =>
        {
            Failure::Refused
        }
        // Throttling, or any other answer: the API is up and said nothing about the region.
        _ => Failure::Throttled,
    }
}

fn states(out: &aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput) -> BTreeMap<String, AlarmState> {
    let metric = out
        .metric_alarms()
        .iter()
        .filter_map(|a| Some((a.alarm_name()?.to_owned(), a.state_value()?.clone())));
    let composite = out
        .composite_alarms()
        .iter()
        .filter_map(|a| Some((a.alarm_name()?.to_owned(), a.state_value()?.clone())));
    metric
        .chain(composite)
        .map(|(name, state)| {
            let state = match state {
                StateValue::Ok => AlarmState::Ok,
                StateValue::Alarm => AlarmState::Alarm,
                _ => AlarmState::InsufficientData,
            };
            (name, state)
        })
        .collect()
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
