//! One typed configuration for the whole suite, read once at cold start.
//!
//! The document is JSON. Deployed, it is the SSM parameter named by
//! `RESILIENCE_CONFIG_PARAMETER` (Advanced tier: up to 8 KB; a function's environment holds
//! 4 KB in all and a CloudFormation parameter 4,096 bytes), read at init and re-read while the
//! function runs (`aws::deployment`). Locally it is given inline in `RESILIENCE_CONFIG` or as a
//! file named by `RESILIENCE_CONFIG_FILE`. Two emergency switches can also be flipped on their
//! own, without editing the document: `RESILIENCE_DRY_RUN` and `RESILIENCE_KILL_SWITCH`.
//! Every setting is documented in `docs/configuration.md`; `docs/example-config.json` is the
//! configuration the demo and the tests use.
//!
//! Validation is all-or-nothing: a configuration with any problem fails the init with every
//! problem named (field, what is wrong, how to fix it), so a function never runs half-valid.

mod auth;
mod backup;
mod capacity;
mod dns;
mod policy;
mod practice_drill;
mod regions;
pub mod signed;
mod throttle;

pub use auth::AuthConfig;
pub use backup::{BackupConfig, DrillConfig, RpoProbeConfig};
pub use capacity::{CapacityConfig, CapacityResource, CapacityTarget};
pub use dns::{ClusterEndpoint, DnsConfig, HealthMetricConfig, RegionRecord, RoutingControlConfig, Strategy};
pub use policy::{HealthEventConfig, OperatorConfig, Policy, SigningKey};
pub use practice_drill::{PracticeDrillConfig, TriggerMetric, Window};
pub use regions::{NotificationConfig, RegionConfig, RegionRole};
pub use throttle::{LookupFailure, ThrottleConfig, ThrottleLevelConfig};

use crate::model::Region;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub const ENV_CONFIG: &str = "RESILIENCE_CONFIG";

pub const ENV_CONFIG_FILE: &str = "RESILIENCE_CONFIG_FILE";

/// The deployed form: the name of the SSM parameter holding the document (read by
/// `aws::deployment`, re-read while the function runs, so a change needs no code deploy).
pub const ENV_CONFIG_PARAMETER: &str = "RESILIENCE_CONFIG_PARAMETER";

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
    /// The practice drill, where configured (dns-failover). The key keeps its first name.
    #[serde(default, rename = "failover_drill", skip_serializing_if = "Option::is_none")]
    pub practice_drill: Option<PracticeDrillConfig>,
}

pub(crate) mod defaults {
    pub fn escalation_window_seconds() -> u64 {
        86_400
    }
    pub fn coalesce_seconds() -> u64 {
        60
    }
    pub fn jwks_refresh_seconds() -> u64 {
        300
    }

    pub fn max_new_per_minute() -> u64 {
        50
    }
    pub fn leeway_seconds() -> u64 {
        30
    }
    pub fn max_token_lifetime_seconds() -> u64 {
        24 * 3600
    }
    pub fn token_types() -> Vec<String> {
        vec!["JWT".into(), "at+jwt".into()]
    }
    pub fn cache_seconds() -> u64 {
        5
    }
    pub fn drill_canaries() -> u32 {
        5
    }
    pub fn drill_min_interval_hours() -> u64 {
        20
    }

    pub fn drill_abandon_after_hours() -> u64 {
        24
    }
    /// infra/template.yaml, DnsFailover `Timeout`.
    pub fn dns_function_timeout_seconds() -> u64 {
        600
    }
    pub fn confirm_seconds() -> u64 {
        150
    }
    pub fn insync_wait_seconds() -> u64 {
        120
    }
    pub fn answer_confirm_seconds() -> u64 {
        40
    }
    pub fn answer_sample_ms() -> u64 {
        200
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
    #[error(
        "no configuration: set {ENV_CONFIG_PARAMETER} to the SSM parameter holding it, {ENV_CONFIG} to the JSON document or {ENV_CONFIG_FILE} to its path (see docs/configuration.md)"
    )]
    Missing,
    #[error("cannot read the configuration parameter {name}: {message}")]
    Parameter { name: String, message: String },
    #[error("cannot read {ENV_CONFIG_FILE}={path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("{origin} is not a valid configuration document: {message} (see docs/configuration.md)")]
    Syntax { origin: String, message: String },
    #[error("{name}={value:?} is not a switch value (fix: use true or false)")]
    Switch { name: &'static str, value: String },
    #[error("invalid configuration, {} problem(s): {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ConfigProblem>),
}

