//! The capacity adapter: Application Auto Scaling targets and Lambda reserved concurrency,
//! read, changed and read back.

use crate::aws::clients::AwsClients;
use crate::config::{CapacityResource, CapacityTarget};
use crate::decide::capacity::Level;
use crate::model::said;
use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

/// Reads and sets resource levels. Lambda reserved concurrency 0 means "no reservation"
/// (restoring to it deletes the reservation; a reservation of 0 would stop the function).
#[derive(Debug, Clone)]
pub struct CapacityActuator {
    clients: AwsClients,
}

impl CapacityActuator {
    pub fn new(clients: AwsClients) -> Self {
        CapacityActuator { clients }
    }

    pub async fn read(&self, r: &CapacityResource) -> Result<Level, String> {
        match &r.target {
            CapacityTarget::ScalableTarget {
                service_namespace,
                resource_id,
                scalable_dimension,
            } => {
                let out = self
                    .clients
                    .autoscaling(&r.region)
                    .describe_scalable_targets()
                    .service_namespace(ServiceNamespace::from(service_namespace.as_str()))
                    .resource_ids(resource_id)
                    .scalable_dimension(ScalableDimension::from(scalable_dimension.as_str()))
                    .send()
                    .await
                    .map_err(|e| format!("application-autoscaling:DescribeScalableTargets {resource_id}: {}", said(&e)))?;
                let t = out.scalable_targets().first().ok_or_else(|| {
                    format!(
                        "{resource_id} ({scalable_dimension}) is not a registered scalable target in {}",
                        r.region
                    )
                })?;
                Ok(Level::new(i64::from(t.min_capacity()), Some(i64::from(t.max_capacity()))))
            }
            CapacityTarget::ReservedConcurrency { function_name } => {
                let out = self
                    .clients
                    .lambda(&r.region)
                    .get_function_concurrency()
                    .function_name(function_name)
                    .send()
                    .await
                    .map_err(|e| format!("lambda:GetFunctionConcurrency {function_name}: {}", said(&e)))?;
                Ok(out
                    .reserved_concurrent_executions()
                    .map_or_else(Level::unreserved, |r| Level::new(i64::from(r), None)))
            }
        }
    }

    /// The account's unreserved concurrency in `region` (GetAccountSettings).
    pub async fn unreserved_pool(&self, region: &crate::model::Region) -> Result<i64, String> {
        account_concurrency(&self.clients.lambda(region))
            .await
            .map_err(|e| e.to_string())?
            .1
            .ok_or_else(|| "lambda:GetAccountSettings returned no UnreservedConcurrentExecutions".to_owned())
    }

    pub async fn apply(&self, r: &CapacityResource, to: Level) -> Result<String, String> {
        let int = |v: i64| i32::try_from(v).map_err(|_| format!("{v} is out of range"));
        match &r.target {
            CapacityTarget::ScalableTarget {
                service_namespace,
                resource_id,
                scalable_dimension,
            } => {
                let mut req = self
                    .clients
                    .autoscaling(&r.region)
                    .register_scalable_target()
                    .service_namespace(ServiceNamespace::from(service_namespace.as_str()))
                    .resource_id(resource_id)
                    .scalable_dimension(ScalableDimension::from(scalable_dimension.as_str()))
                    .min_capacity(int(to.min)?);
                if let Some(max) = to.max {
                    req = req.max_capacity(int(max)?);
                }
                req.send().await.map_err(|e| said(&e))?;
                Ok(format!(
                    "application-autoscaling:RegisterScalableTarget {resource_id} {scalable_dimension} min={} max={:?}",
                    to.min, to.max
                ))
            }
            CapacityTarget::ReservedConcurrency { function_name } => {
                let lambda = self.clients.lambda(&r.region);
                // Back to no reservation. A reservation of 0 is a throttled function, kept so.
                if to.unreserved {
                    lambda
                        .delete_function_concurrency()
                        .function_name(function_name)
                        .send()
                        .await
                        .map_err(|e| said(&e))?;
                    return Ok(format!("lambda:DeleteFunctionConcurrency {function_name}"));
                }
                lambda
                    .put_function_concurrency()
                    .function_name(function_name)
                    .reserved_concurrent_executions(int(to.min)?)
                    .send()
                    .await
                    .map_err(|e| said(&e))?;
                Ok(format!("lambda:PutFunctionConcurrency {function_name} reserved={}", to.min))
            }
        }
    }
}

/// The account's Lambda concurrency in the client's region (GetAccountSettings): the quota
/// (`ConcurrentExecutions`) and what is left unreserved, when Lambda says.
pub async fn account_concurrency(lambda: &aws_sdk_lambda::Client) -> Result<(i64, Option<i64>), crate::model::ReadError> {
    let out = lambda
        .get_account_settings()
        .send()
        .await
        .map_err(|e| crate::model::classify("lambda:GetAccountSettings", &e))?;
    let limit = out.account_limit();
    Ok((
        limit.map_or(0, |l| i64::from(l.concurrent_executions())),
        limit.and_then(|l| l.unreserved_concurrent_executions()).map(i64::from),
    ))
}
