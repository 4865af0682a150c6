//! Reading capacity in a region: every resource a failover raises is there to be raised, and
//! the account's quotas (Lambda concurrency, DynamoDB table limits) leave room for the raise.
//! A raise the account refuses is found now, not when the surviving region is overloaded.

use super::ReadinessProbe;
use super::read::{code_of, failure};
use crate::config::{CapacityResource, CapacityTarget, SuiteConfig};
use crate::decide::readiness::{self as grade, Area, Grade, Item, Quotas};
use crate::model::Region;
use std::collections::BTreeMap;

impl ReadinessProbe {
    /// Capacity in `region`: each configured resource as its service has it, the unreserved
    /// concurrency left after the failover's raises, and the quotas above the ceilings.
    pub(super) async fn capacity(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let resources: Vec<_> = config.capacity.resources.iter().filter(|r| &r.region == region).collect();
        if resources.is_empty() {
            return vec![];
        }
        let aas = client!(self, aws_sdk_applicationautoscaling, region);
        let lambda = client!(self, aws_sdk_lambda, region);
        let mut items = Vec::new();
        // Reserved concurrency now, per resource: what the failover's raises start from.
        let mut current: BTreeMap<String, i64> = BTreeMap::new();
        for r in &resources {
            let item = format!("capacity target {}", r.id());
            items.push(match &r.target {
                CapacityTarget::ScalableTarget {
                    service_namespace,
                    resource_id,
                    scalable_dimension,
                } => scalable_target(&aas, region, item, service_namespace, resource_id, scalable_dimension).await,
                CapacityTarget::ReservedConcurrency { function_name } => {
                    let (graded, reserved) = reserved_concurrency(&lambda, region, item, function_name).await;
                    if let Some(reserved) = reserved {
                        current.insert(r.id(), reserved);
                    }
                    graded
                }
            });
        }
        let (unreserved, lambda_concurrency) = unreserved(&lambda, config, region, &current).await;
        items.push(unreserved);
        let quotas = Quotas {
            lambda_concurrency,
            ..Quotas::default()
        };
        items.push(self.quotas(config, region, &resources, quotas).await);
        items
    }

    /// The grade of the account quotas against the ceilings in `region`: `quotas` (Lambda's,
    /// read with the unreserved concurrency) completed with DynamoDB's table limits when a
    /// table is among the `resources`.
    async fn quotas(&self, config: &SuiteConfig, region: &Region, resources: &[&CapacityResource], mut quotas: Quotas) -> Item {
        let uses_dynamodb = resources
            .iter()
            .any(|r| matches!(&r.target, CapacityTarget::ScalableTarget { service_namespace, .. } if service_namespace == "dynamodb"));
        if uses_dynamodb {
            match client!(self, aws_sdk_dynamodb, region).describe_limits().send().await {
                Ok(out) => {
                    quotas.table_max_write = out.table_max_write_capacity_units();
                    quotas.table_max_read = out.table_max_read_capacity_units();
                }
                Err(e) => {
                    return grade::unreadable(
                        Area::Capacity,
                        region.as_str(),
                        "account quotas cover the ceilings",
                        "dynamodb:DescribeLimits",
                        &failure(e),
                    );
                }
            }
        }
        grade::grade_quotas(config, region, &quotas)
    }
}

/// Whether `resource_id` is a registered scalable target (capacity-scaler raises its minimum
/// through Application Auto Scaling, which refuses an unregistered one).
async fn scalable_target(
    aas: &aws_sdk_applicationautoscaling::Client,
    region: &Region,
    item: String,
    service_namespace: &str,
    resource_id: &str,
    scalable_dimension: &str,
) -> Item {
    let out = aas
        .describe_scalable_targets()
        .service_namespace(service_namespace.into())
        .resource_ids(resource_id)
        .scalable_dimension(scalable_dimension.into())
        .send()
        .await;
    match out {
        Ok(out) => match out.scalable_targets().first() {
            Some(t) => Item::pass(
                Area::Capacity,
                region.as_str(),
                item,
                format!("registered, min {} max {}", t.min_capacity(), t.max_capacity()),
            ),
            None => Item::new(
                Area::Capacity,
                region.as_str(),
                item,
                Grade::Fail,
                format!("{resource_id} ({scalable_dimension}) is not a registered scalable target: capacity-scaler cannot raise it"),
                "RegisterScalableTarget it (its baseline min and max), or remove it from capacity.resources",
            ),
        },
        Err(e) => grade::unreadable(
            Area::Capacity,
            region.as_str(),
            item,
            "application-autoscaling:DescribeScalableTargets",
            &failure(e),
        ),
    }
}

