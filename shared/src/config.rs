//! One typed configuration for the whole suite, read once at cold start.
//!
//! The document is JSON, given inline in `RESILIENCE_CONFIG` or as a file named by
//! `RESILIENCE_CONFIG_FILE` (Lambda caps all environment variables at 4 KB, so large
//! topologies ship the file inside the package). Two emergency switches can also be flipped on
//! their own, without editing the document: `RESILIENCE_DRY_RUN` and `RESILIENCE_KILL_SWITCH`.
//! Every setting is documented in `docs/configuration.md`; `docs/example-config.json` is the
//! configuration the demo and the tests use.
//!
//! Validation is all-or-nothing: a configuration with any problem fails the init with every
//! problem named (field, what is wrong, how to fix it), so a function never runs half-valid.

use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub const ENV_CONFIG: &str = "RESILIENCE_CONFIG";
pub const ENV_CONFIG_FILE: &str = "RESILIENCE_CONFIG_FILE";
pub const ENV_DRY_RUN: &str = "RESILIENCE_DRY_RUN";
pub const ENV_KILL_SWITCH: &str = "RESILIENCE_KILL_SWITCH";

/// The whole suite's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteConfig {
    /// Short name of the platform, used in metric namespaces, audit records and notifications.
    pub platform: String,
    /// Every region that serves, with its role and the alarms that speak for its health.
    pub regions: BTreeMap<Region, RegionConfig>,
    pub dns: DnsConfig,
    #[serde(default)]
    pub protected_tables: Vec<String>,
    #[serde(default)]
    pub policy: Policy,
    pub notifications: NotificationConfig,
    /// The DynamoDB table holding leases, idempotency keys, audit records and baselines.
    pub state_table: String,
    #[serde(default)]
    pub operators: OperatorConfig,
    #[serde(default)]
    pub health_events: HealthEventConfig,
    /// What backup-verifier checks and how strictly.
    #[serde(default)]
    pub backup: BackupConfig,
    /// user-throttle and access-authorizer: levels, allow-list, ceiling, the throttle table.
    #[serde(default)]
    pub throttle: Option<ThrottleConfig>,
    /// access-authorizer: how JWTs are validated.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// What capacity-scaler may raise, by how much, and its ceilings. Empty: no capacity actions.
    #[serde(default)]
    pub capacity: CapacityConfig,
    /// Plan, audit and notify, but change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Take no automatic action at all (every decision is still audited).
    #[serde(default)]
    pub kill_switch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionRole {
    Primary,
    Backup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    pub role: RegionRole,
    /// Names of the CloudWatch alarms (in this region) whose ALARM state says it is failing.
    #[serde(default)]
    pub health_alarms: Vec<String>,
    /// A composite "region unhealthy" alarm: in ALARM it fails the region on its own.
    #[serde(default)]
    pub composite_alarm: Option<String>,
}

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

/// The limits automation must respect whatever arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// How many of a region's health alarms must be in ALARM for it to count as failed.
    pub quorum: usize,
    /// Let one alarm fail a region when it has only one (otherwise a lone alarm never does).
    pub single_alarm_fails_region: bool,
    /// After a failover, no automatic failback for this long.
    pub hold_down_seconds: u64,
    /// Fail back automatically (after the hold-down and a healthy period); manual by default.
    pub auto_failback: bool,
    /// How long a drained region must stay healthy without interruption before auto failback.
    pub failback_healthy_seconds: u64,
    /// Minimum time between two actions on one resource.
    pub cooldown_seconds: u64,
    /// How long a lease is held before another invocation may take it over.
    pub lease_seconds: u64,
    /// How long a lease holder waits for a busy lease before giving up (and being retried).
    pub lease_wait_seconds: u64,
    /// How long a handled signal is remembered, so a late duplicate is still recognised.
    pub idempotency_ttl_seconds: u64,
    /// How long audit records are kept before DynamoDB TTL removes them.
    pub audit_retention_days: u64,
}

impl Policy {
    /// Until when an audit record written at `now` is kept (its TTL).
    pub fn audit_kept_until(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::days(i64::try_from(self.audit_retention_days).unwrap_or(400))
    }

