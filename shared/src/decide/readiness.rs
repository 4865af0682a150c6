//! Readiness, the pure part: what each reading of the live account means for the failover path
//! (PASS / WARN / FAIL, with what is wrong and the fix), what changed since the last check, and
//! the permissions each function's configuration needs (one list: the readiness check simulates
//! it against the deployed roles, the deployed-stack test holds the template's grants to it).
//! The readings are taken by `act::readiness`; a read that failed is graded as such
//! ([`unreadable`]), never as a pass.

use crate::config::{CapacityTarget, Strategy, SuiteConfig};
use crate::model::{Function, Region};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Grade {
    Pass,
    Warn,
    Fail,
}

impl Grade {
    /// The EMF value of a grade (0 pass, 1 warn, 2 fail): one metric a dashboard can plot.
    pub fn level(self) -> f64 {
        match self {
            Grade::Pass => 0.0,
            Grade::Warn => 1.0,
            Grade::Fail => 2.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    Signals,
    Dns,
    Capacity,
    Data,
    Notifications,
    Permissions,
    Configuration,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Signals => "signals",
            Area::Dns => "dns",
            Area::Capacity => "capacity",
            Area::Data => "data",
            Area::Notifications => "notifications",
            Area::Permissions => "permissions",
            Area::Configuration => "configuration",
        }
    }
}

/// One graded item. `item` names what was checked, stably, so runs can be compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub area: Area,
    /// The region the item lives in (`global` for Route 53 and IAM).
    pub region: String,
    pub item: String,
    pub grade: Grade,
    pub detail: String,
    /// What to do about it (empty on PASS).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Item {
    pub fn pass(area: Area, region: &str, item: impl Into<String>, detail: impl Into<String>) -> Self {
        Item::new(area, region, item, Grade::Pass, detail, "")
    }

    pub fn new(area: Area, region: &str, item: impl Into<String>, grade: Grade, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Item {
            area,
            region: region.to_owned(),
            item: item.into(),
            grade,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    /// The identity of the item across runs.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.area.as_str(), self.region, self.item)
    }
}

/// Why a read did not answer. A denied or throttled read is never taken as a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFailure {
    /// The readiness check's own role may not read it: the item cannot be vouched for.
    Denied(String),
    /// The API asked us to slow down: not checked this time.
    Throttled(String),
    /// Anything else (an endpoint down, an API the account or the emulator does not offer).
    Other(String),
}

impl ReadFailure {
    /// Classifies an SDK error by its code (AWS's documented common error codes).
    pub fn from_code(code: Option<&str>, message: String) -> Self {
        match code.unwrap_or_default() {
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError" | "Forbidden" => {
                ReadFailure::Denied(message)
            }
            "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "Throttled"
            | "PriorRequestNotComplete"
            | "ProvisionedThroughputExceededException" => ReadFailure::Throttled(message),
            _ => ReadFailure::Other(message),
        }
    }
}

/// The grade of an item whose reading failed: denied fails (the check itself is mis-wired and
/// the item is unknown), throttled or unavailable warns (unknown this time).
pub fn unreadable(area: Area, region: &str, item: impl Into<String>, action: &str, failure: &ReadFailure) -> Item {
    match failure {
        ReadFailure::Denied(m) => Item::new(
            area,
            region,
            item,
            Grade::Fail,
            format!("not checked: {action} was denied ({m})"),
            format!("grant {action} to the readiness-check role (infra/template.yaml, ReadinessCheck)"),
        ),
        ReadFailure::Throttled(m) => Item::new(
            area,
            region,
            item,
            Grade::Warn,
            format!("not checked: {action} was throttled ({m})"),
            "none if the next check passes; otherwise ask for a higher API rate quota",
        ),
        ReadFailure::Other(m) => Item::new(
            area,
            region,
            item,
            Grade::Warn,
            format!("not checked: {action} did not answer ({m})"),
            "check the endpoint and the account's access to this API",
        ),
    }
}

/// One full check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessReport {
    pub at: DateTime<Utc>,
    /// The region the check ran from (it reads every configured region).
    pub checked_from: String,
    pub items: Vec<Item>,
    /// AWS API calls the check made, and how long it took.
    #[serde(default)]
    pub api_calls: u64,
    #[serde(default)]
    pub seconds: f64,
}

impl ReadinessReport {
    pub fn grade(&self) -> Grade {
        self.items.iter().map(|i| i.grade).max().unwrap_or(Grade::Pass)
    }

    pub fn count(&self, grade: Grade) -> usize {
        self.items.iter().filter(|i| i.grade == grade).count()
    }

    pub fn summary(&self) -> String {
        format!(
            "{:?}: {} PASS, {} WARN, {} FAIL ({} items, {} API calls, {:.1} s)",
            self.grade(),
            self.count(Grade::Pass),
            self.count(Grade::Warn),
            self.count(Grade::Fail),
            self.items.len(),
            self.api_calls,
            self.seconds
        )
    }
}

/// An item whose grade changed since the last check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub key: String,
    pub from: Option<Grade>,
    pub to: Grade,
    pub detail: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// What to tell the on-call engineer: items whose grade changed (a new item counts as changed