/// Whether `function_name` exists, and its reserved concurrency now when it could be read
/// (what a failover raises it from).
async fn reserved_concurrency(lambda: &aws_sdk_lambda::Client, region: &Region, item: String, function_name: &str) -> (Item, Option<i64>) {
    match lambda.get_function_concurrency().function_name(function_name).send().await {
        Ok(out) => {
            let reserved = out.reserved_concurrent_executions().map_or(0, i64::from);
            let graded = Item::pass(
                Area::Capacity,
                region.as_str(),
                item,
                format!("{function_name} exists, {reserved} reserved"),
            );
            (graded, Some(reserved))
        }
        Err(e) if code_of(&e) == Some("ResourceNotFoundException") => {
            let graded = Item::new(
                Area::Capacity,
                region.as_str(),
                item,
                Grade::Fail,
                format!("function {function_name} does not exist in {region}"),
                "deploy it, or correct capacity.resources[].target.function_name",
            );
            (graded, None)
        }
        Err(e) => {
            let graded = grade::unreadable(Area::Capacity, region.as_str(), item, "lambda:GetFunctionConcurrency", &failure(e));
            (graded, None)
        }
    }
}

/// The grade of the unreserved concurrency left after the failover raises the `current`
/// reservations, and the account's concurrency quota when it could be read.
async fn unreserved(
    lambda: &aws_sdk_lambda::Client,
    config: &SuiteConfig,
    region: &Region,
    current: &BTreeMap<String, i64>,
) -> (Item, Option<i64>) {
    match lambda.get_account_settings().send().await {
        Ok(out) => {
            let limit = out.account_limit();
            let unreserved = limit.and_then(|l| l.unreserved_concurrent_executions()).map_or(0, i64::from);
            let raise = grade::planned_reserved_raise(config, region, current);
            (
                grade::grade_unreserved(config, region, unreserved, raise),
                limit.map(|l| i64::from(l.concurrent_executions())),
            )
        }
        Err(e) => {
            let graded = grade::unreadable(
                Area::Capacity,
                region.as_str(),
                "unreserved concurrency after the failover raises",
                "lambda:GetAccountSettings",
                &failure(e),
            );
            (graded, None)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::test_support::{config, grades, probe, region};
    use super::*;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn quotas_short_of_the_plan_fail_naming_the_quota_and_the_shortfall() {
        use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ScalableTarget, ServiceNamespace};
        use aws_sdk_dynamodb::operation::describe_limits::DescribeLimitsOutput;
        use aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsOutput;
        use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyOutput;
        use aws_sdk_lambda::types::AccountLimit;
        let rules = [
            mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
                .sequence()
                .output(|| {
                    DescribeScalableTargetsOutput::builder()
                        .scalable_targets(
                            ScalableTarget::builder()
                                .service_namespace(ServiceNamespace::Dynamodb)
                                .resource_id("table/aworld-orders")
                                .scalable_dimension(ScalableDimension::DynamoDbTableWriteCapacityUnits)
                                .min_capacity(100)
                                .max_capacity(200)
                                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                                .role_arn("arn:aws:iam::123456789012:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable")
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .repeatedly()
                .build(),
            mock!(aws_sdk_lambda::Client::get_function_concurrency)
                .then_output(|| GetFunctionConcurrencyOutput::builder().reserved_concurrent_executions(100).build()),
            // 250 unreserved; the failover raises aworld-api by 2 x 100: 50 would be left.
            mock!(aws_sdk_lambda::Client::get_account_settings).then_output(|| {
                GetAccountSettingsOutput::builder()
                    .account_limit(AccountLimit::builder().concurrent_executions(1000).unreserved_concurrent_executions(250).build())
                    .build()
            }),
            // A table may not go above 500 write units here; the plan's ceiling is 1000.
            mock!(aws_sdk_dynamodb::Client::describe_limits).then_output(|| {
                DescribeLimitsOutput::builder()
                    .table_max_write_capacity_units(500)
                    .table_max_read_capacity_units(40_000)
                    .account_max_write_capacity_units(80_000)
                    .account_max_read_capacity_units(80_000)
                    .build()
            }),
        ];
        let items = probe(&rules).capacity(&config(), &region("eu-north-1")).await;
        let failing: Vec<&Item> = items.iter().filter(|i| i.grade == Grade::Fail).collect();
        assert_eq!(failing.len(), 2, "{:#?}", grades(&items));
        let unreserved = failing.iter().find(|i| i.item.starts_with("unreserved")).unwrap();
        assert!(unreserved.detail.contains("50 left"), "{unreserved:?}");
        let quota = failing.iter().find(|i| i.item.starts_with("account quotas")).unwrap();
        assert!(
            quota.detail.contains("TableMaxWriteCapacityUnits") && quota.detail.contains("500"),
            "{quota:?}"
        );
        assert!(quota.fix.contains("Service Quotas"), "{quota:?}");
        assert!(
            items
                .iter()
                .filter(|i| i.item.starts_with("capacity target"))
                .all(|i| i.grade == Grade::Pass)
        );
    }
}
