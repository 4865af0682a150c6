//! Reading the alarms of a region: whether each alarm the configuration counts on exists, and
//! what Route 53 would have to follow. Read in chunks of what DescribeAlarms takes, so a
//! large configuration costs a few calls, not one per alarm.

use super::ReadinessProbe;
use super::read::failure;
use crate::config::SuiteConfig;
use crate::decide::readiness::{self as grade, AlarmFacts, Area, Item, ReadFailure};
use crate::model::Region;
use aws_sdk_cloudwatch::types::AlarmType;
use std::collections::BTreeMap;

impl ReadinessProbe {
    /// The alarms the configuration names in `region` (`decide::readiness::wanted_alarms`),
    /// each graded as found. A chunk that could not be described is reported unread, alarm by
    /// alarm, and nothing else is graded.
    pub(super) async fn alarms(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let wanted = grade::wanted_alarms(config, region);
        let cw = client!(self, aws_sdk_cloudwatch, region);
        let names: Vec<String> = wanted.keys().cloned().collect();
        let mut found: BTreeMap<String, AlarmFacts> = BTreeMap::new();
        // DescribeAlarms: at most 100 names per call; composite alarms only when asked for.
        for chunk in names.chunks(100) {
            match describe_alarms(&cw, chunk).await {
                Ok(facts) => found.extend(facts.into_iter().map(|a| (a.name.clone(), a))),
                Err(f) => {
                    return chunk
                        .iter()
                        .map(|n| {
                            grade::unreadable(
                                Area::Signals,
                                region.as_str(),
                                format!("alarm {n}"),
                                "cloudwatch:DescribeAlarms",
                                &f,
                            )
                        })
                        .collect();
                }
            }
        }
        wanted
            .iter()
            .map(|(name, followed)| grade::grade_alarm(region, name, *followed, found.get(name)))
            .collect()
    }
}

/// The facts of those of `names` that exist, metric alarms first, then composite ones (one
/// DescribeAlarms call: at most 100 names).
async fn describe_alarms(cw: &aws_sdk_cloudwatch::Client, names: &[String]) -> Result<Vec<AlarmFacts>, ReadFailure> {
    let out = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .map_err(failure)?;
    let metric = out.metric_alarms().iter().map(|a| AlarmFacts {
        name: a.alarm_name().unwrap_or_default().to_owned(),
        composite: false,
        period: a.period(),
        statistic: a.statistic().map(|s| s.as_str().to_owned()),
        extended_statistic: a.extended_statistic().map(str::to_owned),
        metric_math: !a.metrics().is_empty(),
    });
    let composite = out.composite_alarms().iter().map(|a| AlarmFacts {
        name: a.alarm_name().unwrap_or_default().to_owned(),
        composite: true,
        ..AlarmFacts::default()
    });
    Ok(metric.chain(composite).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::test_support::{config, probe, region};
    use crate::decide::readiness::Grade;
    use aws_smithy_mocks::mock;
    use aws_smithy_types::error::ErrorMetadata;

    #[tokio::test]
    async fn a_throttled_read_is_reported_as_not_checked_never_as_a_pass() {
        use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsError;
        let rules = [mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .sequence()
            .error(|| DescribeAlarmsError::generic(ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build()))
            .repeatedly()
            .build()];
        let items = probe(&rules).alarms(&config(), &region("eu-south-1")).await;
        assert!(!items.is_empty());
        assert!(
            items.iter().all(|i| i.grade == Grade::Warn && i.detail.contains("throttled")),
            "{:#?}",
            items
        );
    }
}