/// from PASS, so a first check reports only what is wrong, and an item that stays broken is
/// told once, not every 30 minutes).
pub fn changes(previous: Option<&ReadinessReport>, next: &ReadinessReport) -> Vec<Change> {
    let before: BTreeMap<String, Grade> = previous
        .map(|p| p.items.iter().map(|i| (i.key(), i.grade)).collect())
        .unwrap_or_default();
    next.items
        .iter()
        .filter_map(|i| {
            let from = before.get(&i.key()).copied();
            (from.unwrap_or(Grade::Pass) != i.grade).then(|| Change {
                key: i.key(),
                from,
                to: i.grade,
                detail: i.detail.clone(),
                fix: i.fix.clone(),
            })
        })
        .collect()
}

// ---- what one alarm must be for Route 53 to follow it -------------------------------------

/// The facts of a CloudWatch alarm the checks grade.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmFacts {
    pub name: String,
    pub composite: bool,
    pub period: Option<i32>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    /// A metric-math alarm (`Metrics` instead of one metric).
    pub metric_math: bool,
}

/// Why Route 53 cannot follow `alarm` with a CLOUDWATCH_METRIC health check, if it cannot.
/// "Monitoring a CloudWatch alarm" (Route 53 developer guide): standard-resolution metrics only,
/// the statistics Average, Minimum, Maximum, Sum and SampleCount (no extended statistics), no
/// metric math (and so no composite alarm either).
pub fn route53_alarm_problem(alarm: &AlarmFacts) -> Option<String> {
    if alarm.composite {
        return Some("is a composite alarm".into());
    }
    if alarm.metric_math {
        return Some("uses metric math".into());
    }
    if alarm.period.is_some_and(|p| p < 60) {
        return Some(format!(
            "has a period of {} s (a high-resolution metric)",
            alarm.period.unwrap_or_default()
        ));
    }
    if let Some(p) = &alarm.extended_statistic {
        return Some(format!("uses the extended statistic {p}"));
    }
    match alarm.statistic.as_deref() {
        Some("Average" | "Minimum" | "Maximum" | "Sum" | "SampleCount") => None,
        Some(other) => Some(format!("uses the statistic {other}")),
        None => Some("has no statistic".into()),
    }
}

// ---- EventBridge rules ----------------------------------------------------------------------

/// Whether an event pattern (JSON) matches a `source`, and, when `alarm` is given, an alarm of
/// that name (the pattern's `detail.alarmName` filter, exact or `prefix`). Patterns name their
/// values in arrays ("Amazon EventBridge event patterns"); a field the pattern leaves out matches.
pub fn pattern_routes(pattern: &str, source: &str, alarm: Option<&str>) -> bool {
    let Ok(p) = serde_json::from_str::<Value>(pattern) else {
        return false;
    };
    let matches = |filter: Option<&Value>, value: &str| match filter.and_then(Value::as_array) {
        None => true,
        Some(options) => options.iter().any(|o| match o {
            Value::String(s) => s == value,
            Value::Object(m) => m
                .get("prefix")
                .and_then(Value::as_str)
                .is_some_and(|prefix| value.starts_with(prefix)),
            _ => false,
        }),
    };
    matches(p.get("source"), source) && alarm.is_none_or(|a| matches(p.pointer("/detail/alarmName"), a))
}

/// A route a function depends on: events of `source` on `bus` (`default`, or a bus name)
/// reaching `function`; for alarm routes, each of `alarms` must pass the rule's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: Function,
    pub bus: String,
    pub source: String,
    pub alarms: Vec<String>,
}

/// The routes the configuration needs in every region (the template's EventBridge rules).
pub fn routes(config: &SuiteConfig, region: &Region) -> Vec<Route> {
    let p = &config.platform;
    let mut health: Vec<String> = Vec::new();
    for rc in config.regions.values() {
        health.extend(rc.health_alarms.iter().cloned());
        health.extend(rc.composite_alarm.iter().cloned());
    }
    let saturation: Vec<String> = config
        .capacity
        .resources
        .iter()
        .filter(|r| &r.region == region)
        .flat_map(|r| r.saturation_alarms.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let operator = format!("{p}-operator");
    let source = config.operators.sources.first().cloned().unwrap_or_else(|| format!("{p}.operator"));
    let mut out = vec![
        Route {
            function: Function::DnsFailover,
            bus: "default".into(),
            source: "aws.cloudwatch".into(),
            alarms: health,
        },
        Route {
            function: Function::DnsFailover,
            bus: "default".into(),
            source: "aws.health".into(),
            alarms: vec![],
        },
        Route {
            function: Function::DnsFailover,
            bus: operator.clone(),
            source: source.clone(),
            alarms: vec![],
        },
        Route {
            function: Function::CapacityScaler,
            bus: operator.clone(),
            source: source.clone(),
            alarms: vec![],
        },
        Route {
            function: Function::BackupVerifier,
            bus: operator,
            source,
            alarms: vec![],
        },
    ];
    if !saturation.is_empty() {
        out.push(Route {
            function: Function::CapacityScaler,
            bus: "default".into(),
            source: "aws.cloudwatch".into(),
            alarms: saturation,
        });
    }
    out
}

// ---- DNS ------------------------------------------------------------------------------------

/// A region's record as Route 53 has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordFacts {
    pub weight: Option<i64>,
    pub ttl: Option<i64>,
    pub health_check_id: Option<String>,
    pub values: Vec<String>,
}

