//! DNS: the protected record, its per-region records and the traffic strategies.

use super::{Problems, SuiteConfig, defaults};
use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Ways of moving traffic, tried in the configured order until one succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Publish the metric a Route 53 CLOUDWATCH_METRIC health check follows (data plane).
    HealthMetric,
    /// Set Route 53 ARC routing controls through the cluster's regional endpoints (data plane).
    RoutingControl,
    /// Change record weights with ChangeResourceRecordSets (control plane, fallback).
    ControlPlane,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// The protected DNS name, e.g. `api.aworld.example.` (one lease serialises all its changes).
    pub record_name: String,
    pub hosted_zone_id: String,
    pub strategies: Vec<Strategy>,
    /// The record of each region: weighted records carry a set identifier and a serving weight.
    pub records: BTreeMap<Region, RegionRecord>,
    #[serde(default)]
    pub health_metric: Option<HealthMetricConfig>,
    #[serde(default)]
    pub routing_control: Option<RoutingControlConfig>,
    /// Longest wait for a control-plane change to reach INSYNC.
    #[serde(default = "defaults::insync_wait_seconds")]
    pub insync_wait_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionRecord {
    pub set_identifier: String,
    #[serde(default = "defaults::weight")]
    pub weight: i64,
    #[serde(default)]
    pub health_check_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthMetricConfig {
    pub namespace: String,
    pub metric_name: String,
    /// Dimension name whose value is the drained region (`Region` by default).
    #[serde(default = "defaults::region_dimension")]
    pub region_dimension: String,
}

/// Route 53 Application Recovery Controller: one routing control per region, set through any
/// of the cluster's five regional endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingControlConfig {
    /// Tried in turn until one answers.
    pub cluster_endpoints: Vec<ClusterEndpoint>,
    /// The routing control ARN of each region (On = serving).
    pub controls: BTreeMap<Region, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEndpoint {
    pub region: Region,
    pub endpoint: String,
}

impl SuiteConfig {
    pub(super) fn check_dns(&self, out: &mut Problems) {
        if self.dns.record_name.trim().is_empty() {
            out.bad(
                "dns.record_name".into(),
                "is empty",
                "name the protected DNS record, e.g. \"api.example.com.\"",
            );
        }
        if self.dns.hosted_zone_id.trim().is_empty() {
            out.bad("dns.hosted_zone_id".into(), "is empty", "give the Route 53 hosted zone id");
        }
        if self.dns.strategies.is_empty() {
            out.bad(
                "dns.strategies".into(),
                "is empty",
                "list at least one of health-metric, routing-control, control-plane",
            );
        }
        let mut seen = BTreeSet::new();
        for s in &self.dns.strategies {
            if !seen.insert(format!("{s:?}")) {
                out.bad(
                    "dns.strategies".into(),
                    &format!("{s:?} is listed twice"),
                    "list each strategy once",
                );
            }
            if *s == Strategy::RoutingControl {
                match &self.dns.routing_control {
                    None => out.bad(
                        "dns.routing_control".into(),
                        "strategy routing-control is listed but not configured",
                        "add dns.routing_control with cluster_endpoints and controls",
                    ),
                    Some(rc) => {
                        if rc.cluster_endpoints.is_empty() {
                            out.bad(
                                "dns.routing_control.cluster_endpoints".into(),
                                "is empty",
                                "list the cluster's regional endpoints",
                            );
                        }
                        for region in self.regions.keys() {
                            if !rc.controls.contains_key(region) {
                                out.bad(
                                    format!("dns.routing_control.controls.{region}"),
                                    "missing",
                                    "give every region its routing control ARN",
                                );
                            }
                        }
                    }
                }
            }
            if *s == Strategy::HealthMetric && self.dns.health_metric.is_none() {
                out.bad(
                    "dns.health_metric".into(),
                    "strategy health-metric is listed but not configured",
                    "add dns.health_metric with namespace and metric_name",
                );
            }
        }
        for (region, rec) in &self.dns.records {
            if rec.set_identifier.trim().is_empty() {
                out.bad(
                    format!("dns.records.{region}.set_identifier"),
                    "is empty",
                    "use the record's SetIdentifier",
                );
            }
            if !(0..=255).contains(&rec.weight) {
                out.bad(
                    format!("dns.records.{region}.weight"),
                    "is outside 0..=255",
                    "Route 53 weights are 0 to 255",
                );
            }
        }
    }
}
