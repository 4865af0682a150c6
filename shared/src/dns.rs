//! The adapters dns-failover acts through: reading region health (CloudWatch DescribeAlarms in
//! each region) and the traffic switches, one per [`Strategy`]. Each switch first reads the
//! state it is about to change and does nothing when it is already in place.

use crate::audit::{ActionRecord, Outcome};
use crate::clients::AwsClients;
use crate::config::{DnsConfig, HealthMetricConfig, Strategy, SuiteConfig};
use crate::failover::{HealthView, RegionHealth};
use crate::region::Region;
use crate::signal::AlarmState;
use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit, StateValue};
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

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

/// Why a switch could not act: the next strategy is tried.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {message}")]
pub struct SwitchError {
    pub action: String,
    pub message: String,
}

/// The switches configured, tried in `dns.strategies` order.
#[derive(Debug, Clone)]
pub struct TrafficSwitches {
    pub health_metric: Option<HealthMetricSwitch>,
    pub routing_control: Option<RoutingControlSwitch>,
    pub control_plane: ControlPlaneSwitch,
}

impl TrafficSwitches {
    pub fn new(config: &SuiteConfig, clients: &AwsClients) -> Self {
        TrafficSwitches {
            health_metric: config.dns.health_metric.as_ref().map(|hm| HealthMetricSwitch {
                metric: hm.clone(),
                clients: clients.clone(),
                regions: config.regions.keys().cloned().collect(),
            }),
            routing_control: config.dns.routing_control.as_ref().map(|rc| RoutingControlSwitch::new(rc, clients)),
            control_plane: ControlPlaneSwitch::new(clients.route53(), config.dns.clone()),
        }
    }

    /// Drains (or restores) `region` with the first strategy that works; every attempt is
    /// recorded. Returns the records and whether one strategy succeeded.
    pub async fn set_drained(&self, strategies: &[Strategy], region: &Region, drained: bool) -> (Vec<ActionRecord>, bool) {
        let mut records = Vec::new();
        for strategy in strategies {
            let started = Instant::now();
            let result = match strategy {
                Strategy::HealthMetric => match &self.health_metric {
                    Some(s) => s.set_drained(region, drained).await,
                    None => Err(SwitchError {
                        action: "health-metric".into(),
                        message: "not configured".into(),
                    }),
                },
                Strategy::RoutingControl => match &self.routing_control {
                    Some(s) => s.set_drained(region, drained).await,
                    None => Err(SwitchError {
                        action: "routing-control".into(),
                        message: "not configured".into(),
                    }),
                },
                Strategy::ControlPlane => self.control_plane.set_drained(region, drained).await,
            };
            let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match result {
                Ok(mut record) => {
                    record.millis = millis;
                    records.push(record);
                    return (records, true);
                }
                Err(e) => records.push(ActionRecord {
                    action: e.action,
                    outcome: Outcome::Failed,
                    detail: e.message,
                    millis,
                }),
            }
        }
        (records, false)
    }
}

/// Data plane: publishes the "region drained" metric that a CloudWatch alarm watches; a Route 53
/// health check of type CLOUDWATCH_METRIC follows that alarm. The metric for region R is
/// published in every other region (never in R, which may be down), where R's drain alarm lives.
#[derive(Debug, Clone)]
pub struct HealthMetricSwitch {
    metric: HealthMetricConfig,
    clients: AwsClients,
    regions: Vec<Region>,
}