/// Longest TTL that still lets a drain take effect within the modelled time to shift.
pub const MAX_TTL_SECONDS: i64 = 60;

pub fn grade_record(config: &SuiteConfig, region: &Region, found: Option<&RecordFacts>) -> Item {
    let record = &config.dns.records[region];
    let name = format!("record {} {}", config.dns.record_name, record.set_identifier);
    let Some(r) = found else {
        return Item::new(
            Area::Dns,
            "global",
            name,
            Grade::Fail,
            format!(
                "no record with set identifier {} in zone {}",
                record.set_identifier, config.dns.hosted_zone_id
            ),
            "create the weighted record (the peer region's stack does: PeerRecord) or correct dns.records.<region>.set_identifier",
        );
    };
    let needs_check = config.dns.strategies.iter().any(|s| *s != Strategy::ControlPlane);
    let mut wrong = Vec::new();
    let mut fixes = Vec::new();
    if r.weight.is_none() {
        wrong.push("is not a weighted record".to_owned());
        fixes.push("make it weighted (routing policy Weighted)".to_owned());
    }
    match (&r.health_check_id, &record.health_check_id) {
        (None, _) if needs_check => {
            wrong.push("carries no health check: a data-plane drain cannot take it out".into());
            fixes.push("attach the region's health check (HealthCheckId)".into());
        }
        (Some(found), Some(want)) if found != want => {
            wrong.push(format!("carries health check {found}, not the configured {want}"));
            fixes.push("attach the configured health check or correct dns.records.<region>.health_check_id".into());
        }
        _ => {}
    }
    let mut grade = if wrong.is_empty() { Grade::Pass } else { Grade::Fail };
    if let Some(ttl) = r.ttl.filter(|t| *t > MAX_TTL_SECONDS) {
        wrong.push(format!("has a TTL of {ttl} s: resolvers keep a drained region for that long"));
        fixes.push(format!("lower the TTL to {MAX_TTL_SECONDS} s or less"));
        grade = grade.max(Grade::Warn);
    }
    if wrong.is_empty() {
        Item::pass(
            Area::Dns,
            "global",
            name,
            format!(
                "weighted (weight {}), TTL {} s, health check {}",
                r.weight.unwrap_or_default(),
                r.ttl.unwrap_or_default(),
                r.health_check_id.as_deref().unwrap_or("none")
            ),
        )
    } else {
        Item::new(Area::Dns, "global", name, grade, wrong.join("; "), fixes.join("; "))
    }
}

/// A health check as Route 53 has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthCheckFacts {
    pub kind: String,
    pub inverted: bool,
    pub alarm_name: Option<String>,
    pub alarm_region: Option<String>,
    pub routing_control_arn: Option<String>,
}

/// Whether `region`'s record's health check follows what the configured strategies switch: the
/// drain alarm of that region (living in another region, not inverted) or its routing control.
pub fn grade_health_check(config: &SuiteConfig, region: &Region, id: &str, found: Option<&HealthCheckFacts>) -> Item {
    let name = format!("health check {id} ({region})");
    let Some(h) = found else {
        return Item::new(
            Area::Dns,
            "global",
            name,
            Grade::Fail,
            format!("the record of {region} names health check {id}, which does not exist"),
            "recreate the health check (the peer stack's PeerHealthCheck) and attach it to the record",
        );
    };
    let mut wrong = Vec::new();
    if h.inverted {
        wrong.push("is inverted: it reports healthy when the region is drained".to_owned());
    }
    let wants_metric = config.dns.strategies.contains(&Strategy::HealthMetric);
    let wants_control = config.dns.strategies.contains(&Strategy::RoutingControl);
    match h.kind.as_str() {
        "CLOUDWATCH_METRIC" if wants_metric => {
            let want = config.dns.health_metric.as_ref().map(|m| m.alarm_of(region)).unwrap_or_default();
            if h.alarm_name.as_deref() != Some(want.as_str()) {
                wrong.push(format!(
                    "watches alarm {}, not the drain alarm {want}",
                    h.alarm_name.as_deref().unwrap_or("none")
                ));
            }
            if h.alarm_region.as_deref() == Some(region.as_str()) {
                wrong.push(format!(
                    "watches an alarm in {region} itself, which a regional failure takes down with it"
                ));
            }
        }
        "RECOVERY_CONTROL" if wants_control => {
            let want = config.dns.routing_control.as_ref().and_then(|r| r.controls.get(region));
            if h.routing_control_arn.as_ref() != want {
                wrong.push(format!(
                    "follows routing control {}, not the configured {}",
                    h.routing_control_arn.as_deref().unwrap_or("none"),
                    want.map_or("none", String::as_str)
                ));
            }
        }
        other => wrong.push(format!(
            "is of type {other}, which none of the configured strategies ({:?}) switches",
            config.dns.strategies
        )),
    }
    if wrong.is_empty() {
        Item::pass(
            Area::Dns,
            "global",
            name,
            format!(
                "{} on {}",
                h.kind,
                h.alarm_name.as_deref().or(h.routing_control_arn.as_deref()).unwrap_or("?")
            ),
        )
    } else {
        Item::new(
            Area::Dns,
            "global",
            name,
            Grade::Fail,
            wrong.join("; "),
            "point the health check at the region's drain alarm (dns.health_metric.alarm_name) or routing control, not inverted",
        )
    }
}

