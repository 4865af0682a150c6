//! The data-plane switch through Route 53 ARC routing controls (five regional cluster endpoints).

use crate::act::traffic::SwitchError;
use crate::aws::clients::AwsClients;
use crate::evidence::audit::{ActionRecord, Outcome};
use crate::model::Region;
use std::collections::BTreeMap;

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

    pub(crate) async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
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