    /// Until when a handled signal is remembered, so a late duplicate is still recognised.
    pub fn key_kept_until(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        now + chrono::Duration::seconds(i64::try_from(self.idempotency_ttl_seconds).unwrap_or(86_400))
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            quorum: 2,
            single_alarm_fails_region: false,
            hold_down_seconds: 1800,
            auto_failback: false,
            failback_healthy_seconds: 900,
            cooldown_seconds: 300,
            lease_seconds: 60,
            lease_wait_seconds: 10,
            idempotency_ttl_seconds: 7 * 24 * 3600,
            audit_retention_days: 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// SNS topic of each region; a function publishes to the topic of the region it runs in.
    pub topics: BTreeMap<Region, String>,
}

/// Who may send operator commands. A command from anyone else is refused and audited.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// EventBridge `source` values accepted for operator commands.
    pub sources: Vec<String>,
    /// IAM principals (ARNs) accepted as the command's `requestedBy`.
    pub principals: Vec<String>,
}

/// Which AWS Health events speak for a region's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthEventConfig {
    /// Services (as AWS Health names them: `LAMBDA`, `APIGATEWAY`, `DYNAMODB`, ...).
    pub services: Vec<String>,
    /// An open issue for one of them fails the region on its own (otherwise it counts as one
    /// vote towards the quorum).
    pub decisive: bool,
}

impl Default for HealthEventConfig {
    fn default() -> Self {
        HealthEventConfig {
            services: ["LAMBDA", "APIGATEWAY", "DYNAMODB", "ROUTE53"].map(String::from).to_vec(),
            decisive: false,
        }
    }
}

/// Progressive, expiring limits on suspicious principals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// The throttle table (a global table; each region reads its local replica).
    pub table: String,
    /// Escalating levels, mildest first; a repeat offence within the window moves one up.
    pub levels: Vec<ThrottleLevelConfig>,
    #[serde(default = "defaults::escalation_window_seconds")]
    pub escalation_window_seconds: u64,
    /// Offences this close to the last one are one incident: recorded, not escalated again.
    #[serde(default = "defaults::coalesce_seconds")]
    pub coalesce_seconds: u64,
    /// Principals never throttled (internal and service principals), as `user#id`, `key#id`, `ip#addr`.
    #[serde(default)]
    pub allow_list: Vec<String>,
    /// Most principals newly throttled per minute: above it the function stops and alerts.
    #[serde(default = "defaults::max_new_per_minute")]
    pub max_new_per_minute: u64,
    /// EventBridge sources whose "Suspicious Activity" events are accepted.
    #[serde(default)]
    pub detector_sources: Vec<String>,
    /// Alarm metric dimensions naming a principal, and its kind (`user`, `key`, `ip`).
    #[serde(default)]
    pub principal_dimensions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleLevelConfig {
    pub name: String,
    pub duration_seconds: u64,
    /// Denied outright (otherwise rate-limited).
    #[serde(default)]
    pub block: bool,
    /// Requests per second allowed while rate-limited (documentation and the context).
    #[serde(default)]
    pub limit_rps: Option<f64>,
    /// API key of the usage plan with the lower limit; without one a rate-limited principal is denied.
    #[serde(default)]
    pub usage_plan_key: Option<String>,
}

/// JWT validation for access-authorizer. Tokens are valid in every region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    /// The JSON Web Key Set (RS256 / ES256 keys with `kid`), inline so no network call is on
    /// the request path; rotate by redeploying the configuration.
    pub jwks: serde_json::Value,
    /// Clock skew tolerated on `exp` / `nbf` (at most 300 s).
    #[serde(default = "defaults::leeway_seconds")]
    pub leeway_seconds: u64,
    /// How long a throttle lookup is cached in memory (a cached answer delays a new block).
    #[serde(default = "defaults::cache_seconds")]
    pub cache_seconds: u64,
}

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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// The table restored (a protected table) and where.
    pub table: String,
    pub region: Region,
    /// Items compared between the restored table and the source.
    #[serde(default = "defaults::sample_size")]
    pub sample_size: i32,
    /// Longest wait for the restored table to become ACTIVE.
    #[serde(default = "defaults::drill_wait_seconds")]
    pub max_wait_seconds: u64,
    /// Schedules (rule or schedule names) that run the drill; others run the checks only.
    #[serde(default)]
    pub schedules: Vec<String>,
}

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
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            resources: Vec::new(),
            region_ceilings: BTreeMap::new(),
            failover_steps: 2,
            restore_after_seconds: 900,
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