impl HealthMetricSwitch {
    async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        let value = if drained { 1.0 } else { 0.0 };
        let dimension = Dimension::builder()
            .name(&self.metric.region_dimension)
            .value(region.as_str())
            .build();
        let mut details = Vec::new();
        let mut changed = false;
        for peer in self.regions.iter().filter(|r| *r != region) {
            let action = format!(
                "cloudwatch:PutMetricData {peer} {}/{}{{{}={region}}}={value}",
                self.metric.namespace, self.metric.metric_name, self.metric.region_dimension
            );
            let fail = |message: String| SwitchError {
                action: action.clone(),
                message,
            };
            let client = self.clients.cloudwatch(peer);
            let latest = self.current(&client, &dimension).await.map_err(fail)?;
            if latest.map(|(v, _)| v) == Some(value) {
                details.push(format!("{peer}: already {value}"));
                continue;
            }
            // The opposite value was published this very second: wait for the next 1-second
            // bucket, or both would merge and the alarm's Maximum would hide a restore.
            if let Some((_, at)) = latest {
                let age = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs() - at.secs();
                if age < 1 {
                    tokio::time::sleep(Duration::from_millis(1000 - u64::from(at.subsec_nanos() / 1_000_000).min(999) + 50)).await;
                }
            }
            client
                .put_metric_data()
                .namespace(&self.metric.namespace)
                .metric_data(
                    MetricDatum::builder()
                        .metric_name(&self.metric.metric_name)
                        .dimensions(dimension.clone())
                        .value(value)
                        .unit(StandardUnit::Count)
                        // High resolution: a drain and a restore in the same minute must stay
                        // two datapoints, or the alarm (and our read-back) would see only the max.
                        .storage_resolution(1)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| fail(DisplayErrorContext(e).to_string()))?;
            changed = true;
            details.push(format!("{peer}: published {value}"));
        }
        Ok(ActionRecord {
            action: format!(
                "health-metric {}/{} {region}={value}",
                self.metric.namespace, self.metric.metric_name
            ),
            outcome: if changed { Outcome::Succeeded } else { Outcome::AlreadyInPlace },
            detail: details.join("; "),
            millis: 0,
        })
    }

    /// The latest published value in the last 15 minutes and its 1-second bucket, if any.
    async fn current(
        &self,
        client: &aws_sdk_cloudwatch::Client,
        dimension: &Dimension,
    ) -> Result<Option<(f64, aws_smithy_types::DateTime)>, String> {
        let now = std::time::SystemTime::now();
        let query = MetricDataQuery::builder()
            .id("drained")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(&self.metric.namespace)
                            .metric_name(&self.metric.metric_name)
                            .dimensions(dimension.clone())
                            .build(),
                    )
                    .period(1)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let out = client
            .get_metric_data()
            .metric_data_queries(query)
            .start_time((now - Duration::from_secs(900)).into())
            .end_time((now + Duration::from_secs(60)).into())
            .scan_by(aws_sdk_cloudwatch::types::ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        Ok(out
            .metric_data_results()
            .first()
            .and_then(|r| Some((*r.values().first()?, *r.timestamps().first()?))))
    }
}

/// Data plane: Route 53 ARC routing controls. The region's control is set Off (drained) or On
/// (restored) through the cluster's regional endpoints, tried in turn until one answers; ARC's
/// own safety rules (e.g. "at least one On") still apply on its side.
#[derive(Debug, Clone)]
pub struct RoutingControlSwitch {
    endpoints: Vec<(String, aws_sdk_route53recoverycluster::Client)>,
    controls: BTreeMap<Region, String>,
}

impl RoutingControlSwitch {
    pub fn new(config: &crate::config::RoutingControlConfig, clients: &AwsClients) -> Self {
        let endpoints = config
            .cluster_endpoints
            .iter()
            .map(|e| {
                let conf = aws_sdk_route53recoverycluster::config::Builder::from(&clients.config_for(&e.region))
                    .endpoint_url(&e.endpoint)
                    .build();
                (e.endpoint.clone(), aws_sdk_route53recoverycluster::Client::from_conf(conf))
            })
            .collect();
        RoutingControlSwitch {
            endpoints,
            controls: config.controls.clone(),
        }
    }

    /// For tests: clients already built, one per endpoint, in order.
    pub fn with_clients(endpoints: Vec<(String, aws_sdk_route53recoverycluster::Client)>, controls: BTreeMap<Region, String>) -> Self {
        RoutingControlSwitch { endpoints, controls }
    }

    async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        use aws_sdk_route53recoverycluster::types::RoutingControlState;
        let wanted = if drained {
            RoutingControlState::Off
        } else {
            RoutingControlState::On
        };
        let action = format!("route53-recovery-cluster:UpdateRoutingControlState {region}={wanted}");
        let Some(arn) = self.controls.get(region) else {
            return Err(SwitchError {
                action,
                message: format!("no routing control configured for {region}"),
            });
        };
        let mut failures = Vec::new();
        for (endpoint, client) in &self.endpoints {
            let state = match client.get_routing_control_state().routing_control_arn(arn).send().await {
                Ok(out) => out.routing_control_state().clone(),
                Err(e) => {
                    failures.push(format!(
                        "{endpoint}: {}",
                        aws_sdk_route53recoverycluster::error::DisplayErrorContext(e)
                    ));
                    continue;
                }
            };
            if state == wanted {
                return Ok(ActionRecord {
                    action,
                    outcome: Outcome::AlreadyInPlace,
                    detail: format!("already {wanted} (read at {endpoint})"),
                    millis: 0,
                });
            }
            match client
                .update_routing_control_state()
                .routing_control_arn(arn)
                .routing_control_state(wanted.clone())
                .send()
                .await
            {
                Ok(_) => {
                    return Ok(ActionRecord {
                        action,
                        outcome: Outcome::Succeeded,
                        detail: format!(
                            "set at {endpoint}{}",
                            if failures.is_empty() {
                                String::new()
                            } else {
                                format!(" after {} endpoint(s) failed", failures.len())
                            }
                        ),
                        millis: 0,
                    });
                }
                Err(e) => failures.push(format!(
                    "{endpoint}: {}",
                    aws_sdk_route53recoverycluster::error::DisplayErrorContext(e)
                )),
            }
        }
        Err(SwitchError {
            action,
            message: format!("no cluster endpoint answered: {}", failures.join("; ")),
        })
    }
}

