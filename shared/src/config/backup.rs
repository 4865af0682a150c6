//! backup-verifier: RPO targets, PITR, replication and the restore drill.

use super::{Problems, SuiteConfig, defaults};
use crate::model::Region;
use serde::{Deserialize, Serialize};

/// Backup verification: thresholds and the restore drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// The PITR recovery period every replica must have.
    pub recovery_period_days: u32,
    /// RPO target: now − LatestRestorableDateTime above this FAILs.
    pub rpo_target_seconds: u64,
    /// Above this (but under the target) WARNs.
    pub rpo_warn_seconds: u64,
    /// Protected tables are global tables with a replica in every configured region.
    pub global_tables: bool,
    /// ReplicationLatency (maximum over 15 minutes) above this WARNs, above 10x FAILs.
    pub replication_latency_warn_ms: f64,
    /// The newest on-demand backup must be younger than this, where set.
    pub max_backup_age_hours: Option<u64>,
    /// The restore drill, where configured.
    pub drill: Option<DrillConfig>,
    /// The RPO probe, where configured: canary items written in this region's replica of the
    /// state table and read back in every other region's, so the replication lag is measured
    /// per region pair, not averaged (`ReplicationLatency` is a one-minute average).
    pub rpo_probe: Option<RpoProbeConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpoProbeConfig {
    /// Canary items written per run (each read back in every other region).
    pub samples: u32,
    /// Longest wait for one canary to appear in another region: not seen by then, replication
    /// is stalled (FAIL), and the RPO is at least this long.
    pub timeout_seconds: u64,
}

impl Default for RpoProbeConfig {
    fn default() -> Self {
        RpoProbeConfig {
            samples: 5,
            timeout_seconds: 30,
        }
    }
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            recovery_period_days: 35,
            rpo_target_seconds: 3600,
            rpo_warn_seconds: 900,
            global_tables: true,
            replication_latency_warn_ms: 1000.0,
            max_backup_age_hours: None,
            drill: None,
            rpo_probe: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// The table restored (a protected table) and where.
    pub table: String,
    pub region: Region,
    /// Canary items written into the table for the drill (under partition keys
    /// `resilience-drill#...`, the only ones the template lets backup-verifier write): the
    /// restore is validated on them, never on items the platform may change meanwhile.
    #[serde(default = "defaults::drill_canaries")]
    pub canaries: u32,
    /// A drill not finished this long after it started is abandoned (FAIL) and its scratch
    /// table and canaries removed. The contract's RTO is 24 h: a restore slower than that
    /// misses it anyway.
    #[serde(default = "defaults::drill_abandon_after_hours")]
    pub abandon_after_hours: u64,
    /// A drill schedule's tick starts a drill only this long after the last start: anyone who
    /// can invoke the function can send a tick, and each restore costs money and time. A signed
    /// verify-now is not held to it.
    #[serde(default = "defaults::drill_min_interval_hours")]
    pub min_interval_hours: u64,
    /// Schedules (rule or schedule names) that start a drill; others run the checks only (and
    /// move a drill in progress on).
    #[serde(default)]
    pub schedules: Vec<String>,
}

impl SuiteConfig {
    pub(super) fn check_backup(&self, out: &mut Problems) {
        if self.backup.rpo_warn_seconds > self.backup.rpo_target_seconds {
            out.bad(
                "backup.rpo_warn_seconds".into(),
                "is above backup.rpo_target_seconds",
                "warn before the target is missed",
            );
        }
        if let Some(d) = &self.backup.drill {
            if !self.protected_tables.contains(&d.table) {
                out.bad(
                    "backup.drill.table".into(),
                    &format!("{:?} is not in protected_tables", d.table),
                    "drill one of the protected tables",
                );
            }
            if !self.regions.contains_key(&d.region) {
                out.bad(
                    "backup.drill.region".into(),
                    &format!("{} is not a configured region", d.region),
                    "use one of regions",
                );
            }
            if !(1..=100).contains(&d.canaries) {
                out.bad("backup.drill.canaries".into(), "must be 1..=100", "e.g. 5");
            }
            if !(1..=24 * 7).contains(&d.abandon_after_hours) {
                out.bad("backup.drill.abandon_after_hours".into(), "must be 1..=168", "e.g. 24 (the RTO)");
            }
        }
    }
}