mod defaults {
    pub fn escalation_window_seconds() -> u64 {
        86_400
    }
    pub fn coalesce_seconds() -> u64 {
        60
    }
    pub fn max_new_per_minute() -> u64 {
        50
    }
    pub fn leeway_seconds() -> u64 {
        30
    }
    pub fn cache_seconds() -> u64 {
        5
    }
    pub fn sample_size() -> i32 {
        100
    }
    pub fn drill_wait_seconds() -> u64 {
        600
    }
    pub fn insync_wait_seconds() -> u64 {
        120
    }
    pub fn weight() -> i64 {
        100
    }
    pub fn region_dimension() -> String {
        "Region".to_owned()
    }
}

/// One thing wrong with a configuration: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.field, self.problem, self.fix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration: set {ENV_CONFIG} to the JSON document or {ENV_CONFIG_FILE} to its path (see docs/configuration.md)")]
    Missing,
    #[error("cannot read {ENV_CONFIG_FILE}={path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("{origin} is not a valid configuration document: {message} (see docs/configuration.md)")]
    Syntax { origin: String, message: String },
    #[error("{name}={value:?} is not a switch value (fix: use true or false)")]
    Switch { name: &'static str, value: String },
    #[error("invalid configuration, {} problem(s): {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ConfigProblem>),
}

