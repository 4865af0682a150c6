//! Readiness of capacity: whether the account has room for what a failover raises (unreserved
//! Lambda concurrency, the quotas above each planned ceiling). A raise the account refuses
//! fails the failover under load, so it is graded before it is needed.

use super::{Area, Grade, Item};
use crate::config::{CapacityTarget, SuiteConfig};
use crate::model::Region;
use std::collections::BTreeMap;

/// What a failover would raise in `region` (reserved concurrency, the units that come out of
/// the account's unreserved pool): each resource `failover_steps` steps up from `current`,
/// capped at its ceiling.
pub fn planned_reserved_raise(config: &SuiteConfig, region: &Region, current: &BTreeMap<String, i64>) -> i64 {
    config
        .capacity
        .resources
        .iter()
        .filter(|r| &r.region == region && matches!(r.target, CapacityTarget::ReservedConcurrency { .. }))
        .map(|r| {
            let now = current.get(&r.id()).copied().unwrap_or_default();
            let to = (now + r.step * i64::from(config.capacity.failover_steps)).min(r.ceiling);
            (to - now).max(0)
        })
        .sum()
}

pub fn grade_unreserved(config: &SuiteConfig, region: &Region, unreserved: i64, raise: i64) -> Item {
    let min = config.capacity.min_unreserved_concurrency;
    let after = unreserved - raise;
    let name = "unreserved concurrency after the failover raises";
    if after < min {
        Item::new(
            Area::Capacity,
            region.as_str(),
            name,
            Grade::Fail,
            format!("{unreserved} unreserved now, {raise} raised by a failover: {after} left, below the {min} Lambda keeps"),
            "request a higher Lambda concurrent-executions quota, or lower the reserved-concurrency steps or ceilings",
        )
    } else {
        Item::pass(
            Area::Capacity,
            region.as_str(),
            name,
            format!("{unreserved} unreserved now, {raise} raised by a failover: {after} left (at least {min})"),
        )
    }
}

/// The account quotas that bound the planned ceilings in a region.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quotas {
    pub lambda_concurrency: Option<i64>,
    pub table_max_write: Option<i64>,
    pub table_max_read: Option<i64>,
}

pub fn grade_quotas(config: &SuiteConfig, region: &Region, q: &Quotas) -> Item {
    let mut short = Vec::new();
    for r in config.capacity.resources.iter().filter(|r| &r.region == region) {
        let (quota, name) = match &r.target {
            CapacityTarget::ReservedConcurrency { .. } => (q.lambda_concurrency, "Lambda concurrent executions"),
            CapacityTarget::ScalableTarget { scalable_dimension, .. } if scalable_dimension.starts_with("lambda:") => {
                (q.lambda_concurrency, "Lambda concurrent executions")
            }
            CapacityTarget::ScalableTarget { scalable_dimension, .. } if scalable_dimension.ends_with("WriteCapacityUnits") => {
                (q.table_max_write, "DynamoDB table write capacity (TableMaxWriteCapacityUnits)")
            }
            CapacityTarget::ScalableTarget { scalable_dimension, .. } if scalable_dimension.ends_with("ReadCapacityUnits") => {
                (q.table_max_read, "DynamoDB table read capacity (TableMaxReadCapacityUnits)")
            }
            CapacityTarget::ScalableTarget { .. } => continue,
        };
        if let Some(limit) = quota.filter(|l| r.ceiling > *l) {
            short.push(format!("{} ceiling {} exceeds the {name} quota {limit}", r.id(), r.ceiling));
        }
    }
    let name = "account quotas cover the ceilings";
    if short.is_empty() {
        Item::pass(
            Area::Capacity,
            region.as_str(),
            name,
            format!(
                "Lambda {}, DynamoDB table write {} / read {}",
                q.lambda_concurrency.map_or("?".into(), |v| v.to_string()),
                q.table_max_write.map_or("?".into(), |v| v.to_string()),
                q.table_max_read.map_or("?".into(), |v| v.to_string())
            ),
        )
    } else {
        Item::new(
            Area::Capacity,
            region.as_str(),
            name,
            Grade::Fail,
            short.join("; "),
            "request the quota increase in Service Quotas, or lower capacity.resources[].ceiling",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::config;
    use super::*;

    #[test]
    fn unreserved_concurrency_must_cover_the_planned_raises_with_100_to_spare() {
        let c = config();
        let north: Region = "eu-north-1".parse().unwrap();
        // aworld-api: step 100, 2 steps, ceiling 800: from 0 it raises 200; from 700, 100.
        assert_eq!(planned_reserved_raise(&c, &north, &BTreeMap::new()), 200);
        let id = c.capacity.resources[2].id();
        assert_eq!(planned_reserved_raise(&c, &north, &BTreeMap::from([(id, 700)])), 100);
        assert_eq!(grade_unreserved(&c, &north, 300, 200).grade, Grade::Pass);
        let short = grade_unreserved(&c, &north, 299, 200);
        assert_eq!(short.grade, Grade::Fail);
        assert!(short.detail.contains("99 left"), "{short:?}");
    }

    #[test]
    fn a_quota_below_a_ceiling_fails_naming_both() {
        let c = config();
        let north: Region = "eu-north-1".parse().unwrap();
        let ok = Quotas {
            lambda_concurrency: Some(1000),
            table_max_write: Some(40_000),
            table_max_read: Some(40_000),
        };
        assert_eq!(grade_quotas(&c, &north, &ok).grade, Grade::Pass);
        let short = grade_quotas(
            &c,
            &north,
            &Quotas {
                table_max_write: Some(500),
                ..ok
            },
        );
        assert_eq!(short.grade, Grade::Fail);
        assert!(short.detail.contains("ceiling 1000") && short.detail.contains("500"), "{short:?}");
    }
}
