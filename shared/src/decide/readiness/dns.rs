//! Readiness of DNS: whether each region's weighted record, its health check and Route 53's
//! own answer are what a drain needs. A drain that Route 53 cannot carry out fails here, on a
//! quiet day, instead of during the regional failure it was built for.

use super::{Area, Grade, Item};
use crate::config::{Strategy, SuiteConfig};
use crate::model::Region;
use std::collections::{BTreeMap, BTreeSet};

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
    // Keyed by what it protects, not by the check's id: the fix (a new check attached to the
    // record) has a new id, and the item must heal, not vanish.
    let name = format!("health check of {region}'s record");
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
                "{id}: {} on {}",
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
            format!("{id} {}", wrong.join("; ")),
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, south};
    use super::*;

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
    fn a_health_check_replaced_by_a_new_one_heals_its_item_instead_of_vanishing() {
        use crate::decide::readiness::{ReadinessReport, changes};
        let c = config();
        let report = |item: Item| ReadinessReport {
            at: chrono::Utc::now(),
            checked_from: "eu-north-1".into(),
            items: vec![item],
            api_calls: 0,
            seconds: 0.0,
        };
        let deleted = report(grade_health_check(&c, &south(), "hc-old", None));
        let good = HealthCheckFacts {
            kind: "CLOUDWATCH_METRIC".into(),
            alarm_name: Some("aworld-drained-eu-south-1".into()),
            alarm_region: Some("eu-north-1".into()),
            ..HealthCheckFacts::default()
        };
        // The fix attaches a new check, with a new id.
        let fixed = report(grade_health_check(&c, &south(), "hc-new", Some(&good)));
        let told = changes(Some(&deleted), &fixed);
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!((told[0].from, told[0].to), (Some(Grade::Fail), Grade::Pass), "{told:?}");
        assert_eq!(told[0].key, "dns/global/health check of eu-south-1's record");
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
}
