//! capacity-scaler: resources, ceilings and the failover steps.

use super::{Problems, SuiteConfig};
use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Capacity the suite may raise before and during a failover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapacityConfig {
    pub resources: Vec<CapacityResource>,
    /// Cost guard: most units that may be added above baseline, summed over a region's resources.
    pub region_ceilings: BTreeMap<Region, i64>,
    /// Steps a failover intent adds to every resource of the region taking the traffic.
    pub failover_steps: u32,
    /// How long a resource's saturation alarms must stay OK before its baseline is restored.
    pub restore_after_seconds: u64,
    /// Unreserved concurrency a reserved-concurrency raise must leave in the account: Lambda
    /// keeps at least 100 (lower on some new accounts) and refuses PutFunctionConcurrency
    /// below it ("PutFunctionConcurrency"); the suite refuses, audited and notified, first.
    pub min_unreserved_concurrency: i64,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            resources: Vec::new(),
            region_ceilings: BTreeMap::new(),
            failover_steps: 2,
            restore_after_seconds: 900,
            min_unreserved_concurrency: 100,
        }
    }
}

/// One resource whose capacity may be raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityResource {
    pub region: Region,
    pub target: CapacityTarget,
    /// Units added per step (MinCapacity, or reserved concurrency).
    pub step: i64,
    /// Never above this.
    pub ceiling: i64,
    /// Alarms (in the resource's region) that say it is saturated: ALARM adds a step, OK
    /// sustained for `restore_after_seconds` restores the baseline.
    #[serde(default)]
    pub saturation_alarms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CapacityTarget {
    /// An Application Auto Scaling scalable target: its MinCapacity is raised (and MaxCapacity
    /// where it would fall below). DynamoDB tables and GSIs in provisioned mode, Lambda
    /// provisioned concurrency on an alias, ECS services.
    ScalableTarget {
        service_namespace: String,
        resource_id: String,
        scalable_dimension: String,
    },
    /// Lambda reserved concurrency (PutFunctionConcurrency).
    ReservedConcurrency { function_name: String },
}

impl CapacityResource {
    /// Stable name for leases, baselines and audit records.
    pub fn id(&self) -> String {
        match &self.target {
            CapacityTarget::ScalableTarget {
                resource_id,
                scalable_dimension,
                ..
            } => format!("{}/{resource_id}/{scalable_dimension}", self.region),
            CapacityTarget::ReservedConcurrency { function_name } => {
                format!("{}/function:{function_name}/reserved-concurrency", self.region)
            }
        }
    }
}

impl SuiteConfig {
    pub(super) fn check_capacity(&self, out: &mut Problems) {
        for (i, r) in self.capacity.resources.iter().enumerate() {
            let field = format!("capacity.resources[{i}]");
            if !self.regions.contains_key(&r.region) {
                out.bad(
                    format!("{field}.region"),
                    &format!("{} is not a configured region", r.region),
                    "use one of regions",
                );
            }
            if r.step <= 0 {
                out.bad(format!("{field}.step"), "must be positive", "units to add per step, e.g. 50");
            }
            if r.ceiling <= 0 {
                out.bad(
                    format!("{field}.ceiling"),
                    "must be positive",
                    "the most this resource may ever be raised to",
                );
            }
            if let CapacityTarget::ScalableTarget { service_namespace, .. } = &r.target
                && !["dynamodb", "lambda", "ecs"].contains(&service_namespace.as_str())
            {
                out.bad(
                    format!("{field}.target.service_namespace"),
                    &format!("{service_namespace:?} is not supported"),
                    "use dynamodb, lambda or ecs",
                );
            }
        }
        for (region, c) in &self.capacity.region_ceilings {
            if *c < 0 {
                out.bad(
                    format!("capacity.region_ceilings.{region}"),
                    "is negative",
                    "units that may be added above baseline, 0 or more",
                );
            }
        }
    }
}