/// Whether Route 53's own answer (`TestDNSAnswer`) agrees with the recorded state: it must be
/// the value of a serving region's record, never a drained one's.
pub fn grade_answer(answer: &[String], records: &BTreeMap<Region, RecordFacts>, drained: &BTreeSet<Region>) -> Item {
    let owner = |v: &String| records.iter().find(|(_, r)| r.values.contains(v)).map(|(region, _)| region);
    let owners: Vec<Option<&Region>> = answer.iter().map(owner).collect();
    let name = "answer agrees with the recorded state";
    if let Some(Some(region)) = owners.iter().find(|o| o.is_some_and(|r| drained.contains(r))) {
        return Item::new(
            Area::Dns,
            "global",
            name,
            Grade::Fail,
            format!("Route 53 answers {answer:?}, the record of {region}, which the suite recorded as drained"),
            "check the region's health check and drain alarm; `resilience status` shows what was recorded",
        );
    }
    if answer.is_empty() || owners.iter().any(Option::is_none) {
        return Item::new(
            Area::Dns,
            "global",
            name,
            Grade::Warn,
            format!("Route 53 answers {answer:?}, which is no configured region's record"),
            "check the zone for records the suite does not know",
        );
    }
    Item::pass(
        Area::Dns,
        "global",
        name,
        format!("Route 53 answers {answer:?}, a serving region's record"),
    )
}

// ---- capacity -------------------------------------------------------------------------------

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

// ---- notifications --------------------------------------------------------------------------

/// Whether a subscription's filter policy lets a critical notification of the suite through.
/// The suite's messages carry the attributes `severity`, `function` and `region`
/// (`evidence::notify::sns`). Policies on the message body, or with operators beyond exact
/// values, `prefix` and `anything-but`, are not evaluated here (`None`).
pub fn filter_lets_through(policy: Option<&str>, scope: Option<&str>, attributes: &BTreeMap<&str, &str>) -> Option<bool> {
    let Some(policy) = policy.filter(|p| !p.trim().is_empty()) else {
        return Some(true);
    };
    if scope == Some("MessageBody") {
        return None;
    }
    let p: Value = serde_json::from_str(policy).ok()?;
    let mut all = true;
    for (key, options) in p.as_object()? {
        let value = attributes.get(key.as_str()).copied();
        let mut any = false;
        for o in options.as_array()? {
            let hit = match (o, value) {
                (Value::String(s), Some(v)) => s == v,
                (Value::Object(m), v) => match m.iter().next() {
                    Some((op, arg)) if op == "prefix" => v.is_some_and(|v| arg.as_str().is_some_and(|a| v.starts_with(a))),
                    Some((op, arg)) if op == "anything-but" => {
                        let excluded: Vec<&str> = match arg {
                            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                            Value::String(s) => vec![s.as_str()],
                            _ => return None,
                        };
                        v.is_some_and(|v| !excluded.contains(&v))
                    }
                    Some((op, arg)) if op == "exists" => arg.as_bool()? == value.is_some(),
                    _ => return None,
                },
                _ => false,
            };
            any |= hit;
        }
        all &= any;
    }
    Some(all)
}

/// A subscription as SNS has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriptionFacts {
    pub protocol: String,
    pub endpoint: String,
    pub confirmed: bool,
    pub filter_policy: Option<String>,
    pub filter_scope: Option<String>,
}

