//! Readiness, the pure part: what each reading of the live account means for the failover path
//! (PASS / WARN / FAIL, with what is wrong and the fix), what changed since the last check, and
//! the permissions each function's configuration needs (one list: the readiness check simulates
//! it against the deployed roles, the deployed-stack test holds the template's grants to it).
//! The readings are taken by `act::readiness`; a read that failed is graded as such
//! ([`unreadable`]), never as a pass.
//!
//! One file per area of the report (the [`Area`]s, with the signals split into alarms and
//! rules), each with its graders and their tests, so that a new readiness item is added next
//! to its neighbours and its reading in `act::readiness::<area>`. The report itself is in
//! `report`; everything is re-exported here, so callers name `decide::readiness::<item>`.

mod alarms;
mod capacity;
mod data;
mod dns;
mod notifications;
mod permissions;
mod report;
mod rules;

pub use crate::model::AlarmFacts;
pub use alarms::{grade_alarm, grade_suite_alarm, route53_alarm_problem, suite_watch_alarms, wanted_alarms};
pub use capacity::{Quotas, grade_quotas, grade_unreserved, planned_reserved_raise};
pub use data::{grade_pitr, grade_replicas};
pub use dns::{HealthCheckFacts, MAX_TTL_SECONDS, RecordFacts, grade_answer, grade_health_check, grade_record};
pub use notifications::{SubscriptionFacts, filter_lets_through, grade_subscriptions};
pub use permissions::{Need, Simulated, checked_functions, function_name, grade_permissions, needs, partition_and_account};
pub use report::{Area, Change, Grade, Item, ReadinessReport, changes, unreadable};
pub use rules::{Route, grade_forwarding, grade_route, pattern_routes, routes};

/// What the areas' tests share: the example configuration and its two regions.
#[cfg(test)]
mod test_support {
    use crate::config::SuiteConfig;
    use crate::model::Region;

    pub(super) fn config() -> SuiteConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap()
    }

    pub(super) fn south() -> Region {
        "eu-south-1".parse().unwrap()
    }
}