/// The problems found so far; each section of the configuration adds its own.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(crate) fn bad(&mut self, field: String, problem: &str, fix: &str) {
        self.0.push(ConfigProblem {
            field,
            problem: problem.to_owned(),
            fix: fix.to_owned(),
        });
    }
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
        Self::from_text(&origin, &text, lookup)
    }

    /// Parses `text` (read from `origin`), applies the emergency switches of `lookup` and
    /// validates: the same steps whatever the document came from.
    pub fn from_text(origin: &str, text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::parse(origin, text)?;
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

    /// Checks everything serde cannot: cross-references, ranges, non-empty names. Each section
    /// checks itself (in its own file); every problem is reported at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        self.check_regions(&mut p);
        self.check_policy(&mut p);
        self.check_dns(&mut p);
        self.check_capacity(&mut p);
        self.check_backup(&mut p);
        self.check_practice_drill(&mut p);
        self.check_throttle(&mut p);
        self.check_auth(&mut p);
        let problems = p.0;
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

    /// The region an alarm speaks for, by configuration: a health or composite alarm of a
    /// region, or a saturation alarm of capacity resources in one region. Every signal path
    /// (EventBridge, an SNS notification without `AlarmArn`, an alarm action) resolves it so.
    pub fn region_of_alarm(&self, alarm_name: &str) -> Option<&Region> {
        let health = self.regions.iter().find_map(|(region, rc)| {
            (rc.health_alarms.iter().any(|a| a == alarm_name) || rc.composite_alarm.as_deref() == Some(alarm_name)).then_some(region)
        });
        let practice = || {
            self.practice_drill
                .as_ref()
                .filter(|d| d.trigger_alarms.iter().any(|a| a == alarm_name))
                .map(|d| &d.region)
        };
        health.or_else(practice).or_else(|| {
            let mut regions = self
                .capacity
                .resources
                .iter()
                .filter(|r| r.saturation_alarms.iter().any(|a| a == alarm_name))
                .map(|r| &r.region);
            let first = regions.next()?;
            // An alarm named by resources in two regions speaks for neither.
            regions.all(|r| r == first).then_some(first)
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
pub const EXAMPLE: &str = include_str!("../../../docs/example-config.json");

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
        assert_eq!(
            c.region_of_alarm("aworld-health-api-5xx-eu-south-1").map(Region::as_str),
            Some("eu-south-1")
        );
        assert_eq!(
            c.region_of_alarm("aworld-saturation-orders-throttles-eu-north-1")
                .map(Region::as_str),
            Some("eu-north-1"),
            "a saturation alarm resolves through its capacity resources"
        );
        assert_eq!(c.region_of_alarm("aworld-anomaly-requests-eu-north-1"), None);
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
    fn a_function_timeout_shorter_than_the_longest_drain_is_refused() {
        // Example: health-metric (150 + 10) then control-plane (16 + 120 + 10), each followed by
        // the DNS confirmation (40), plus 30.
        assert_eq!(SuiteConfig::from_json(EXAMPLE).unwrap().dns.worst_case_seconds(), 416);
        let p = problems_of(&edit(|v| v["dns"]["function_timeout_seconds"] = 300.into()));
        assert!(
            p.iter()
                .any(|p| p.field == "dns.function_timeout_seconds" && p.problem.contains("416s")),
            "{p:?}"
        );
        let p = problems_of(&edit(|v| v["dns"]["health_metric"]["alarm_name"] = "aworld-drained".into()));
        assert!(p.iter().any(|p| p.field == "dns.health_metric.alarm_name"), "{p:?}");
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
            v["regions"]["eu-north-1"]["health_alarms"][0] = "aworld-health-api-5xx-eu-south-1".into();
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
