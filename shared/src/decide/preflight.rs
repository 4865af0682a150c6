//! The deploy preflight's grades: what must hold in an account before the stacks are created,
//! each failure with its fix. Pure: `resilience preflight` reads the facts, and readiness can
//! grade the same facts later (what can rot after a deploy).

use crate::decide::readiness::{Area, Grade, Item};

/// Lambda keeps this much of the account's concurrency unreserved: "Lambda ... always reserves
/// 100 units of concurrency for functions that don't explicitly reserve concurrency" (Lambda
/// Developer Guide, "Configuring reserved concurrency"), so a reservation that would leave less
/// is refused and the stack cannot be created.
pub const UNRESERVED_MINIMUM: i64 = 100;

/// The account's Lambda concurrency quota against what the stack reserves in `region`. New
/// accounts start with reduced quotas ("Lambda quotas": "New AWS accounts have reduced
/// concurrency and memory quotas"), below what the stack needs.
pub fn concurrency(region: &str, quota: i64, reserve: i64) -> Item {
    let item = "Lambda concurrency quota";
    let need = reserve + UNRESERVED_MINIMUM;
    if quota >= need {
        Item::pass(
            Area::Capacity,
            region,
            item,
            format!("quota {quota} >= {reserve} reserved by the stack + {UNRESERVED_MINIMUM} Lambda keeps unreserved"),
        )
    } else {
        Item::new(
            Area::Capacity,
            region,
            item,
            Grade::Fail,
            format!(
                "quota {quota} < {need} ({reserve} reserved by the stack + {UNRESERVED_MINIMUM} Lambda keeps unreserved): the stack cannot be created"
            ),
            format!(
                "ask for a higher quota before deploying: aws service-quotas request-service-quota-increase --region {region} --service-code lambda --quota-code L-B99A9384 --desired-value {need}"
            ),
        )
    }
}

/// The Region's opt-in status (Account Management `GetRegionOptStatus`). "Opt-in Regions ...
/// are disabled by default", and an enabling Region cannot be used until AWS has prepared it
/// ("Enable or disable AWS Regions in your account").
pub fn region_status(region: &str, status: &str) -> Item {
    let item = "Region enabled";
    match status {
        "ENABLED" | "ENABLED_BY_DEFAULT" => Item::pass(Area::Configuration, region, item, status),
        "ENABLING" => Item::new(
            Area::Configuration,
            region,
            item,
            Grade::Fail,
            "ENABLING: AWS is still preparing the account in this Region (minutes, sometimes hours)",
            format!("wait, then run the preflight again: aws account get-region-opt-status --region-name {region}"),
        ),
        other => Item::new(
            Area::Configuration,
            region,
            item,
            Grade::Fail,
            format!("{other}: an opt-in Region the account has not enabled; nothing can be created in it"),
            format!("aws account enable-region --region-name {region}, then wait until get-region-opt-status says ENABLED"),
        ),
    }
}

/// A principal the stack names (operator, detector) must exist before the stack does: key and
/// bus policies naming a missing principal are refused by KMS and EventBridge.
pub fn principal(role: &str, arn: &str, exists: bool) -> Item {
    let item = format!("{role} principal exists");
    if exists {
        Item::pass(Area::Permissions, "global", item, arn)
    } else {
        Item::new(
            Area::Permissions,
            "global",
            item,
            Grade::Fail,
            format!("{arn} does not exist: the stack's key and bus policies name it and would be refused"),
            format!("create it first (IAM role or user), or set {role}PrincipalArn in infra/samconfig.toml to one that exists"),
        )
    }
}

/// Parameter Store's throughput in `region`: every cold start of every function reads the
/// configuration parameter, and the standard throughput (40 transactions a second, shared with
/// every other caller of the account: "Systems Manager endpoints and quotas") is below what
/// `cold_starts` concurrent instances ask for when the authorizer scales out in a failover.
pub fn parameter_throughput(region: &str, high: bool, cold_starts: i64) -> Item {
    let item = "Parameter Store throughput";
    if high {
        Item::pass(
            Area::Configuration,
            region,
            item,
            "high throughput (up to 10,000 transactions a second)",
        )
    } else {
        Item::new(
            Area::Configuration,
            region,
            item,
            Grade::Fail,
            format!(
                "standard throughput (40 transactions a second, shared with the account) for up to {cold_starts} instances starting at once: cold starts are throttled when the authorizer scales out"
            ),
            format!(
                "resilience preflight --enable-high-throughput (or: aws ssm update-service-setting --region {region} --setting-id /ssm/parameter-store/high-throughput-enabled --setting-value true; billed per API interaction)"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_below_the_reservation_plus_the_unreserved_minimum_fails_naming_the_shortfall_and_the_quota_code() {
        let short = concurrency("eu-south-1", 300, 264);
        assert_eq!(short.grade, Grade::Fail);
        assert!(short.detail.contains("300 < 364"), "{}", short.detail);
        assert!(
            short.fix.contains("L-B99A9384") && short.fix.contains("--desired-value 364"),
            "{}",
            short.fix
        );
        assert_eq!(concurrency("eu-south-1", 364, 264).grade, Grade::Pass);
    }

    #[test]
    fn only_an_enabled_region_passes_and_an_enabling_one_says_wait() {
        assert_eq!(region_status("eu-north-1", "ENABLED_BY_DEFAULT").grade, Grade::Pass);
        assert_eq!(region_status("eu-south-1", "ENABLED").grade, Grade::Pass);
        let enabling = region_status("eu-south-1", "ENABLING");
        assert_eq!(enabling.grade, Grade::Fail);
        assert!(enabling.fix.starts_with("wait"), "{}", enabling.fix);
        for status in ["DISABLED", "DISABLING", "SOMETHING-NEW"] {
            let item = region_status("eu-south-1", status);
            assert_eq!(item.grade, Grade::Fail, "{status}");
            assert!(item.fix.contains("enable-region --region-name eu-south-1"), "{}", item.fix);
        }
    }

    #[test]
    fn a_missing_principal_fails_with_the_parameter_to_fix() {
        let item = principal("Operator", "arn:aws:iam::111122223333:role/oncall", false);
        assert_eq!(item.grade, Grade::Fail);
        assert!(item.fix.contains("OperatorPrincipalArn"), "{}", item.fix);
        assert_eq!(principal("Detector", "arn:aws:iam::111122223333:role/d", true).grade, Grade::Pass);
    }

    #[test]
    fn standard_parameter_store_throughput_fails_with_how_to_raise_it() {
        let item = parameter_throughput("eu-north-1", false, 264);
        assert_eq!(item.grade, Grade::Fail);
        assert!(item.fix.contains("--enable-high-throughput"), "{}", item.fix);
        assert_eq!(parameter_throughput("eu-north-1", true, 264).grade, Grade::Pass);
    }
}