/// A subscription reaches the on-call engineer when it lets through both what the topic
/// carries: the suite's critical notifications (with attributes) and CloudWatch's alarm
/// actions, which carry no message attributes, so any attribute filter drops them ("Amazon SNS
/// subscription filter policies": a message without attributes matches no policy).
pub fn grade_subscriptions(region: &Region, topic: &str, subs: &[SubscriptionFacts]) -> Item {
    let attributes = BTreeMap::from([("severity", "critical"), ("function", "dns-failover"), ("region", region.as_str())]);
    let mut reaching = Vec::new();
    let mut suite_only = Vec::new();
    let mut unsure = Vec::new();
    for s in subs.iter().filter(|s| s.confirmed) {
        let name = format!("{}:{}", s.protocol, s.endpoint);
        let alarms = s.filter_policy.as_deref().is_none_or(|p| p.trim().is_empty());
        match filter_lets_through(s.filter_policy.as_deref(), s.filter_scope.as_deref(), &attributes) {
            Some(true) if alarms => reaching.push(name),
            Some(true) => suite_only.push(name),
            Some(false) => {}
            None => unsure.push(name),
        }
    }
    if reaching.is_empty() && !suite_only.is_empty() {
        return Item::new(
            Area::Notifications,
            region.as_str(),
            format!("subscribers of {topic}"),
            Grade::Warn,
            format!(
                "{} get the suite's critical alerts, but their filter policies drop CloudWatch alarm notifications (no attributes)",
                suite_only.join(", ")
            ),
            "subscribe the on-call address without a filter policy (the template's AlertsEmail)",
        );
    }
    let pending = subs.iter().filter(|s| !s.confirmed).count();
    let name = format!("subscribers of {topic}");
    if !reaching.is_empty() {
        Item::pass(
            Area::Notifications,
            region.as_str(),
            name,
            format!("a critical alert reaches {}", reaching.join(", ")),
        )
    } else if !unsure.is_empty() {
        Item::new(
            Area::Notifications,
            region.as_str(),
            name,
            Grade::Warn,
            format!("the filter policies of {} could not be evaluated", unsure.join(", ")),
            "check that they let severity=critical through",
        )
    } else {
        Item::new(
            Area::Notifications,
            region.as_str(),
            name,
            Grade::Fail,
            format!(
                "no confirmed subscription lets a critical alert through ({} subscription(s), {pending} pending confirmation)",
                subs.len()
            ),
            "subscribe the on-call address (stack parameter AlertEmail) and confirm it, or widen its filter policy",
        )
    }
}

// ---- data -----------------------------------------------------------------------------------

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

// ---- permissions ----------------------------------------------------------------------------

/// The functions whose permissions the check simulates: every function but readiness-check
/// itself, whose grants are read-only and held against the template by the deployed-stack test
/// (a check that cannot run reports nothing, so it cannot vouch for itself).
pub fn checked_functions() -> impl Iterator<Item = Function> {
    Function::ALL.into_iter().filter(|f| *f != Function::ReadinessCheck)
}

/// The deployed name of `function` (the template names each `<platform>-<name>`).
pub fn function_name(config: &SuiteConfig, function: Function) -> String {
    format!("{}-{function}", config.platform)
}

/// One permission a function needs: an action on a resource, with the condition values the
/// request carries (`cloudwatch:namespace`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub action: &'static str,
    pub resource: String,
    pub context: Vec<(&'static str, String)>,
}

/// The account and partition of the deployment, read from the configured topic ARNs.
pub fn partition_and_account(config: &SuiteConfig) -> Option<(String, String)> {
    config.notifications.topics.values().find_map(|arn| {
        let parts: Vec<&str> = arn.split(':').collect();
        (parts.len() >= 6).then(|| (parts[1].to_owned(), parts[4].to_owned()))
    })
}

