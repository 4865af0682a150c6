//! The data-plane switch through Route 53 ARC routing controls (five regional cluster endpoints).

use crate::act::traffic::SwitchError;
use crate::aws::clients::AwsClients;
use crate::model::Region;
use crate::model::audit::{ActionRecord, Outcome};
use aws_sdk_route53recoverycluster::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
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
            return Err(SwitchError::next(&action, format!("no routing control configured for {region}")));
        };
        let mut failures = Vec::new();
        let after = |failures: &[String]| {
            if failures.is_empty() {
                String::new()
            } else {
                format!(" after {} endpoint(s) failed", failures.len())
            }
        };
        for (endpoint, client) in &self.endpoints {
            // An endpoint that cannot answer is skipped. Anything else it answers is the
            // cluster's answer, the same at every endpoint: a rejected update (a safety rule,
            // an invalid request) is final, since no other strategy may override what ARC
            // refuses; a read or update we may not make (AccessDenied, a wrong ARN) is our
            // configuration, and the next strategy may still drain.
            let state = match client.get_routing_control_state().routing_control_arn(arn).send().await {
                Ok(out) => out.routing_control_state().clone(),
                Err(e) if rotates(&e) => {
                    failures.push(format!("{endpoint}: {}", DisplayErrorContext(&e)));
                    continue;
                }
                Err(e) => {
                    return Err(SwitchError::next(
                        &action,
                        format!("read at {endpoint}: {}", DisplayErrorContext(&e)),
                    ));
                }
            };
            if state == wanted {
                return Ok(ActionRecord {
                    action,
                    outcome: Outcome::AlreadyInPlace,
                    detail: format!("already {wanted} (read at {endpoint})"),
                    millis: 0,
                    confirm_ms: None,
                });
            }
            if let Err(e) = client
                .update_routing_control_state()
                .routing_control_arn(arn)
                .routing_control_state(wanted.clone())
                .send()
                .await
            {
                let message = format!("{endpoint}: {}", DisplayErrorContext(&e));
                if rotates(&e) {
                    failures.push(message);
                    continue;
                }
                let rejected = e.code().is_some_and(|c| c.starts_with("Validation") || c.starts_with("Conflict"));
                return Err(if rejected {
                    SwitchError::stop(&action, format!("refused at {message}"))
                } else {
                    SwitchError::next(&action, message)
                });
            }
            // Success means effect: the state read back from the cluster.
            let seen = client
                .get_routing_control_state()
                .routing_control_arn(arn)
                .send()
                .await
                .map(|o| o.routing_control_state().clone());
            let (outcome, seen) = match seen {
                Ok(s) if s == wanted => (Outcome::Succeeded, format!("read back {s}")),
                Ok(s) => (Outcome::Unconfirmed, format!("read back {s}, not {wanted}")),
                Err(e) => (Outcome::Unconfirmed, format!("read-back failed: {}", DisplayErrorContext(e))),
            };
            return Ok(ActionRecord {
                action,
                outcome,
                detail: format!("set at {endpoint}{}; {seen}", after(&failures)),
                millis: 0,
                confirm_ms: None,
            });
        }
        Err(SwitchError::next(
            &action,
            format!("no cluster endpoint answered: {}", failures.join("; ")),
        ))
    }
}

/// Whether another cluster endpoint may answer: no connection, a timeout, a 5xx
/// (EndpointTemporarilyUnavailable: "Try another cluster endpoint"; InternalServer) or
/// throttling by this endpoint. Anything else (Validation, Conflict, AccessDenied,
/// ResourceNotFound) is the cluster refusing the request.
fn rotates<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() >= 500
                || matches!(
                    se.err().code(),
                    Some("ThrottlingException" | "EndpointTemporarilyUnavailableException" | "InternalServerException")
                )
        }
        _ => false,
    }
}
