//! Readiness of the alarms: which alarms the configuration counts on in a region, and whether
//! each exists and, when Route 53 follows it, is an alarm a health check can follow at all. A
//! missing or unfollowable alarm is a failover that never starts, so it fails.

use super::{Area, Grade, Item};
use crate::config::{Strategy, SuiteConfig};
use crate::model::{AlarmFacts, Region};
use std::collections::BTreeMap;

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

/// The alarms the configuration names in `region`, each with whether Route 53 follows it:
/// health, composite, the drain alarms of the other regions (which live here and which
/// Route 53 follows), saturation.
pub fn wanted_alarms(config: &SuiteConfig, region: &Region) -> BTreeMap<String, bool> {
    let mut wanted: BTreeMap<String, bool> = BTreeMap::new(); // name -> Route 53 follows it
    if let Some(rc) = config.regions.get(region) {
        for a in rc.health_alarms.iter().chain(rc.composite_alarm.iter()) {
            wanted.insert(a.clone(), false);
        }
    }
    if let Some(m) = config
        .dns
        .health_metric
        .as_ref()
        .filter(|_| config.dns.strategies.contains(&Strategy::HealthMetric))
    {
        for peer in config.peers_of(region) {
            wanted.insert(m.alarm_of(peer), true);
        }
    }
    for r in config.capacity.resources.iter().filter(|r| &r.region == region) {
        for a in &r.saturation_alarms {
            wanted.entry(a.clone()).or_insert(false);
        }
    }
    wanted
}

/// The alarms by which the suite watches itself in `region`, as the template names them
/// (`SuiteErrorsAlarm` and its siblings): its functions' errors, throttles and dropped events,
/// its dead-letter queue, the Scheduler's dropped invocations.
pub fn suite_watch_alarms(config: &SuiteConfig, region: &Region) -> Vec<String> {
    ["errors", "throttles", "dropped-events", "dead-letters", "schedules-dropped"]
        .iter()
        .map(|what| format!("{}-suite-{what}-{region}", config.platform))
        .collect()
}

/// A failing signals item of `region`, with what is wrong and the fix.
fn failing(region: &Region, item: String, detail: String, fix: &str) -> Item {
    Item::new(Area::Signals, region.as_str(), item, Grade::Fail, detail, fix)
}

/// A self-watch alarm as found: missing (the suite's own failures would page nobody) or in
/// ALARM (the suite itself is failing here) fails.
pub fn grade_suite_alarm(region: &Region, name: &str, found: Option<&AlarmFacts>) -> Item {
    let item = format!("suite health {name}");
    match found {
        None => failing(
            region,
            item,
            format!("alarm {name} does not exist in {region}: the suite's own failures there would page nobody"),
            "deploy the stack (infra/template.yaml, \"the suite watches itself\")",
        ),
        Some(a) if a.state == crate::model::AlarmState::Alarm => failing(
            region,
            item,
            format!("{name} is in ALARM: the suite itself is failing in {region}"),
            "read the functions' logs; re-drive the dead-letter queue once fixed (docs/reliability.md)",
        ),
        Some(a) => Item::pass(Area::Signals, region.as_str(), item, format!("exists, {}", a.state)),
    }
}

/// The grade of alarm `name` in `region` as found (`None`: it does not exist); `followed`:
/// Route 53 follows it, so it must also be an alarm a health check can follow.
pub fn grade_alarm(region: &Region, name: &str, followed: bool, found: Option<&AlarmFacts>) -> Item {
    let item = format!("alarm {name}");
    match found {
        None => failing(
            region,
            item,
            format!("alarm {name} does not exist in {region}: nothing it watches can start a reaction"),
            "create it (infra/template.yaml) or correct the name in the configuration",
        ),
        Some(a) if followed => match route53_alarm_problem(a) {
            Some(problem) => failing(
                region,
                item,
                format!("Route 53 follows {name}, which {problem}: its health check cannot use it"),
                "a standard-resolution metric alarm on Average, Minimum, Maximum, Sum or SampleCount (\"Monitoring a CloudWatch alarm\")",
            ),
            None => Item::pass(Area::Signals, region.as_str(), item, "exists; a metric alarm Route 53 can follow"),
        },
        Some(_) => Item::pass(Area::Signals, region.as_str(), item, "exists"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suites_own_alarms_fail_readiness_when_missing_or_in_alarm() {
        let config = crate::fixtures::example_config();
        let region: Region = "eu-north-1".parse().unwrap();
        let names = suite_watch_alarms(&config, &region);
        assert_eq!(names.len(), 5);
        assert!(names.contains(&"aworld-suite-dead-letters-eu-north-1".to_owned()), "{names:?}");
        let name = &names[0];
        assert_eq!(grade_suite_alarm(&region, name, None).grade, Grade::Fail);
        let mut facts = AlarmFacts {
            name: name.clone(),
            state: crate::model::AlarmState::Alarm,
            ..AlarmFacts::default()
        };
        assert_eq!(grade_suite_alarm(&region, name, Some(&facts)).grade, Grade::Fail);
        facts.state = crate::model::AlarmState::Ok;
        assert_eq!(grade_suite_alarm(&region, name, Some(&facts)).grade, Grade::Pass);
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
}
