//! Readiness of notifications: whether a critical alert reaches someone. The topic's
//! subscriptions are graded by what their filter policies let through, because a confirmed
//! subscription that filters out CloudWatch's alarm actions is a silent pager.

use super::{Area, Grade, Item};
use crate::model::Region;
use serde_json::Value;
use std::collections::BTreeMap;

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

#[cfg(test)]
mod tests {
    use super::super::test_support::south;
    use super::*;

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
}
