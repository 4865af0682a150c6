//! Readiness of the data: whether every protected table can be recovered (point-in-time
//! recovery on, with the configured period) and is replicated to every peer, because a region
//! taken over without its data is not a failover.

use super::{Area, Grade, Item};
use crate::config::SuiteConfig;
use crate::model::Region;
use std::collections::BTreeMap;

/// The grade of `table`'s point-in-time recovery in `region`: on, with at least `want_days`
/// days to recover from (a shorter window loses the restores the backup plan promises).
pub fn grade_pitr(table: &str, region: &Region, status: Option<&str>, days: Option<i32>, want_days: u32) -> Item {
    let name = format!("point-in-time recovery of {table}");
    match status {
        Some("ENABLED") if days.is_none_or(|d| d >= want_days as i32) => Item::pass(
            Area::Data,
            region.as_str(),
            name,
            format!("enabled, {} days", days.map_or(35, |d| d)),
        ),
        Some("ENABLED") => Item::new(
            Area::Data,
            region.as_str(),
            name,
            Grade::Fail,
            format!("enabled with {} days of recovery, {want_days} configured", days.unwrap_or_default()),
            format!("UpdateContinuousBackups with RecoveryPeriodInDays {want_days}"),
        ),
        other => Item::new(
            Area::Data,
            region.as_str(),
            name,
            Grade::Fail,
            format!("point-in-time recovery is {}", other.unwrap_or("not reported")),
            format!("enable it on this replica: UpdateContinuousBackups (RecoveryPeriodInDays {want_days})"),
        ),
    }
}

/// The grade of `table`'s replicas as `region` sees them (region name -> replica status):
/// every peer of `region` must hold an ACTIVE replica, or that peer has no copy to serve from.
pub fn grade_replicas(config: &SuiteConfig, table: &str, region: &Region, replicas: &BTreeMap<String, String>) -> Item {
    let item = format!("replicas of {table} seen from {region}");
    let wrong: Vec<String> = config
        .peers_of(region)
        .filter_map(|peer| match replicas.get(peer.as_str()) {
            Some(s) if s == "ACTIVE" => None,
            Some(s) => Some(format!("{peer} is {s}")),
            None => Some(format!("{peer} is not a replica")),
        })
        .collect();
    if wrong.is_empty() {
        Item::pass(
            Area::Data,
            region.as_str(),
            item,
            format!("every peer replica ACTIVE ({})", replicas.len()),
        )
    } else {
        Item::new(
            Area::Data,
            region.as_str(),
            item,
            Grade::Fail,
            wrong.join("; "),
            "add or repair the replica (UpdateTable ReplicaUpdates); until then the region has no copy of the data",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::south;
    use super::*;

    #[test]
    fn pitr_must_be_on_with_the_configured_period() {
        assert_eq!(grade_pitr("t", &south(), Some("ENABLED"), Some(35), 35).grade, Grade::Pass);
        assert_eq!(grade_pitr("t", &south(), Some("ENABLED"), Some(7), 35).grade, Grade::Fail);
        assert_eq!(grade_pitr("t", &south(), Some("DISABLED"), None, 35).grade, Grade::Fail);
    }
}
