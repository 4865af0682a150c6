//! DNS: the protected record, its per-region records and the traffic strategies.

use super::{Problems, SuiteConfig, defaults};
use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Ways of moving traffic, tried in the configured order until one succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// After a switch's own confirmation, longest wait until DNS is seen to have moved: Route
    /// 53's health checkers agree and its answers show the region gone (or back) beyond chance
    /// (`act::traffic::dns_moved`). Not seen in time: the switch is unconfirmed, the next
    /// strategy is tried and on-call is paged.
    #[serde(default = "defaults::answer_confirm_seconds")]
    pub answer_confirm_seconds: u64,
    /// Pause between two TestDNSAnswer samples: Route 53's API allows five requests a second
    /// per account ("Quotas", Route 53 API), shared with every other caller.
    #[serde(default = "defaults::answer_sample_ms")]
    pub answer_sample_ms: u64,
    /// The dns-failover function's timeout: the template's, written here by the deploy. A
    /// drain that may try every strategy must fit in it, or Lambda could stop it mid-change.
    #[serde(default = "defaults::dns_function_timeout_seconds")]
    pub function_timeout_seconds: u64,
    /// The periodic re-check compares each switch with the recorded state and alerts on a
    /// difference (someone wrote the drain metric or a record's weight); when set, it also puts
    /// the switch back as recorded (not while the kill switch is on or automation is frozen).
    #[serde(default)]
    pub restore_drift: bool,
}

impl DnsConfig {
    /// The longest one drain (or restore) can take when every configured strategy is tried
    /// and each waits its full bound: health-metric's confirmation, ARC's endpoints in turn
    /// (about 10 s each with the SDK's attempts), Route 53's busy retries (15.5 s) and INSYNC
    /// wait, each followed by the DNS confirmation; plus 30 s for the reads, scale-before-shift
    /// and the records around them.
    pub fn worst_case_seconds(&self) -> u64 {
        let per = |s: &Strategy| match s {
            Strategy::HealthMetric => self.health_metric.as_ref().map_or(0, |h| h.confirm_seconds + 10),
            Strategy::RoutingControl => self.routing_control.as_ref().map_or(0, |r| 10 * r.cluster_endpoints.len() as u64),
            Strategy::ControlPlane => 16 + self.insync_wait_seconds + 10,
        };
        30 + self.strategies.iter().map(|s| per(s) + self.answer_confirm_seconds).sum::<u64>()
    }
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
    /// The alarm on that metric that the region's CLOUDWATCH_METRIC health check follows, with
    /// `{region}` for the drained region (the template's `<platform>-drained-{region}`). It lives
    /// in the other regions; its state is how a drain or restore is confirmed.
    pub alarm_name: String,
    /// Longest wait for the drain alarm to reach ALARM (drain) or OK (restore). A standard
    /// 60-second alarm is evaluated once a minute ("Using Amazon CloudWatch alarms"), so this
    /// covers the datapoint's minute, the next evaluation and a margin.
    #[serde(default = "defaults::confirm_seconds")]
    pub confirm_seconds: u64,
}

impl HealthMetricConfig {
    /// The drain alarm of `region`.
    pub fn alarm_of(&self, region: &Region) -> String {
        self.alarm_name.replace("{region}", region.as_str())
    }
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
            if *s == Strategy::HealthMetric {
                match &self.dns.health_metric {
                    None => out.bad(
                        "dns.health_metric".into(),
                        "strategy health-metric is listed but not configured",
                        "add dns.health_metric with namespace, metric_name and alarm_name",
                    ),
                    Some(hm) if !hm.alarm_name.contains("{region}") => out.bad(
                        "dns.health_metric.alarm_name".into(),
                        "has no {region} placeholder, so every region would share one drain alarm",
                        "use the template's name, e.g. \"aworld-drained-{region}\"",
                    ),
                    Some(_) => {}
                }
            }
        }
        let worst = self.dns.worst_case_seconds();
        if self.dns.function_timeout_seconds > 900 {
            out.bad(
                "dns.function_timeout_seconds".into(),
                "is over 900, the longest a Lambda function runs",
                "use the template's DnsFailover Timeout",
            );
        } else if worst > self.dns.function_timeout_seconds {
            out.bad(
                "dns.function_timeout_seconds".into(),
                &format!(
                    "is {}s, but one drain trying every strategy can take {worst}s (confirm_seconds, insync_wait_seconds and the strategies' bounds): Lambda could stop it mid-change",
                    self.dns.function_timeout_seconds
                ),
                "shorten dns.health_metric.confirm_seconds or dns.insync_wait_seconds, or raise DnsFailover's Timeout in infra/template.yaml",
            );
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