/// What `function`, deployed in `region`, needs to do its job under this configuration: the
/// one list of permissions (simulated by the readiness check, held against the template's
/// grants by the deployed-stack test). Reads of what it acts on are included where a decision
/// depends on them.
pub fn needs(config: &SuiteConfig, function: Function, region: &Region) -> Vec<Need> {
    let Some((partition, account)) = partition_and_account(config) else {
        return Vec::new();
    };
    let need = |action: &'static str, resource: String| Need {
        action,
        resource,
        context: Vec::new(),
    };
    let table = |r: &Region, name: &str| format!("arn:{partition}:dynamodb:{r}:{account}:table/{name}");
    let state = table(region, &config.state_table);
    let mut out = Vec::new();
    if let Some(topic) = config.topic_for(region).filter(|_| function != Function::AccessAuthorizer) {
        out.push(need("sns:Publish", topic.to_owned()));
    }
    let claims = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"];
    match function {
        Function::DnsFailover => {
            out.extend(claims.iter().map(|a| need(a, state.clone())));
            out.push(need("cloudwatch:DescribeAlarms", "*".into()));
            let zone = format!("arn:{partition}:route53:::hostedzone/{}", config.dns.hosted_zone_id);
            out.push(need("route53:ListResourceRecordSets", zone.clone()));
            // The practice failover drill: its trigger metric, Route 53's answer, its drain.
            if let Some(d) = &config.practice_drill {
                out.push(Need {
                    action: "cloudwatch:PutMetricData",
                    resource: "*".into(),
                    context: vec![("cloudwatch:namespace", d.trigger_metric.namespace.clone())],
                });
                out.push(need("route53:TestDNSAnswer", "*".into()));
                if let Some(m) = d.health_metric.as_ref().filter(|_| !d.use_production_record) {
                    out.push(Need {
                        action: "cloudwatch:PutMetricData",
                        resource: "*".into(),
                        context: vec![("cloudwatch:namespace", m.namespace.clone())],
                    });
                }
            }
            if config.dns.strategies.contains(&Strategy::ControlPlane) {
                out.push(need("route53:ChangeResourceRecordSets", zone));
                out.push(need("route53:GetChange", format!("arn:{partition}:route53:::change/*")));
            }
            if let Some(m) = config
                .dns
                .health_metric
                .as_ref()
                .filter(|_| config.dns.strategies.contains(&Strategy::HealthMetric))
            {
                out.push(Need {
                    action: "cloudwatch:PutMetricData",
                    resource: "*".into(),
                    context: vec![("cloudwatch:namespace", m.namespace.clone())],
                });
                out.push(need("cloudwatch:GetMetricData", "*".into()));
            }
            if let Some(rc) = config
                .dns
                .routing_control
                .as_ref()
                .filter(|_| config.dns.strategies.contains(&Strategy::RoutingControl))
            {
                for arn in rc.controls.values() {
                    out.push(need("route53-recovery-cluster:UpdateRoutingControlState", arn.clone()));
                }
            }
        }
        Function::CapacityScaler => {
            out.extend(claims.iter().map(|a| need(a, state.clone())));
            out.push(need("cloudwatch:DescribeAlarms", "*".into()));
            for r in &config.capacity.resources {
                match &r.target {
                    CapacityTarget::ScalableTarget { .. } => {
                        out.push(need("application-autoscaling:DescribeScalableTargets", "*".into()));
                        out.push(need(
                            "application-autoscaling:RegisterScalableTarget",
                            format!("arn:{partition}:application-autoscaling:{}:{account}:scalable-target/*", r.region),
                        ));
                    }
                    CapacityTarget::ReservedConcurrency { function_name } => {
                        let f = format!("arn:{partition}:lambda:{}:{account}:function:{function_name}", r.region);
                        out.push(need("lambda:GetFunctionConcurrency", f.clone()));
                        out.push(need("lambda:PutFunctionConcurrency", f));
                    }
                }
            }
        }
        Function::BackupVerifier => {
            out.extend(claims.iter().map(|a| need(a, state.clone())));
            for t in &config.protected_tables {
                for r in config.regions.keys() {
                    out.push(need("dynamodb:DescribeContinuousBackups", table(r, t)));
                }
            }
            if let Some(d) = &config.backup.drill {
                out.push(need("dynamodb:RestoreTableToPointInTime", table(&d.region, &d.table)));
                // The drill's canaries, under the key prefix the template's condition allows.
                for action in ["dynamodb:PutItem", "dynamodb:DeleteItem"] {
                    out.push(Need {
                        action,
                        resource: table(&d.region, &d.table),
                        context: vec![(
                            "dynamodb:LeadingKeys",
                            format!("{}readiness", crate::decide::restore_drill::CANARY_PREFIX),
                        )],
                    });
                }
            }
        }
        Function::UserThrottle => {
            out.extend(claims.iter().map(|a| need(a, state.clone())));
            out.push(need("cloudwatch:DescribeAlarms", "*".into()));
            if let Some(t) = &config.throttle {
                out.push(need("dynamodb:PutItem", table(region, &t.table)));
                out.push(need("dynamodb:GetItem", table(region, &t.table)));
            }
        }
        Function::AccessAuthorizer => {
            if let Some(t) = &config.throttle {
                out.push(need("dynamodb:GetItem", table(region, &t.table)));
            }
        }
        Function::ReadinessCheck => {}
    }
    out.sort();
    out.dedup();
    out
}

/// What a simulation answered for one need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    pub action: String,
    pub resource: String,
    /// `allowed`, `explicitDeny` or `implicitDeny` (SimulatePrincipalPolicy's EvalDecision).
    pub decision: String,
}

