//! The adapters dns-failover acts through: reading region health (CloudWatch DescribeAlarms in
//! each region) and the traffic switches, one per [`Strategy`]. Each switch first reads the
//! state it is about to change and does nothing when it is already in place.

pub mod control_plane;
pub mod health_metric;
pub mod routing_control;

pub use crate::act::health::{CloudWatchHealth, HealthReader};
use crate::aws::clients::AwsClients;
use crate::config::{Strategy, SuiteConfig};
use crate::evidence::audit::{ActionRecord, Outcome};
use crate::model::Region;
pub use control_plane::ControlPlaneSwitch;
pub use health_metric::HealthMetricSwitch;
pub use routing_control::RoutingControlSwitch;
use std::time::Instant;

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

#[cfg(test)]
mod tests {
    //! Route 53 faults the emulator cannot make, with aws-smithy-mocks rules returning
    //! real-shaped responses.
    use super::*;
    use crate::config::DnsConfig;
    use aws_sdk_route53::Client;
    use aws_sdk_route53::operation::change_resource_record_sets::{ChangeResourceRecordSetsError, ChangeResourceRecordSetsOutput};
    use aws_sdk_route53::operation::get_change::GetChangeOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::types::error::PriorRequestNotComplete;
    use aws_sdk_route53::types::{ChangeInfo, ResourceRecord, RrType};
    use aws_sdk_route53::types::{ChangeStatus, ResourceRecordSet};
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use std::collections::BTreeMap;

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