/// Control plane fallback: sets the region's weighted record to weight 0 (drained) or its
/// configured weight (restored) with one ChangeResourceRecordSets, then waits for INSYNC.
#[derive(Debug, Clone)]
pub struct ControlPlaneSwitch {
    client: aws_sdk_route53::Client,
    dns: DnsConfig,
}

/// Route 53 answers PriorRequestNotComplete while an earlier change to the zone propagates.
const ROUTE53_BUSY_RETRIES: u32 = 5;

/// Worth another try after a pause: a change still propagating, or throttling that outlasted
/// the SDK's own retries.
fn route53_busy(
    e: &aws_sdk_route53::error::SdkError<aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError>,
) -> bool {
    e.as_service_error().is_some_and(|se| se.is_prior_request_not_complete())
        || matches!(e.code(), Some("Throttling" | "ThrottlingException" | "PriorRequestNotComplete"))
}

impl ControlPlaneSwitch {
    pub fn new(client: aws_sdk_route53::Client, dns: DnsConfig) -> Self {
        ControlPlaneSwitch { client, dns }
    }

    async fn record_of(&self, region: &Region) -> Result<ResourceRecordSet, SwitchError> {
        let set_id = &self.dns.records[region].set_identifier;
        let action = format!(
            "route53:ListResourceRecordSets {} {}",
            self.dns.hosted_zone_id, self.dns.record_name
        );
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&self.dns.hosted_zone_id)
            .start_record_name(&self.dns.record_name)
            .send()
            .await
            .map_err(|e| SwitchError {
                action: action.clone(),
                message: DisplayErrorContext(e).to_string(),
            })?;
        let wanted = self.dns.record_name.trim_end_matches('.');
        out.resource_record_sets()
            .iter()
            .find(|r| r.name().trim_end_matches('.') == wanted && r.set_identifier() == Some(set_id.as_str()))
            .cloned()
            .ok_or_else(|| SwitchError {
                action,
                message: format!("no record {} with SetIdentifier {set_id}", self.dns.record_name),
            })
    }

    async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        let record = self.record_of(region).await?;
        let weight = if drained { 0 } else { self.dns.records[region].weight };
        let action = format!(
            "route53:ChangeResourceRecordSets {} {} {} weight={weight}",
            self.dns.hosted_zone_id, self.dns.record_name, region
        );
        if record.weight() == Some(weight) {
            return Ok(ActionRecord {
                action,
                outcome: Outcome::AlreadyInPlace,
                detail: format!("weight already {weight}"),
                millis: 0,
            });
        }
        let fail = |message: String| SwitchError {
            action: action.clone(),
            message,
        };
        let mut updated = record.clone();
        updated.weight = Some(weight);
        let batch = ChangeBatch::builder()
            .comment(format!(
                "aworld-resilience dns-failover: {} {region}",
                if drained { "drain" } else { "restore" }
            ))
            .changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(updated)
                    .build()
                    .map_err(|e| fail(e.to_string()))?,
            )
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let mut attempt = 0;
        let change_id = loop {
            let res = self
                .client
                .change_resource_record_sets()
                .hosted_zone_id(&self.dns.hosted_zone_id)
                .change_batch(batch.clone())
                .send()
                .await;
            match res {
                Ok(out) => break out.change_info().map(|c| c.id().to_owned()).unwrap_or_default(),
                Err(e) if attempt < ROUTE53_BUSY_RETRIES && route53_busy(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                }
                Err(e) => return Err(fail(DisplayErrorContext(e).to_string())),
            }
        };
        let started = Instant::now();
        let deadline = Duration::from_secs(self.dns.insync_wait_seconds);
        loop {
            let status = self
                .client
                .get_change()
                .id(&change_id)
                .send()
                .await
                .map_err(|e| fail(format!("change {change_id} submitted, status unknown: {}", DisplayErrorContext(e))))?
                .change_info()
                .map(|c| c.status().clone());
            if status == Some(ChangeStatus::Insync) {
                return Ok(ActionRecord {
                    action,
                    outcome: Outcome::Succeeded,
                    detail: format!("change {change_id} INSYNC after {} ms", started.elapsed().as_millis()),
                    millis: 0,
                });
            }
            if started.elapsed() >= deadline {
                // Submitted changes are applied by Route 53 even if we stop watching.
                return Ok(ActionRecord {
                    action,
                    outcome: Outcome::Succeeded,
                    detail: format!("change {change_id} submitted, still PENDING after {}s", deadline.as_secs()),
                    millis: 0,
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Route 53 faults the emulator cannot make, with aws-smithy-mocks rules returning
    //! real-shaped responses.
    use super::*;
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::change_resource_record_sets::{ChangeResourceRecordSetsError, ChangeResourceRecordSetsOutput};
    use aws_sdk_route53::operation::get_change::GetChangeOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::types::error::PriorRequestNotComplete;
    use aws_sdk_route53::types::{ChangeInfo, ResourceRecord, RrType};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    const THROTTLED: &str = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1d5e7c0e-0000-4000-8000-000000000000</RequestId></ErrorResponse>";

    fn dns() -> DnsConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap().dns
    }

    fn listing(weight: i64) -> Rule {
        mock!(Client::list_resource_record_sets).then_output(move || {
            let rrs = |id: &str, w: i64, ip: &str| {
                ResourceRecordSet::builder()
                    .name("api.aworld.example.")
                    .r#type(RrType::A)
                    .set_identifier(id)
                    .weight(w)
                    .ttl(60)
                    .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                    .build()
                    .unwrap()
            };
            ListResourceRecordSetsOutput::builder()
                .resource_record_sets(rrs("eu-north-1", 100, "192.0.2.20"))
                .resource_record_sets(rrs("eu-south-1", weight, "192.0.2.10"))
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        })
    }

    fn change_info(status: ChangeStatus) -> ChangeInfo {
        ChangeInfo::builder()
            .id("/change/C2682N5HXP0BZ4")
            .status(status)
            .submitted_at(aws_smithy_types::DateTime::from_secs(1_795_000_000))
            .build()
            .unwrap()
    }

    fn insync_after_one_poll() -> Rule {
        mock!(Client::get_change)
            .sequence()
            .output(|| GetChangeOutput::builder().change_info(change_info(ChangeStatus::Pending)).build())
            .output(|| GetChangeOutput::builder().change_info(change_info(ChangeStatus::Insync)).build())
            .build()
    }

    fn south() -> Region {
        "eu-south-1".parse().unwrap()
    }

    #[tokio::test]
    async fn route53_throttling_then_success_drains_and_waits_for_insync() {
        let list = listing(100);
        let change = mock!(Client::change_resource_record_sets)
            .match_requests(|r| {
                r.change_batch().is_some_and(|b| {
                    b.changes()[0]
                        .resource_record_set()
                        .is_some_and(|s| s.weight() == Some(0) && s.set_identifier() == Some("eu-south-1"))
                })
            })
            .sequence()
            .http_status(400, Some(THROTTLED.to_owned()))
            .output(|| {
                ChangeResourceRecordSetsOutput::builder()
                    .change_info(change_info(ChangeStatus::Pending))
                    .build()
            })
            .build();
        let poll = insync_after_one_poll();
        let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&list, &change, &poll]);
        let record = ControlPlaneSwitch::new(client, dns()).set_drained(&south(), true).await.unwrap();
        assert_eq!(record.outcome, Outcome::Succeeded);
        assert!(record.detail.contains("INSYNC"), "{}", record.detail);
        assert_eq!(change.num_calls(), 2, "throttled once, then applied");
        assert_eq!(poll.num_calls(), 2);
    }

    #[tokio::test]
    async fn prior_request_not_complete_is_retried_with_backoff() {
        let list = listing(0);
        let change = mock!(Client::change_resource_record_sets)
            .sequence()
            .error(|| {
                ChangeResourceRecordSetsError::PriorRequestNotComplete(
                    PriorRequestNotComplete::builder()
                        .message("The request was rejected because Route 53 was still processing a prior request.")
                        .build(),
                )
            })
            .output(|| {
                ChangeResourceRecordSetsOutput::builder()
                    .change_info(change_info(ChangeStatus::Insync))
                    .build()
            })
            .build();
        let poll =
            mock!(Client::get_change).then_output(|| GetChangeOutput::builder().change_info(change_info(ChangeStatus::Insync)).build());
        let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&list, &change, &poll]);
        // Restoring: the drained record (weight 0) goes back to its configured weight.
        let record = ControlPlaneSwitch::new(client, dns()).set_drained(&south(), false).await.unwrap();
        assert_eq!(record.outcome, Outcome::Succeeded);
        assert_eq!(change.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_record_already_drained_is_not_changed_again() {
        let list = listing(0);
        let change = mock!(Client::change_resource_record_sets).then_output(|| {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info(ChangeStatus::Insync))
                .build()
        });
        let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&list, &change]);
        let record = ControlPlaneSwitch::new(client, dns()).set_drained(&south(), true).await.unwrap();
        assert_eq!(record.outcome, Outcome::AlreadyInPlace);
        assert_eq!(change.num_calls(), 0);
    }

    mod routing_control {
        use super::*;
        use aws_sdk_route53recoverycluster::Client as Arc;
        use aws_sdk_route53recoverycluster::operation::get_routing_control_state::GetRoutingControlStateOutput;
        use aws_sdk_route53recoverycluster::operation::update_routing_control_state::UpdateRoutingControlStateOutput;
        use aws_sdk_route53recoverycluster::types::RoutingControlState;

        const SOUTH_CONTROL: &str = "arn:aws:route53-recovery-control::123456789012:controlpanel/abc/routingcontrol/south";

        fn controls() -> BTreeMap<Region, String> {
            [(south(), SOUTH_CONTROL.to_owned())].into()
        }

        fn state(s: RoutingControlState) -> Rule {
            mock!(Arc::get_routing_control_state).then_output(move || {
                GetRoutingControlStateOutput::builder()
                    .routing_control_arn(SOUTH_CONTROL)
                    .routing_control_state(s.clone())
                    .build()
                    .unwrap()
            })
        }

        #[tokio::test]
        async fn unreachable_endpoints_are_skipped_until_one_answers() {
            let down = mock!(Arc::get_routing_control_state)
                .sequence()
                .http_status(503, None)
                .repeatedly()
                .build();
            let first = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&down]);
            let read = state(RoutingControlState::On);
            let update = mock!(Arc::update_routing_control_state)
                .match_requests(|r| {
                    r.routing_control_state() == Some(&RoutingControlState::Off) && r.routing_control_arn() == Some(SOUTH_CONTROL)
                })
                .then_output(|| UpdateRoutingControlStateOutput::builder().build());
            let second = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&read, &update]);
            let switch =
                RoutingControlSwitch::with_clients(vec![("https://one".into(), first), ("https://two".into(), second)], controls());
            let record = switch.set_drained(&south(), true).await.unwrap();
            assert_eq!(record.outcome, Outcome::Succeeded);
            assert!(
                record.detail.contains("https://two") && record.detail.contains("1 endpoint(s) failed"),
                "{}",
                record.detail
            );
            assert_eq!(update.num_calls(), 1);
        }

        #[tokio::test]
        async fn a_control_already_off_is_not_set_again() {
            let read = state(RoutingControlState::Off);
            let update = mock!(Arc::update_routing_control_state).then_output(|| UpdateRoutingControlStateOutput::builder().build());
            let client = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&read, &update]);
            let switch = RoutingControlSwitch::with_clients(vec![("https://one".into(), client)], controls());
            assert_eq!(switch.set_drained(&south(), true).await.unwrap().outcome, Outcome::AlreadyInPlace);
            assert_eq!(update.num_calls(), 0);
        }

        #[tokio::test]
        async fn every_endpoint_down_is_an_error_listing_them() {
            let down = mock!(Arc::get_routing_control_state)
                .sequence()
                .http_status(503, None)
                .repeatedly()
                .build();
            let a = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&down]);
            let b = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&down]);
            let switch = RoutingControlSwitch::with_clients(vec![("https://one".into(), a), ("https://two".into(), b)], controls());
            let e = switch.set_drained(&south(), true).await.unwrap_err();
            assert!(e.message.contains("https://one") && e.message.contains("https://two"), "{e}");
        }
    }

    #[tokio::test]
    async fn route53_failing_for_good_is_an_error_naming_the_action() {
        let list = listing(100);
        let change = mock!(Client::change_resource_record_sets)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&list, &change]);
        let e = ControlPlaneSwitch::new(client, dns())
            .set_drained(&south(), true)
            .await
            .unwrap_err();
        assert!(e.action.starts_with("route53:ChangeResourceRecordSets"), "{e}");
    }
}