pub fn grade_permissions(function: Function, region: &Region, role: &str, results: &[Simulated]) -> Item {
    let denied: Vec<String> = results
        .iter()
        .filter(|r| r.decision != "allowed")
        .map(|r| format!("{} on {} ({})", r.action, r.resource, r.decision))
        .collect();
    let name = format!("{function} may do its job");
    if denied.is_empty() {
        Item::pass(
            Area::Permissions,
            region.as_str(),
            name,
            format!("{} action(s) allowed to {role}", results.len()),
        )
    } else {
        Item::new(
            Area::Permissions,
            region.as_str(),
            name,
            Grade::Fail,
            format!("{role} is refused: {}", denied.join("; ")),
            format!("grant these to {function}'s role in infra/template.yaml (or lift the deny or permissions boundary)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SuiteConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap()
    }

    fn south() -> Region {
        "eu-south-1".parse().unwrap()
    }

    fn report(items: Vec<Item>) -> ReadinessReport {
        ReadinessReport {
            at: Utc::now(),
            checked_from: "eu-south-1".into(),
            items,
            api_calls: 0,
            seconds: 0.0,
        }
    }

    #[test]
    fn a_change_of_grade_is_told_once_and_a_first_check_tells_only_what_is_wrong() {
        let ok = Item::pass(Area::Data, "eu-south-1", "pitr", "fine");
        let broken = Item::new(Area::Data, "eu-south-1", "pitr", Grade::Fail, "off", "enable");
        assert_eq!(changes(None, &report(vec![ok.clone()])), vec![]);
        let first = changes(None, &report(vec![broken.clone()]));
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].from, first[0].to), (None, Grade::Fail));
        assert_eq!(changes(Some(&report(vec![broken.clone()])), &report(vec![broken.clone()])), vec![]);
        let healed = changes(Some(&report(vec![broken])), &report(vec![ok]));
        assert_eq!((healed[0].from, healed[0].to), (Some(Grade::Fail), Grade::Pass));
    }

    #[test]
    fn a_denied_read_fails_and_a_throttled_read_warns_never_passes() {
        let denied = unreadable(
            Area::Dns,
            "global",
            "x",
            "route53:GetHealthCheck",
            &ReadFailure::from_code(Some("AccessDenied"), "no".into()),
        );
        assert_eq!(denied.grade, Grade::Fail);
        assert!(denied.fix.contains("route53:GetHealthCheck"));
        let throttled = unreadable(
            Area::Dns,
            "global",
            "x",
            "a",
            &ReadFailure::from_code(Some("Throttling"), "slow".into()),
        );
        assert_eq!(throttled.grade, Grade::Warn);
        assert!(throttled.detail.contains("throttled"));
    }

    #[test]
    fn route53_follows_only_standard_resolution_alarms_on_supported_statistics() {
        let good = AlarmFacts {
            name: "a".into(),
            period: Some(60),
            statistic: Some("Maximum".into()),
            ..AlarmFacts::default()
        };
        assert_eq!(route53_alarm_problem(&good), None);
        let high_res = AlarmFacts {
            period: Some(10),
            ..good.clone()
        };
        assert!(route53_alarm_problem(&high_res).unwrap().contains("high-resolution"));
        let p99 = AlarmFacts {
            statistic: None,
            extended_statistic: Some("p99".into()),
            ..good.clone()
        };
        assert!(route53_alarm_problem(&p99).unwrap().contains("p99"));
        let math = AlarmFacts { metric_math: true, ..good };
        assert!(route53_alarm_problem(&math).unwrap().contains("metric math"));
    }

    #[test]
    fn a_rule_routes_an_alarm_only_if_its_name_filter_matches() {
        let p = r#"{"source":["aws.cloudwatch"],"detail-type":["CloudWatch Alarm State Change"],"detail":{"alarmName":[{"prefix":"aworld-health-"}]}}"#;
        assert!(pattern_routes(p, "aws.cloudwatch", Some("aworld-health-api-5xx-eu-south-1")));
        assert!(!pattern_routes(p, "aws.cloudwatch", Some("aworld-api-5xx-renamed")));
        assert!(!pattern_routes(p, "aws.health", None));
        assert!(pattern_routes(r#"{"source":["aworld.operator"]}"#, "aworld.operator", None));
        assert!(!pattern_routes("not json", "aws.health", None));
    }

    #[test]
    fn a_record_without_health_check_fails_and_a_long_ttl_warns() {
        let c = config();
        let good = RecordFacts {
            weight: Some(100),
            ttl: Some(60),
            health_check_id: Some("hc".into()),
            values: vec!["192.0.2.10".into()],
        };
        assert_eq!(grade_record(&c, &south(), Some(&good)).grade, Grade::Pass);
        let bare = RecordFacts {
            health_check_id: None,
            ..good.clone()
        };
        let item = grade_record(&c, &south(), Some(&bare));
        assert_eq!(item.grade, Grade::Fail);
        assert!(item.detail.contains("no health check"), "{item:?}");
        let slow = RecordFacts { ttl: Some(300), ..good };
        assert_eq!(grade_record(&c, &south(), Some(&slow)).grade, Grade::Warn);
        assert_eq!(grade_record(&c, &south(), None).grade, Grade::Fail);
    }

    #[test]
    fn a_health_check_must_follow_the_drain_alarm_of_its_region_from_another_region() {
        let c = config();
        let good = HealthCheckFacts {
            kind: "CLOUDWATCH_METRIC".into(),
            alarm_name: Some("aworld-drained-eu-south-1".into()),
            alarm_region: Some("eu-north-1".into()),
            ..HealthCheckFacts::default()
        };
        assert_eq!(grade_health_check(&c, &south(), "hc", Some(&good)).grade, Grade::Pass);
        let other = HealthCheckFacts {
            alarm_name: Some("aworld-drained-eu-north-1".into()),
            ..good.clone()
        };
        assert!(
            grade_health_check(&c, &south(), "hc", Some(&other))
                .detail
                .contains("not the drain alarm")
        );
        let inverted = HealthCheckFacts {
            inverted: true,
            ..good.clone()
        };
        assert_eq!(grade_health_check(&c, &south(), "hc", Some(&inverted)).grade, Grade::Fail);
        let local = HealthCheckFacts {
            alarm_region: Some("eu-south-1".into()),
            ..good
        };
        assert!(grade_health_check(&c, &south(), "hc", Some(&local)).detail.contains("itself"));
    }

    #[test]
    fn the_dns_answer_must_be_a_serving_regions_record() {
        let records = BTreeMap::from([
            (
                south(),
                RecordFacts {
                    values: vec!["192.0.2.20".into()],
                    ..RecordFacts::default()
                },
            ),
            (
                "eu-north-1".parse().unwrap(),
                RecordFacts {
                    values: vec!["192.0.2.10".into()],
                    ..RecordFacts::default()
                },
            ),
        ]);
        let drained = BTreeSet::from([south()]);
        assert_eq!(grade_answer(&["192.0.2.10".into()], &records, &drained).grade, Grade::Pass);
        assert_eq!(grade_answer(&["192.0.2.20".into()], &records, &drained).grade, Grade::Fail);
        assert_eq!(grade_answer(&["203.0.113.1".into()], &records, &drained).grade, Grade::Warn);
    }

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

    #[test]
    fn filter_policies_are_evaluated_against_a_critical_alert() {
        let attrs = BTreeMap::from([("severity", "critical"), ("function", "dns-failover")]);
        assert_eq!(filter_lets_through(None, None, &attrs), Some(true));
        assert_eq!(
            filter_lets_through(Some(r#"{"severity":["critical","warning"]}"#), None, &attrs),
            Some(true)
        );
        assert_eq!(filter_lets_through(Some(r#"{"severity":["info"]}"#), None, &attrs), Some(false));
        assert_eq!(
            filter_lets_through(Some(r#"{"severity":[{"anything-but":"critical"}]}"#), None, &attrs),
            Some(false)
        );
        assert_eq!(
            filter_lets_through(Some(r#"{"function":[{"prefix":"dns-"}]}"#), None, &attrs),
            Some(true)
        );
        assert_eq!(
            filter_lets_through(Some(r#"{"severity":[{"numeric":[">",1]}]}"#), None, &attrs),
            None
        );
        assert_eq!(
            filter_lets_through(Some(r#"{"severity":["info"]}"#), Some("MessageBody"), &attrs),
            None
        );
    }

    #[test]
    fn notifications_need_one_confirmed_subscription_that_lets_alerts_through() {
        let confirmed = SubscriptionFacts {
            protocol: "email".into(),
            endpoint: "oncall@x".into(),
            confirmed: true,
            ..SubscriptionFacts::default()
        };
        assert_eq!(
            grade_subscriptions(&south(), "t", std::slice::from_ref(&confirmed)).grade,
            Grade::Pass
        );
        let pending = SubscriptionFacts {
            confirmed: false,
            ..confirmed.clone()
        };
        let item = grade_subscriptions(&south(), "t", &[pending]);
        assert_eq!(item.grade, Grade::Fail);
        assert!(item.detail.contains("1 pending"), "{item:?}");
        let filtered = SubscriptionFacts {
            filter_policy: Some(r#"{"severity":["info"]}"#.into()),
            ..confirmed.clone()
        };
        assert_eq!(grade_subscriptions(&south(), "t", &[filtered]).grade, Grade::Fail);
        let suite_only = SubscriptionFacts {
            filter_policy: Some(r#"{"severity":["critical"]}"#.into()),
            ..confirmed
        };
        let item = grade_subscriptions(&south(), "t", &[suite_only]);
        assert_eq!(item.grade, Grade::Warn, "alarm actions carry no attributes: {item:?}");
        assert!(item.detail.contains("CloudWatch alarm notifications"), "{item:?}");
        assert_eq!(grade_subscriptions(&south(), "t", &[]).grade, Grade::Fail);
    }

    #[test]
    fn pitr_must_be_on_with_the_configured_period() {
        assert_eq!(grade_pitr("t", &south(), Some("ENABLED"), Some(35), 35).grade, Grade::Pass);
        assert_eq!(grade_pitr("t", &south(), Some("ENABLED"), Some(7), 35).grade, Grade::Fail);
        assert_eq!(grade_pitr("t", &south(), Some("DISABLED"), None, 35).grade, Grade::Fail);
    }

    #[test]
    fn each_function_needs_what_its_configuration_uses() {
        let c = config();
        let dns = needs(&c, Function::DnsFailover, &south());
        assert!(
            dns.iter().any(
                |n| n.action == "cloudwatch:PutMetricData" && n.context == vec![("cloudwatch:namespace", "aworld/Failover".to_owned())]
            )
        );
        assert!(
            dns.iter()
                .any(|n| n.action == "route53:ChangeResourceRecordSets" && n.resource == "arn:aws:route53:::hostedzone/Z0AWORLDEXAMPLE")
        );
        let backup = needs(&c, Function::BackupVerifier, &south());
        assert_eq!(
            backup.iter().filter(|n| n.action == "dynamodb:DescribeContinuousBackups").count(),
            4,
            "two tables in two regions"
        );
        for f in checked_functions() {
            assert!(!needs(&c, f, &south()).is_empty(), "{f}");
        }
        let denied = grade_permissions(
            Function::DnsFailover,
            &south(),
            "role",
            &[Simulated {
                action: "route53:ChangeResourceRecordSets".into(),
                resource: "z".into(),
                decision: "implicitDeny".into(),
            }],
        );
        assert_eq!(denied.grade, Grade::Fail);
        assert!(denied.detail.contains("route53:ChangeResourceRecordSets"));
    }
}
