//! Reading the notifications of a region: the alert topic's subscriptions with their
//! confirmation and filter policies. Whether a critical alert reaches anyone is decided by what
//! is subscribed now, so it is read, not taken from the template.

use super::ReadinessProbe;
use super::read::{code_of, failure};
use crate::config::SuiteConfig;
use crate::decide::readiness::{self as grade, Area, Grade, Item, SubscriptionFacts};
use crate::model::ReadError;
use crate::model::Region;

impl ReadinessProbe {
    /// The subscriptions of `region`'s alert topic (every page), graded together; a topic that
    /// does not exist fails, and a page or subscription that could not be read is the only item.
    pub(super) async fn notifications(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let Some(topic) = config.topic_for(region) else {
            return vec![];
        };
        let sns = client!(self, aws_sdk_sns, region);
        let item_name = format!("subscribers of {topic}");
        let mut subs = Vec::new();
        let mut next: Option<String> = None;
        loop {
            // ListSubscriptionsByTopic: up to 100 per page.
            match sns
                .list_subscriptions_by_topic()
                .topic_arn(topic)
                .set_next_token(next.clone())
                .send()
                .await
            {
                Ok(out) => {
                    for s in out.subscriptions() {
                        match subscription_facts(&sns, s).await {
                            Ok(facts) => subs.push(facts),
                            Err(f) => {
                                return vec![grade::unreadable(
                                    Area::Notifications,
                                    region.as_str(),
                                    item_name,
                                    "sns:GetSubscriptionAttributes",
                                    &f,
                                )];
                            }
                        }
                    }
                    next = out.next_token().map(str::to_owned);
                    if next.is_none() {
                        break;
                    }
                }
                Err(e) if code_of(&e) == Some("NotFound") => {
                    return vec![Item::new(
                        Area::Notifications,
                        region.as_str(),
                        item_name,
                        Grade::Fail,
                        format!("topic {topic} does not exist: no alert would reach anyone"),
                        "redeploy the stack (AlertsTopic) or correct notifications.topics",
                    )];
                }
                Err(e) => {
                    return vec![grade::unreadable(
                        Area::Notifications,
                        region.as_str(),
                        item_name,
                        "sns:ListSubscriptionsByTopic",
                        &failure(e),
                    )];
                }
            }
        }
        vec![grade::grade_subscriptions(region, topic, &subs)]
    }
}

/// The facts of one listed subscription: a confirmed one's attributes are read too (its
/// confirmation as SNS has it now, its filter policy and scope).
async fn subscription_facts(sns: &aws_sdk_sns::Client, s: &aws_sdk_sns::types::Subscription) -> Result<SubscriptionFacts, ReadError> {
    let arn = s.subscription_arn().unwrap_or_default();
    let mut facts = SubscriptionFacts {
        protocol: s.protocol().unwrap_or_default().to_owned(),
        endpoint: s.endpoint().unwrap_or_default().to_owned(),
        // An unconfirmed subscription is listed without an ARN ("PendingConfirmation").
        confirmed: arn.starts_with("arn:"),
        ..SubscriptionFacts::default()
    };
    if facts.confirmed {
        let a = sns
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await
            .map_err(failure)?;
        let attrs = a.attributes().cloned().unwrap_or_default();
        facts.confirmed = attrs.get("PendingConfirmation").is_none_or(|v| v != "true");
        facts.filter_policy = attrs.get("FilterPolicy").cloned();
        facts.filter_scope = attrs.get("FilterPolicyScope").cloned();
    }
    Ok(facts)
}
