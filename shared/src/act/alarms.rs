//! The one reader of CloudWatch alarms: DescribeAlarms by names in one region, both alarm types
//! ("AlarmTypes: … If you omit this parameter, only metric alarms are returned", DescribeAlarms,
//! CloudWatch API reference), up to 100 names a call and every page (`NextToken`), into typed
//! [`AlarmFacts`]; a failure is one [`ReadError`].

use crate::model::classify;
use crate::model::{AlarmFacts, AlarmState, ReadError, Region};
use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, MetricAlarm, StateValue};
use chrono::{DateTime, Utc};

/// DescribeAlarms takes at most 100 names ("AlarmNames … Maximum number of 100 items").
const NAMES_PER_CALL: usize = 100;

/// The facts of those of `names` that exist in `region`, metric alarms then composite ones.
pub async fn describe(cw: &aws_sdk_cloudwatch::Client, region: &Region, names: &[String]) -> Result<Vec<AlarmFacts>, ReadError> {
    let mut facts = Vec::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let mut token: Option<String> = None;
        loop {
            let out = cw
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| classify(format!("cloudwatch:DescribeAlarms in {region}"), &e))?;
            facts.extend(out.metric_alarms().iter().map(metric_facts));
            facts.extend(out.composite_alarms().iter().map(composite_facts));
            token = out.next_token().map(str::to_owned).filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
    }
    Ok(facts)
}

/// One alarm by name in `region`, of either type: `None` when it does not exist.
pub async fn one(cw: &aws_sdk_cloudwatch::Client, region: &Region, name: &str) -> Result<Option<AlarmFacts>, ReadError> {
    let found = describe(cw, region, &[name.to_owned()]).await?;
    Ok(found.into_iter().find(|a| a.name == name))
}

fn state(v: Option<&StateValue>) -> AlarmState {
    match v {
        Some(StateValue::Alarm) => AlarmState::Alarm,
        Some(StateValue::Ok) => AlarmState::Ok,
        _ => AlarmState::InsufficientData,
    }
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t?.to_millis().ok()?)
}

fn metric_facts(a: &MetricAlarm) -> AlarmFacts {
    let single = a.dimensions().iter();
    let math = a
        .metrics()
        .iter()
        .filter_map(|m| m.metric_stat()?.metric())
        .flat_map(|m| m.dimensions().iter());
    AlarmFacts {
        name: a.alarm_name().unwrap_or_default().to_owned(),
        composite: false,
        state: state(a.state_value()),
        changed_at: time(a.state_transitioned_timestamp().or(a.state_updated_timestamp())),
        period: a.period(),
        statistic: a.statistic().map(|s| s.as_str().to_owned()),
        extended_statistic: a.extended_statistic().map(str::to_owned),
        metric_math: !a.metrics().is_empty(),
        dimensions: single
            .chain(math)
            .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
            .collect(),
    }
}

fn composite_facts(a: &CompositeAlarm) -> AlarmFacts {
    AlarmFacts {
        name: a.alarm_name().unwrap_or_default().to_owned(),
        composite: true,
        state: state(a.state_value()),
        changed_at: time(a.state_transitioned_timestamp().or(a.state_updated_timestamp())),
        ..AlarmFacts::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::ReadErrorKind;
    use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    fn region() -> Region {
        "eu-south-1".parse().unwrap()
    }

    #[tokio::test]
    async fn both_alarm_types_are_asked_for_and_every_page_is_read() {
        let first = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .match_requests(|r| r.alarm_types().len() == 2 && r.next_token().is_none())
            .then_output(|| {
                DescribeAlarmsOutput::builder()
                    .metric_alarms(MetricAlarm::builder().alarm_name("a").state_value(StateValue::Alarm).build())
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                DescribeAlarmsOutput::builder()
                    .composite_alarms(CompositeAlarm::builder().alarm_name("guard").state_value(StateValue::Ok).build())
                    .build()
            });
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&first, &second]);
        let facts = describe(&cw, &region(), &["a".into(), "guard".into()]).await.unwrap();
        assert_eq!(facts.len(), 2);
        assert_eq!(
            (facts[0].name.as_str(), facts[0].state, facts[0].composite),
            ("a", AlarmState::Alarm, false)
        );
        assert_eq!(
            (facts[1].name.as_str(), facts[1].state, facts[1].composite),
            ("guard", AlarmState::Ok, true)
        );
    }

    #[tokio::test]
    async fn more_than_a_hundred_names_are_asked_in_calls_of_a_hundred() {
        let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .match_requests(|r| r.alarm_names().len() <= 100)
            .then_output(|| DescribeAlarmsOutput::builder().build());
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
        let names: Vec<String> = (0..250).map(|i| format!("alarm-{i}")).collect();
        describe(&cw, &region(), &names).await.unwrap();
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn a_refusal_is_one_typed_read_error_naming_the_call_and_region() {
        let rule = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .then_error(|| DescribeAlarmsError::generic(ErrorMetadata::builder().code("AccessDenied").message("no").build()));
        let cw = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&rule]);
        let e = describe(&cw, &region(), &["a".into()]).await.unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Denied);
        assert_eq!(e.call, "cloudwatch:DescribeAlarms in eu-south-1");
    }
}
