//! Reading the alarms of a region: whether each alarm the configuration counts on exists, and
//! what Route 53 would have to follow. Read in chunks of what DescribeAlarms takes, so a
//! large configuration costs a few calls, not one per alarm.

use super::ReadinessProbe;
use crate::config::SuiteConfig;
use crate::decide::readiness::{self as grade, AlarmFacts, Area, Item};
use crate::model::Region;
use std::collections::BTreeMap;

impl ReadinessProbe {
    /// The alarms the configuration names in `region` (`decide::readiness::wanted_alarms`),
    /// each graded as found. A chunk that could not be described is reported unread, alarm by
    /// alarm, and nothing else is graded.
    pub(super) async fn alarms(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let wanted = grade::wanted_alarms(config, region);
        let watch = grade::suite_watch_alarms(config, region);
        let cw = client!(self, aws_sdk_cloudwatch, region);
        let names: Vec<String> = wanted.keys().chain(watch.iter()).cloned().collect();
        let mut found: BTreeMap<String, AlarmFacts> = BTreeMap::new();
        // DescribeAlarms: at most 100 names per call; composite alarms only when asked for.
        for chunk in names.chunks(100) {
            match crate::act::alarms::describe(&cw, region, chunk).await {
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
            .chain(watch.iter().map(|name| grade::grade_suite_alarm(region, name, found.get(name))))
            .collect()
    }
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
