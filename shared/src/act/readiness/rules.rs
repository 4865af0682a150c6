//! Reading the EventBridge rules of a region: the patterns of the enabled rules that target
//! each function and each peer's bus. A route that exists in the template but not in the
//! account (disabled, renamed, filtered) is a signal that never arrives, so it is read here
//! and graded by `decide::readiness::rules`.

use super::ReadinessProbe;
use super::read::failure;
use crate::config::SuiteConfig;
use crate::decide::readiness::{self as grade, Item};
use crate::model::ReadError;
use crate::model::Region;
use std::collections::BTreeMap;

impl ReadinessProbe {
    /// The EventBridge rules that route alarms, AWS Health events and commands to the
    /// functions, and the forwarding of this region's signals to its peers.
    pub(super) async fn rules(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let Some((partition, account)) = grade::partition_and_account(config) else {
            return vec![];
        };
        let eb = client!(self, aws_sdk_eventbridge, region);
        let mut items = route_items(&eb, config, region, &partition, &account).await;
        items.extend(forwarding_items(&eb, config, region, &partition, &account).await);
        items
    }
}

/// Every route the configuration needs in `region`, graded against the enabled rules on its
/// bus that target its function; each (target, bus) is read once.
async fn route_items(eb: &aws_sdk_eventbridge::Client, config: &SuiteConfig, region: &Region, partition: &str, account: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut cache: BTreeMap<(String, String), Result<Vec<String>, ReadError>> = BTreeMap::new();
    for route in grade::routes(config, region) {
        let arn = format!(
            "arn:{partition}:lambda:{region}:{account}:function:{}",
            grade::function_name(config, route.function)
        );
        let key = (arn.clone(), route.bus.clone());
        if !cache.contains_key(&key) {
            let patterns = enabled_patterns(eb, &arn, &route.bus).await;
            cache.insert(key.clone(), patterns);
        }
        items.push(grade::grade_route(config, region, &route, &cache[&key]));
    }
    items
}

/// The forwarding of `region`'s alarms and AWS Health events to each peer's default bus,
/// graded peer by peer.
async fn forwarding_items(
    eb: &aws_sdk_eventbridge::Client,
    config: &SuiteConfig,
    region: &Region,
    partition: &str,
    account: &str,
) -> Vec<Item> {
    let mut items = Vec::new();
    for peer in config.peers_of(region) {
        let bus = format!("arn:{partition}:events:{peer}:{account}:event-bus/default");
        let patterns = enabled_patterns(eb, &bus, "default").await;
        items.push(grade::grade_forwarding(config, region, peer, &patterns));
    }
    items
}

/// The event patterns of the enabled rules on `bus` that target `arn`.
async fn enabled_patterns(eb: &aws_sdk_eventbridge::Client, arn: &str, bus: &str) -> Result<Vec<String>, ReadError> {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let out = eb
            .list_rule_names_by_target()
            .target_arn(arn)
            .event_bus_name(bus)
            .set_next_token(next)
            .send()
            .await
            .map_err(failure)?;
        names.extend(out.rule_names().iter().cloned());
        next = out.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let mut patterns = Vec::new();
    for name in names {
        let rule = eb.describe_rule().name(&name).event_bus_name(bus).send().await.map_err(failure)?;
        let enabled = rule.state().is_some_and(|s| s.as_str().starts_with("ENABLED"));
        if enabled {
            patterns.push(rule.event_pattern().unwrap_or_default().to_owned());
        }
    }
    Ok(patterns)
}
