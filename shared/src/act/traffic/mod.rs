//! The adapters dns-failover acts through: reading region health (CloudWatch DescribeAlarms in
//! each region) and the traffic switches, one per [`Strategy`]. Each switch first reads the
//! state it is about to change and does nothing when it is already in place.

pub mod control_plane;
pub mod dns_moved;
pub mod health_metric;
pub mod routing_control;

pub use crate::act::health::{CloudWatchHealth, HealthReader};
use crate::aws::clients::AwsClients;
use crate::config::{Strategy, SuiteConfig};
use crate::model::Region;
use crate::model::audit::{ActionRecord, Outcome};
pub use control_plane::ControlPlaneSwitch;
pub use dns_moved::DnsMoved;
pub use health_metric::HealthMetricSwitch;
pub use routing_control::RoutingControlSwitch;
use std::collections::BTreeSet;
use std::time::Instant;

/// Why a switch could not act. Usually the next strategy is tried; a `stop` error is a refusal
/// that must hold (an ARC safety rule, a request ARC rejects as invalid): recorded, notified,
/// and no other strategy moves the traffic instead.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {message}")]
pub struct SwitchError {
    pub action: String,
    pub message: String,
    pub stop: bool,
}

impl SwitchError {
    /// A failure the next strategy may work around.
    pub fn next(action: &str, message: impl Into<String>) -> Self {
        SwitchError {
            action: action.to_owned(),
            message: message.into(),
            stop: false,
        }
    }

    /// A refusal no other strategy may override.
    pub fn stop(action: &str, message: impl Into<String>) -> Self {
        SwitchError {
            action: action.to_owned(),
            message: message.into(),
            stop: true,
        }
    }
}

/// What the switches did for one drain or restore.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Switched {
    /// Every attempt, in order.
    pub records: Vec<ActionRecord>,
    /// Strategies that are now in the wanted position (confirmed or not).
    pub applied: BTreeSet<Strategy>,
    /// At least one of them was confirmed (drain), or every one was (restore).
    pub confirmed: bool,
    /// Strategies still holding the region drained after a restore (failed or unconfirmed).
    pub still_drained: BTreeSet<Strategy>,
    /// A strategy refused the change for good (an ARC safety rule): not retried.
    pub refused: bool,
}

impl Switched {
    /// The decision's outcome: done and seen; applied but not seen; or not done.
    pub fn outcome(&self) -> Outcome {
        if self.confirmed {
            if self
                .records
                .iter()
                .all(|r| r.outcome == Outcome::AlreadyInPlace || r.outcome == Outcome::Failed)
                && self.records.iter().any(|r| r.outcome == Outcome::AlreadyInPlace)
            {
                Outcome::AlreadyInPlace
            } else {
                Outcome::Succeeded
            }
        } else if self.applied.is_empty() {
            Outcome::Failed
        } else {
            Outcome::Unconfirmed
        }
    }
}