impl SuiteConfig {
    /// Reads the configuration from this process's environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (origin, text) = match (lookup(ENV_CONFIG), lookup(ENV_CONFIG_FILE)) {
            (Some(inline), _) if !inline.trim().is_empty() => (ENV_CONFIG.to_owned(), inline),
            (_, Some(path)) if !path.trim().is_empty() => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
                    path: path.clone(),
                    source,
                })?;
                (format!("{ENV_CONFIG_FILE}={path}"), text)
            }
            _ => return Err(ConfigError::Missing),
        };
        let mut config = Self::parse(&origin, &text)?;
        if let Some(v) = switch(&lookup, ENV_DRY_RUN)? {
            config.dry_run = v;
        }
        if let Some(v) = switch(&lookup, ENV_KILL_SWITCH)? {
            config.kill_switch = v;
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates a configuration document.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let config = Self::parse("configuration", text)?;
        config.validate()?;
        Ok(config)
    }

    fn parse(origin: &str, text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
    }

    /// Checks everything serde cannot: cross-references, ranges, non-empty names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |field: String, problem: &str, fix: &str| {
            problems.push(ConfigProblem {
                field,
                problem: problem.to_owned(),
                fix: fix.to_owned(),
            })
        };

        if self.platform.trim().is_empty() {
            bad("platform".into(), "is empty", "name the platform, e.g. \"aworld\"");
        }
        if self.regions.len() < 2 {
            bad(
                "regions".into(),
                "fewer than two regions",
                "list every serving region; failover needs somewhere to go",
            );
        }
        if !self.regions.values().any(|r| r.role == RegionRole::Primary) {
            bad(
                "regions".into(),
                "no region has role \"primary\"",
                "give one region the role \"primary\"",
            );
        }
        let mut seen_alarms = BTreeSet::new();
        for (region, rc) in &self.regions {
            if rc.health_alarms.is_empty() && rc.composite_alarm.is_none() {
                bad(
                    format!("regions.{region}.health_alarms"),
                    "the region has no health alarms and no composite alarm, so its failure can never be seen",
                    "list the alarms that speak for its health",
                );
            }
            for name in rc.health_alarms.iter().chain(rc.composite_alarm.iter()) {
                if name.trim().is_empty() {
                    bad(
                        format!("regions.{region}.health_alarms"),
                        "contains an empty alarm name",
                        "remove it",
                    );
                } else if !seen_alarms.insert(name.as_str()) {
                    bad(
                        format!("regions.{region}.health_alarms"),
                        &format!("alarm {name:?} is listed for more than one region"),
                        "an alarm speaks for one region only",
                    );
                }
            }
            let effective = rc.health_alarms.len();
            if effective > 0 && self.policy.quorum > effective && !(effective == 1 && self.policy.single_alarm_fails_region) {
                bad(
                    format!("regions.{region}.health_alarms"),
                    &format!("{effective} alarm(s) can never reach policy.quorum = {}", self.policy.quorum),
                    "add alarms, lower the quorum, or set policy.single_alarm_fails_region",
                );
            }
            if !self.dns.records.contains_key(region) {
                bad(format!("dns.records.{region}"), "missing", "give every region its DNS record");
            }
            if !self.notifications.topics.contains_key(region) {
                bad(
                    format!("notifications.topics.{region}"),
                    "missing",
                    "give every region the ARN of its SNS topic",
                );
            }
        }
        for region in self.dns.records.keys() {
            if !self.regions.contains_key(region) {
                bad(
                    format!("dns.records.{region}"),
                    "names a region that is not in regions",
                    "add the region or remove the record",
                );
            }
        }
        for (region, arn) in &self.notifications.topics {
            if !arn.starts_with("arn:") || !arn.contains(":sns:") {
                bad(
                    format!("notifications.topics.{region}"),
                    "is not an SNS topic ARN",
                    "use arn:aws:sns:<region>:<account>:<topic>",
                );
            }
        }
        if self.policy.quorum == 0 {
            bad(
                "policy.quorum".into(),
                "is 0, which would fail a region with no alarm at all",
                "use 1 or more",
            );
        }
        if self.policy.lease_seconds == 0 || self.policy.lease_seconds > 900 {
            bad(
                "policy.lease_seconds".into(),
                "must be between 1 and 900 (the longest a Lambda runs)",
                "use e.g. 60",
            );
        }
        if self.policy.idempotency_ttl_seconds < 3600 {
            bad(
                "policy.idempotency_ttl_seconds".into(),
                "is under an hour; EventBridge and SNS retry for up to 24 h, so late duplicates would act again",
                "use 86400 or more",
            );
        }
        if self.dns.record_name.trim().is_empty() {
            bad(
                "dns.record_name".into(),
                "is empty",
                "name the protected DNS record, e.g. \"api.example.com.\"",
            );
        }
        if self.dns.hosted_zone_id.trim().is_empty() {
            bad("dns.hosted_zone_id".into(), "is empty", "give the Route 53 hosted zone id");
        }
        if self.dns.strategies.is_empty() {
            bad(
                "dns.strategies".into(),
                "is empty",
                "list at least one of health-metric, routing-control, control-plane",
            );
        }
        let mut seen = BTreeSet::new();
        for s in &self.dns.strategies {
            if !seen.insert(format!("{s:?}")) {
                bad(
                    "dns.strategies".into(),
                    &format!("{s:?} is listed twice"),
                    "list each strategy once",
                );
            }
            if *s == Strategy::RoutingControl {
                match &self.dns.routing_control {
                    None => bad(
                        "dns.routing_control".into(),
                        "strategy routing-control is listed but not configured",
                        "add dns.routing_control with cluster_endpoints and controls",
                    ),
                    Some(rc) => {
                        if rc.cluster_endpoints.is_empty() {
                            bad(
                                "dns.routing_control.cluster_endpoints".into(),
                                "is empty",
                                "list the cluster's regional endpoints",
                            );
                        }
                        for region in self.regions.keys() {
                            if !rc.controls.contains_key(region) {
                                bad(
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
                bad(
                    "dns.health_metric".into(),
                    "strategy health-metric is listed but not configured",
                    "add dns.health_metric with namespace and metric_name",
                );
            }
        }
        for (region, rec) in &self.dns.records {
            if rec.set_identifier.trim().is_empty() {
                bad(
                    format!("dns.records.{region}.set_identifier"),
                    "is empty",
                    "use the record's SetIdentifier",
                );
            }
            if !(0..=255).contains(&rec.weight) {
                bad(
                    format!("dns.records.{region}.weight"),
                    "is outside 0..=255",
                    "Route 53 weights are 0 to 255",
                );
            }
        }
        if self.state_table.trim().is_empty() {
            bad("state_table".into(), "is empty", "name the DynamoDB state table");
        }
        for (i, r) in self.capacity.resources.iter().enumerate() {
            let field = format!("capacity.resources[{i}]");
            if !self.regions.contains_key(&r.region) {
                bad(
                    format!("{field}.region"),
                    &format!("{} is not a configured region", r.region),
                    "use one of regions",
                );
            }
            if r.step <= 0 {
                bad(format!("{field}.step"), "must be positive", "units to add per step, e.g. 50");
            }
            if r.ceiling <= 0 {
                bad(
                    format!("{field}.ceiling"),
                    "must be positive",
                    "the most this resource may ever be raised to",
                );
            }
            if let CapacityTarget::ScalableTarget { service_namespace, .. } = &r.target
                && !["dynamodb", "lambda", "ecs"].contains(&service_namespace.as_str())
            {
                bad(
                    format!("{field}.target.service_namespace"),
                    &format!("{service_namespace:?} is not supported"),
                    "use dynamodb, lambda or ecs",
                );
            }
        }
        if self.backup.rpo_warn_seconds > self.backup.rpo_target_seconds {
            bad(
                "backup.rpo_warn_seconds".into(),
                "is above backup.rpo_target_seconds",
                "warn before the target is missed",
            );
        }
        if let Some(d) = &self.backup.drill {
            if !self.protected_tables.contains(&d.table) {
                bad(
                    "backup.drill.table".into(),
                    &format!("{:?} is not in protected_tables", d.table),
                    "drill one of the protected tables",
                );
            }
            if !self.regions.contains_key(&d.region) {
                bad(
                    "backup.drill.region".into(),
                    &format!("{} is not a configured region", d.region),
                    "use one of regions",
                );
            }
            if !(1..=1000).contains(&d.sample_size) {
                bad("backup.drill.sample_size".into(), "must be 1..=1000", "e.g. 100");
            }
            if d.max_wait_seconds > 840 {
                bad(
                    "backup.drill.max_wait_seconds".into(),
                    "exceeds what one Lambda invocation can wait",
                    "840 or less",
                );
            }
        }
        if let Some(t) = &self.throttle {
            if t.table.trim().is_empty() {
                bad("throttle.table".into(), "is empty", "name the throttle table");
            }
            if t.levels.is_empty() {
                bad(
                    "throttle.levels".into(),
                    "is empty",
                    "list at least one level, e.g. rate-limited for 900 s",
                );
            }
            for (i, l) in t.levels.iter().enumerate() {
                if l.duration_seconds == 0 {
                    bad(
                        format!("throttle.levels[{i}].duration_seconds"),
                        "is 0",
                        "how long the level lasts, e.g. 900",
                    );
                }
            }
            for p in &t.allow_list {
                if crate::model::Principal::parse(p).is_err() {
                    bad(
                        "throttle.allow_list".into(),
                        &format!("{p:?} is not a principal"),
                        "use user#<id>, key#<id> or ip#<address>",
                    );
                }
            }
            for (dim, kind) in &t.principal_dimensions {
                if !["user", "key", "ip"].contains(&kind.as_str()) {
                    bad(
                        format!("throttle.principal_dimensions.{dim}"),
                        &format!("{kind:?} is not a principal kind"),
                        "use user, key or ip",
                    );
                }
            }
        }
        if let Some(a) = &self.auth {
            if a.leeway_seconds > 300 {
                bad(
                    "auth.leeway_seconds".into(),
                    "is above 300",
                    "tolerate at most 5 minutes of clock skew",
                );
            }
            if a.jwks.get("keys").and_then(|k| k.as_array()).is_none_or(|k| k.is_empty()) {
                bad("auth.jwks".into(), "has no keys", "give the JWKS document ({\"keys\": [...]})");
            }
            if a.issuer.trim().is_empty() || a.audience.trim().is_empty() {
                bad(
                    "auth".into(),
                    "issuer and audience must be set",
                    "give the token issuer and this API's audience",
                );
            }
        }
        for (region, c) in &self.capacity.region_ceilings {
            if *c < 0 {
                bad(
                    format!("capacity.region_ceilings.{region}"),
                    "is negative",
                    "units that may be added above baseline, 0 or more",
                );
            }
        }
        for (i, p) in self.operators.principals.iter().enumerate() {
            if !p.starts_with("arn:") {
                bad(
                    format!("operators.principals[{i}]"),
                    "is not an ARN",
                    "use the IAM role or user ARN",
                );
            }
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The regions other than `region`.
    pub fn peers_of<'a>(&'a self, region: &'a Region) -> impl Iterator<Item = &'a Region> + 'a {
        self.regions.keys().filter(move |r| *r != region)
    }

    /// The region an alarm speaks for, by configuration.
    pub fn region_of_alarm(&self, alarm_name: &str) -> Option<&Region> {
        self.regions.iter().find_map(|(region, rc)| {
            (rc.health_alarms.iter().any(|a| a == alarm_name) || rc.composite_alarm.as_deref() == Some(alarm_name)).then_some(region)
        })
    }

    /// The SNS topic a function running in `region` publishes to.
    pub fn topic_for(&self, region: &Region) -> Option<&str> {
        self.notifications.topics.get(region).map(String::as_str)
    }
}

fn switch(lookup: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<bool>, ConfigError> {
    match lookup(name) {
        None => Ok(None),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(ConfigError::Switch { name, value: v }),
        },
    }
}

/// `docs/example-config.json`, the documented example: what the demo, the tests and the
/// benchmarks start from (one copy, so they cannot drift from the documentation).
pub const EXAMPLE: &str = include_str!("../../docs/example-config.json");

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn problems_of(text: &str) -> Vec<ConfigProblem> {
        match SuiteConfig::from_json(text) {
            Err(ConfigError::Invalid(p)) => p,
            other => panic!("expected validation problems, got {other:?}"),
        }
    }

    fn edit(f: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        f(&mut v);
        v.to_string()
    }

    #[test]
    fn the_documented_example_is_valid() {
        let c = SuiteConfig::from_json(EXAMPLE).unwrap();
        assert_eq!(c.regions.len(), 2);
        assert_eq!(c.region_of_alarm("api-5xx-eu-south-1").map(Region::as_str), Some("eu-south-1"));
        assert!(c.topic_for(&"eu-north-1".parse().unwrap()).is_some());
    }

    #[test]
    fn retention_follows_the_policy() {
        let p = Policy::default();
        let now: chrono::DateTime<chrono::Utc> = "2026-11-24T17:00:00Z".parse().unwrap();
        assert_eq!(p.audit_kept_until(now), now + chrono::Duration::days(400));
        assert_eq!(p.key_kept_until(now), now + chrono::Duration::days(7));
    }

    #[test]
    fn missing_configuration_says_which_variables_to_set() {
        let e = SuiteConfig::from_lookup(env(&[])).unwrap_err();
        assert!(e.to_string().contains(ENV_CONFIG) && e.to_string().contains(ENV_CONFIG_FILE), "{e}");
    }

    #[test]
    fn unknown_field_is_named() {
        let e = SuiteConfig::from_json(&edit(|v| v["policy"]["qourum"] = 2.into())).unwrap_err();
        assert!(e.to_string().contains("qourum"), "{e}");
    }

    #[test]
    fn bad_region_code_is_named() {
        let e = SuiteConfig::from_json(&EXAMPLE.replace("\"eu-north-1\": {", "\"Stockholm\": {")).unwrap_err();
        assert!(e.to_string().contains("Stockholm"), "{e}");
    }

    #[test]
    fn unreachable_quorum_is_refused_with_a_fix() {
        let p = problems_of(&edit(|v| v["policy"]["quorum"] = 9.into()));
        assert!(
            p.iter()
                .any(|p| p.field.starts_with("regions.eu-south-1") && p.problem.contains("quorum")),
            "{p:?}"
        );
        assert!(p.iter().all(|p| !p.fix.is_empty()));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = problems_of(&edit(|v| {
            v["state_table"] = "".into();
            v["notifications"]["topics"]["eu-north-1"] = "not-an-arn".into();
            v["dns"].as_object_mut().unwrap().remove("health_metric");
        }));
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"state_table"), "{fields:?}");
        assert!(fields.contains(&"notifications.topics.eu-north-1"), "{fields:?}");
        assert!(fields.contains(&"dns.health_metric"), "{fields:?}");
    }

    #[test]
    fn routing_control_strategy_needs_endpoints_and_a_control_per_region() {
        let p = problems_of(&edit(|v| v["dns"]["strategies"] = serde_json::json!(["routing-control"])));
        assert!(p.iter().any(|p| p.field == "dns.routing_control"), "{p:?}");
        let p = problems_of(&edit(|v| {
            v["dns"]["strategies"] = serde_json::json!(["routing-control", "control-plane"]);
            v["dns"]["routing_control"] = serde_json::json!({"cluster_endpoints": [], "controls": {"eu-south-1": "arn:x"}});
        }));
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert!(
            fields.contains(&"dns.routing_control.cluster_endpoints") && fields.contains(&"dns.routing_control.controls.eu-north-1"),
            "{fields:?}"
        );
    }

    #[test]
    fn a_region_without_record_or_topic_is_refused() {
        let p = problems_of(&edit(|v| {
            v["dns"]["records"].as_object_mut().unwrap().remove("eu-north-1");
        }));
        assert!(p.iter().any(|p| p.field == "dns.records.eu-north-1"), "{p:?}");
    }

    #[test]
    fn one_alarm_cannot_speak_for_two_regions() {
        let p = problems_of(&edit(|v| {
            v["regions"]["eu-north-1"]["health_alarms"][0] = "api-5xx-eu-south-1".into();
        }));
        assert!(p.iter().any(|p| p.problem.contains("more than one region")), "{p:?}");
    }

    #[test]
    fn emergency_switches_override_the_document() {
        let c = SuiteConfig::from_lookup(env(&[(ENV_CONFIG, EXAMPLE), (ENV_DRY_RUN, "true"), (ENV_KILL_SWITCH, "1")])).unwrap();
        assert!(c.dry_run && c.kill_switch);
        let c = SuiteConfig::from_lookup(env(&[(ENV_CONFIG, EXAMPLE), (ENV_DRY_RUN, "off")])).unwrap();
        assert!(!c.dry_run);
    }

    #[test]
    fn a_switch_that_is_not_boolean_is_refused() {
        let e = SuiteConfig::from_lookup(env(&[(ENV_CONFIG, EXAMPLE), (ENV_KILL_SWITCH, "maybe")])).unwrap_err();
        assert!(
            e.to_string().contains("RESILIENCE_KILL_SWITCH") && e.to_string().contains("maybe"),
            "{e}"
        );
    }

    #[test]
    fn configuration_can_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("resilience-config-{}.json", std::process::id()));
        std::fs::write(&path, EXAMPLE).unwrap();
        let c = SuiteConfig::from_lookup(env(&[(ENV_CONFIG_FILE, path.to_str().unwrap())])).unwrap();
        assert_eq!(c.platform, "aworld");
        std::fs::remove_file(path).ok();
        let e = SuiteConfig::from_lookup(env(&[(ENV_CONFIG_FILE, "/nonexistent/x.json")])).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.json"), "{e}");
    }

    #[test]
    fn syntax_error_names_the_origin() {
        let e = SuiteConfig::from_lookup(env(&[(ENV_CONFIG, "{not json")])).unwrap_err();
        assert!(e.to_string().starts_with(ENV_CONFIG), "{e}");
    }
}
