//! The data-plane switch through Route 53 ARC routing controls (five regional cluster endpoints).

use crate::act::traffic::SwitchError;
use crate::aws::clients::AwsClients;
use crate::model::Region;
use crate::model::audit::{ActionRecord, Outcome};
use crate::model::said;
use aws_sdk_route53recoverycluster::Client;
use aws_sdk_route53recoverycluster::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53recoverycluster::types::RoutingControlState;
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

    /// Sets the region's control Off (`drained`) or On through the cluster endpoints in turn,
    /// until one answers; with no control configured, or no endpoint answering, the next
    /// strategy may still drain.
    pub(crate) async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        let wanted = if drained {
            RoutingControlState::Off
        } else {
            RoutingControlState::On
        };
        let action = format!("route53-recovery-cluster:UpdateRoutingControlState {region}={wanted}");
        let Some(arn) = self.controls.get(region) else {
            return Err(SwitchError::next(&action, format!("no routing control configured for {region}")));
        };
        let update = Update { arn, wanted, action };
        let mut failures = Vec::new();
        for (endpoint, client) in &self.endpoints {
            match update.at(endpoint, client, failures.len()).await {
                Turn::Next(failure) => failures.push(failure),
                Turn::Done(result) => return result,
            }
        }
        Err(SwitchError::next(
            &update.action,
            format!("no cluster endpoint answered: {}", failures.join("; ")),
        ))
    }
}

/// One routing control to set: its ARN, the state wanted, and the action as audited.
struct Update<'a> {
    arn: &'a str,
    wanted: RoutingControlState,
    action: String,
}

/// What one cluster endpoint's answer means for the switch.
enum Turn {
    /// The endpoint could not answer (this failure noted): try the next one.
    Next(String),
    /// The cluster's answer: the switch is done, one way or the other.
    Done(Result<ActionRecord, SwitchError>),
}

impl Update<'_> {
    /// Reads, and if needed sets, the control at one endpoint. An endpoint that cannot answer
    /// is skipped. Anything else it answers is the cluster's answer, the same at every
    /// endpoint: a rejected update (a safety rule, an invalid request) is final, since no other
    /// strategy may override what ARC refuses; a read or update we may not make (AccessDenied,
    /// a wrong ARN) is our configuration, and the next strategy may still drain.
    async fn at(&self, endpoint: &str, client: &Client, failed_before: usize) -> Turn {
        let state = match client.get_routing_control_state().routing_control_arn(self.arn).send().await {
            Ok(out) => out.routing_control_state().clone(),
            Err(e) if rotates(&e) => return Turn::Next(format!("{endpoint}: {}", said(&e))),
            Err(e) => {
                let why = format!("read at {endpoint}: {}", said(&e));
                return Turn::Done(Err(SwitchError::next(&self.action, why)));
            }
        };
        if state == self.wanted {
            return Turn::Done(Ok(ActionRecord {
                action: self.action.clone(),
                outcome: Outcome::AlreadyInPlace,
                detail: format!("already {} (read at {endpoint})", self.wanted),
                millis: 0,
                confirm_ms: None,
            }));
        }
        if let Err(e) = client
            .update_routing_control_state()
            .routing_control_arn(self.arn)
            .routing_control_state(self.wanted.clone())
            .send()
            .await
        {
            return self.update_failed(endpoint, &e);
        }
        Turn::Done(Ok(self.read_back(endpoint, client, failed_before).await))
    }

    /// An update this endpoint did not make: the next endpoint may answer, ARC refused it (final),
    /// or it is ours to fix (the next strategy may still drain).
    fn update_failed<E: ProvideErrorMetadata + std::error::Error + 'static>(&self, endpoint: &str, e: &SdkError<E, HttpResponse>) -> Turn {
        let message = format!("{endpoint}: {}", said(e));
        if rotates(e) {
            return Turn::Next(message);
        }
        let rejected = e.code().is_some_and(|c| c.starts_with("Validation") || c.starts_with("Conflict"));
        Turn::Done(Err(if rejected {
            SwitchError::stop(&self.action, format!("refused at {message}"))
        } else {
            SwitchError::next(&self.action, message)
        }))
    }

    /// Success means effect: the state read back from the cluster after the update.
    async fn read_back(&self, endpoint: &str, client: &Client, failed_before: usize) -> ActionRecord {
        let seen = client
            .get_routing_control_state()
            .routing_control_arn(self.arn)
            .send()
            .await
            .map(|o| o.routing_control_state().clone());
        let wanted = &self.wanted;
        let (outcome, seen) = match seen {
            Ok(s) if s == *wanted => (Outcome::Succeeded, format!("read back {s}")),
            Ok(s) => (Outcome::Unconfirmed, format!("read back {s}, not {wanted}")),
            Err(e) => (Outcome::Unconfirmed, format!("read-back failed: {}", said(&e))),
        };
        let after = if failed_before == 0 {
            String::new()
        } else {
            format!(" after {failed_before} endpoint(s) failed")
        };
        ActionRecord {
            action: self.action.clone(),
            outcome,
            detail: format!("set at {endpoint}{after}; {seen}"),
            millis: 0,
            confirm_ms: None,
        }
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