/// The switches configured, tried in `dns.strategies` order.
#[derive(Debug, Clone)]
pub struct TrafficSwitches {
    pub health_metric: Option<HealthMetricSwitch>,
    pub routing_control: Option<RoutingControlSwitch>,
    pub control_plane: ControlPlaneSwitch,
    /// After a switch's own confirmation, whether DNS moved. Always set by [`Self::new`]; the
    /// unit tests of the switch order leave it out (the end-to-end tests run it against the
    /// test bed's Route 53 model).
    pub dns_moved: Option<DnsMoved>,
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
            control_plane: ControlPlaneSwitch::new(
                {
                    let clients = clients.clone();
                    crate::model::Deferred::later(move || clients.route53())
                },
                config.dns.clone(),
            ),
            dns_moved: Some(DnsMoved::new(
                {
                    let clients = clients.clone();
                    crate::model::Deferred::later(move || clients.route53())
                },
                config.dns.clone(),
            )),
        }
    }

    async fn attempt(&self, strategy: Strategy, region: &Region, drained: bool) -> (ActionRecord, Result<(), bool>) {
        let started = Instant::now();
        let result = match strategy {
            Strategy::HealthMetric => match &self.health_metric {
                Some(s) => s.set_drained(region, drained).await,
                None => Err(SwitchError::next("health-metric", "not configured")),
            },
            Strategy::RoutingControl => match &self.routing_control {
                Some(s) => s.set_drained(region, drained).await,
                None => Err(SwitchError::next("routing-control", "not configured")),
            },
            Strategy::ControlPlane => self.control_plane.set_drained(region, drained).await,
        };
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(mut record) => {
                record.millis = millis;
                (record, Ok(()))
            }
            Err(e) => (
                ActionRecord {
                    action: e.action,
                    outcome: Outcome::Failed,
                    detail: if e.stop {
                        format!("{} (final: no other strategy is tried)", e.message)
                    } else {
                        e.message
                    },
                    millis,
                    confirm_ms: None,
                },
                Err(e.stop),
            ),
        }
    }

    /// Whether `strategy`'s switch holds `region` out of DNS now. Routing controls are not
    /// read here (their state is the cluster's, read only on a change).
    pub async fn holds(&self, strategy: Strategy, region: &Region) -> Result<bool, String> {
        match strategy {
            Strategy::HealthMetric => match &self.health_metric {
                Some(s) => s.holds(region).await,
                None => Err("health-metric is not configured".into()),
            },
            Strategy::ControlPlane => self.control_plane.holds(region).await,
            Strategy::RoutingControl => Err("routing controls are not compared".into()),
        }
    }

    /// Sets one switch for `region` (drained or not), as a drain or restore would.
    pub async fn set(&self, strategy: Strategy, region: &Region, drained: bool) -> ActionRecord {
        self.attempt(strategy, region, drained).await.0
    }

    /// Drains `region` with the strategies in order until one is confirmed. One applied but
    /// not confirmed in time is kept (it may still take effect) and the next is tried as well;
    /// a final refusal (an ARC safety rule) stops there.
    pub async fn drain(&self, strategies: &[Strategy], region: &Region) -> Switched {
        let mut out = Switched::default();
        for strategy in strategies {
            let (mut record, result) = self.attempt(*strategy, region, true).await;
            if result.is_ok() && record.outcome != Outcome::Unconfirmed {
                self.dns_moved_or_unconfirmed(&mut record, region, true).await;
            }
            let outcome = record.outcome;
            out.records.push(record);
            match result {
                Ok(()) => {
                    out.applied.insert(*strategy);
                    if outcome != Outcome::Unconfirmed {
                        out.confirmed = true;
                        return out;
                    }
                }
                Err(true) => {
                    out.refused = true;
                    return out;
                }
                Err(false) => {}
            }
        }
        out
    }

    /// Restores `region` by undoing every strategy in `holding` (those the state says drained
    /// it); each must be confirmed, or the region stays recorded as drained by what is left.
    pub async fn restore(&self, holding: &BTreeSet<Strategy>, region: &Region) -> Switched {
        let mut out = Switched::default();
        for strategy in holding {
            let (record, result) = self.attempt(*strategy, region, false).await;
            out.refused |= result == Err(true);
            let done = result.is_ok() && record.outcome != Outcome::Unconfirmed;
            out.records.push(record);
            if done {
                out.applied.insert(*strategy);
            } else {
                out.still_drained.insert(*strategy);
            }
        }
        if out.still_drained.is_empty() && !holding.is_empty() {
            // Every switch is back: Route 53 must answer the region again (one check for all,
            // since any switch still holding it keeps it out of the answers).
            let mut record = ActionRecord {
                action: format!("dns {region} back in the answers"),
                outcome: Outcome::Succeeded,
                detail: String::new(),
                millis: 0,
                confirm_ms: None,
            };
            let started = Instant::now();
            self.dns_moved_or_unconfirmed(&mut record, region, false).await;
            record.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            out.confirmed = record.outcome == Outcome::Succeeded;
            out.records.push(record);
        } else {
            out.confirmed = out.still_drained.is_empty();
        }
        out
    }

    /// Confirms with Route 53's checkers and answers that DNS moved; if not, the switch's
    /// record becomes `Unconfirmed`, naming what did not move.
    async fn dns_moved_or_unconfirmed(&self, record: &mut ActionRecord, region: &Region, drained: bool) {
        let Some(dns_moved) = &self.dns_moved else { return };
        let sep = if record.detail.is_empty() { "" } else { "; " };
        match dns_moved.confirm(region, drained).await {
            Ok(seen) => record.detail = format!("{}{sep}DNS moved: {seen}", record.detail),
            Err(why) => {
                record.outcome = Outcome::Unconfirmed;
                record.detail = format!("{}{sep}DNS NOT moved: {why}", record.detail);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Route 53 faults the emulator cannot make, with aws-smithy-mocks rules returning
    //! real-shaped responses.
    use super::*;
    use crate::config::{DnsConfig, Strategy};
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
        let record = ControlPlaneSwitch::new(crate::model::Deferred::ready(client), dns())
            .set_drained(&south(), true)
            .await
            .unwrap();
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
        let record = ControlPlaneSwitch::new(crate::model::Deferred::ready(client), dns())
            .set_drained(&south(), false)
            .await
            .unwrap();
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
        let record = ControlPlaneSwitch::new(crate::model::Deferred::ready(client), dns())
            .set_drained(&south(), true)
            .await
            .unwrap();
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

        /// ARC first, then a control plane that applies every change at once (INSYNC); the
        /// change rule counts what reached it.
        fn with_control_plane(switch: RoutingControlSwitch) -> (TrafficSwitches, Rule) {
            let list = listing(100);
            let change = mock!(Client::change_resource_record_sets).then_output(|| {
                ChangeResourceRecordSetsOutput::builder()
                    .change_info(change_info(ChangeStatus::Insync))
                    .build()
            });
            let poll =
                mock!(Client::get_change).then_output(|| GetChangeOutput::builder().change_info(change_info(ChangeStatus::Insync)).build());
            let r53 = mock_client!(aws_sdk_route53, RuleMode::MatchAny, [&list, &change, &poll]);
            let switches = TrafficSwitches {
                health_metric: None,
                routing_control: Some(switch),
                control_plane: ControlPlaneSwitch::new(crate::model::Deferred::ready(r53), dns()),
                dns_moved: None,
            };
            (switches, change)
        }

        /// Reads `before`, then (after the update) `after`.
        fn flips(before: RoutingControlState, after: RoutingControlState) -> Rule {
            let read = |s: RoutingControlState| {
                move || {
                    GetRoutingControlStateOutput::builder()
                        .routing_control_arn(SOUTH_CONTROL)
                        .routing_control_state(s.clone())
                        .build()
                        .unwrap()
                }
            };
            mock!(Arc::get_routing_control_state)
                .sequence()
                .output(read(before))
                .output(read(after))
                .build()
        }

        const REFUSED: &str = r#"{"message":"Cannot change routing control state: safety rule at-least-one-on would be violated"}"#;

        fn refusal(status: u16, kind: &'static str) -> Rule {
            mock!(Arc::update_routing_control_state)
                .sequence()
                .http_response(move || {
                    aws_smithy_runtime_api::http::Response::new(
                        aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
                        aws_smithy_types::body::SdkBody::from(REFUSED),
                    )
                    .tap_header("x-amzn-errortype", kind)
                })
                .repeatedly()
                .build()
        }

        trait TapHeader {
            fn tap_header(self, k: &'static str, v: &'static str) -> Self;
        }
        impl TapHeader for aws_smithy_runtime_api::http::Response {
            fn tap_header(mut self, k: &'static str, v: &'static str) -> Self {
                self.headers_mut().insert(k, v);
                self
            }
        }

        #[tokio::test]
        async fn a_safety_rule_refusal_is_final_and_no_other_endpoint_or_strategy_is_tried() {
            for (status, kind) in [(409, "ConflictException"), (400, "ValidationException")] {
                let read = state(RoutingControlState::On);
                let refused = refusal(status, kind);
                let first = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&read, &refused]);
                let read2 = state(RoutingControlState::On);
                let update2 = mock!(Arc::update_routing_control_state).then_output(|| UpdateRoutingControlStateOutput::builder().build());
                let second = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&read2, &update2]);
                let switch =
                    RoutingControlSwitch::with_clients(vec![("https://one".into(), first), ("https://two".into(), second)], controls());
                let e = switch.set_drained(&south(), true).await.unwrap_err();
                assert!(e.stop, "{kind} must be final: {e}");
                assert!(e.message.contains("https://one"), "{e}");
                assert_eq!(update2.num_calls(), 0, "{kind}: the next endpoint is not tried");

                // Through the switches: the control plane is not tried after a final refusal.
                let (switches, change) = with_control_plane(switch);
                let out = switches.drain(&[Strategy::RoutingControl, Strategy::ControlPlane], &south()).await;
                assert_eq!(out.outcome(), Outcome::Failed, "{kind}");
                assert!(out.applied.is_empty());
                assert_eq!(change.num_calls(), 0, "{kind}: no fall-through to the control plane");
                assert!(out.records[0].detail.contains("final"), "{:?}", out.records);
            }
        }

        #[tokio::test]
        async fn an_update_we_may_not_make_is_our_configuration_and_the_control_plane_still_drains() {
            let read = state(RoutingControlState::On);
            let denied = refusal(403, "AccessDeniedException");
            let client = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&read, &denied]);
            let switch = RoutingControlSwitch::with_clients(vec![("https://one".into(), client)], controls());
            let (switches, change) = with_control_plane(switch);
            let out = switches.drain(&[Strategy::RoutingControl, Strategy::ControlPlane], &south()).await;
            assert!(!out.refused);
            assert_eq!(out.outcome(), Outcome::Succeeded, "{:?}", out.records);
            assert_eq!(out.applied, [Strategy::ControlPlane].into());
            assert_eq!(change.num_calls(), 1);
        }

        #[tokio::test]
        async fn a_control_that_does_not_read_back_off_is_unconfirmed_and_the_next_strategy_runs() {
            let read = state(RoutingControlState::On);
            let update = mock!(Arc::update_routing_control_state).then_output(|| UpdateRoutingControlStateOutput::builder().build());
            let client = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&read, &update]);
            let switch = RoutingControlSwitch::with_clients(vec![("https://one".into(), client)], controls());
            let (switches, change) = with_control_plane(switch);
            let out = switches.drain(&[Strategy::RoutingControl, Strategy::ControlPlane], &south()).await;
            assert_eq!(out.records[0].outcome, Outcome::Unconfirmed, "{:?}", out.records);
            assert_eq!(out.outcome(), Outcome::Succeeded);
            assert_eq!(change.num_calls(), 1, "the control plane drained too");
            assert_eq!(
                out.applied,
                [Strategy::RoutingControl, Strategy::ControlPlane].into(),
                "both hold the region drained: a failback must undo both"
            );
        }

        #[tokio::test]
        async fn unreachable_endpoints_are_skipped_until_one_answers() {
            let down = mock!(Arc::get_routing_control_state)
                .sequence()
                .http_status(503, None)
                .repeatedly()
                .build();
            let first = mock_client!(aws_sdk_route53recoverycluster, RuleMode::MatchAny, [&down]);
            let read = flips(RoutingControlState::On, RoutingControlState::Off);
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
        let e = ControlPlaneSwitch::new(crate::model::Deferred::ready(client), dns())
            .set_drained(&south(), true)
            .await
            .unwrap_err();
        assert!(e.action.starts_with("route53:ChangeResourceRecordSets"), "{e}");
    }
}
