//! Readiness of the EventBridge routes: the routes the configuration needs in a region (alarms,
//! AWS Health events and commands reaching each function) and whether an enabled rule's
//! pattern carries them, alarm-name filters included, so a renamed alarm is caught before the
//! failure it should have announced.

use super::{Area, Grade, Item, function_name, unreadable};
use crate::config::SuiteConfig;
use crate::model::ReadError;
use crate::model::{Function, Region};
use serde_json::Value;
use std::collections::BTreeSet;

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

/// The readers' name for a failed reading of the rules (the grade names it in its fix).
const RULES_READ: &str = "events:ListRuleNamesByTarget / events:DescribeRule";

/// The grade of `route` in `region` given the event patterns of the enabled rules on its bus
/// that target its function (or why they could not be read): some rule must carry the source,
/// and for an alarm route every alarm must pass some rule's name filter.
pub fn grade_route(config: &SuiteConfig, region: &Region, route: &Route, patterns: &Result<Vec<String>, ReadError>) -> Item {
    let item = format!("{} events on bus {} reach {}", route.source, route.bus, route.function);
    let patterns = match patterns {
        Err(f) => return unreadable(Area::Signals, region.as_str(), item, RULES_READ, f),
        Ok(patterns) => patterns,
    };
    let routed = patterns.iter().any(|p| pattern_routes(p, &route.source, None));
    let missed: Vec<&String> = route
        .alarms
        .iter()
        .filter(|a| !patterns.iter().any(|p| pattern_routes(p, &route.source, Some(a))))
        .collect();
    if !routed {
        Item::new(
            Area::Signals,
            region.as_str(),
            item,
            Grade::Fail,
            format!(
                "no enabled rule on bus {} sends {} events to {}",
                route.bus,
                route.source,
                function_name(config, route.function)
            ),
            "redeploy the stack (the function's EventBridgeRule events) or enable the rule",
        )
    } else if !missed.is_empty() {
        Item::new(
            Area::Signals,
            region.as_str(),
            item,
            Grade::Fail,
            format!("the rules' alarm-name filters let no state change of {missed:?} through"),
            format!(
                "name the alarms with the rule's prefix ({}-health- / saturation) or widen the rule",
                config.platform
            ),
        )
    } else {
        Item::pass(Area::Signals, region.as_str(), item, format!("{} enabled rule(s)", patterns.len()))
    }
}

/// The grade of the forwarding of `region`'s health alarms and AWS Health events to `peer`,
/// which acts on `region`'s failures, given the patterns of the enabled rules on `region`'s
/// default bus that target the peer's default bus (or why they could not be read).
pub fn grade_forwarding(config: &SuiteConfig, region: &Region, peer: &Region, patterns: &Result<Vec<String>, ReadError>) -> Item {
    let item = format!("alarms and AWS Health forwarded to {peer}");
    let own: Vec<&String> = config.regions[region].health_alarms.iter().collect();
    let patterns = match patterns {
        Err(f) => return unreadable(Area::Signals, region.as_str(), item, RULES_READ, f),
        Ok(patterns) => patterns,
    };
    let alarms_ok = own
        .iter()
        .all(|a| patterns.iter().any(|p| pattern_routes(p, "aws.cloudwatch", Some(a))));
    let health_ok = patterns.iter().any(|p| pattern_routes(p, "aws.health", None));
    if alarms_ok && health_ok {
        Item::pass(
            Area::Signals,
            region.as_str(),
            item,
            format!("{} enabled rule(s) to {peer}'s default bus", patterns.len()),
        )
    } else {
        Item::new(
            Area::Signals,
            region.as_str(),
            item,
            Grade::Fail,
            format!(
                "{} of {region} do not reach {peer}, which acts on {region}'s failures",
                match (alarms_ok, health_ok) {
                    (false, false) => "health alarms and AWS Health events",
                    (false, true) => "health alarms",
                    _ => "AWS Health events",
                }
            ),
            "redeploy the stack (ForwardHealthToPeer, ForwardAwsHealthToPeer) or enable the rules",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_routes_an_alarm_only_if_its_name_filter_matches() {
        let p = r#"{"source":["aws.cloudwatch"],"detail-type":["CloudWatch Alarm State Change"],"detail":{"alarmName":[{"prefix":"aworld-health-"}]}}"#;
        assert!(pattern_routes(p, "aws.cloudwatch", Some("aworld-health-api-5xx-eu-south-1")));
        assert!(!pattern_routes(p, "aws.cloudwatch", Some("aworld-api-5xx-renamed")));
        assert!(!pattern_routes(p, "aws.health", None));
        assert!(pattern_routes(r#"{"source":["aworld.operator"]}"#, "aworld.operator", None));
        assert!(!pattern_routes("not json", "aws.health", None));
    }
}
