//! Confirms an AWS Health event with the Health API before it counts: whoever can invoke
//! dns-failover can hand it an "open" event for any region (blocking failover to it) or a
//! "closed" one (erasing a real issue). The event counts only if AWS Health has that ARN with
//! the same service, category, region and status. The API answers only accounts with a
//! Business, Enterprise On-Ramp or Enterprise support plan (`SubscriptionRequiredException`
//! otherwise, "AWS Health API reference"). It has "two regional endpoints in an active-passive
//! configuration" (us-east-1 active, us-east-2 passive, "Choosing endpoints for AWS Health API
//! requests"): when the active one cannot be reached, the passive one is asked. Where neither
//! answers, the event does not count unless `health_events.confirm` is off.

use crate::aws::clients::AwsClients;
use crate::model::said;
use crate::signal::{HealthEvent, HealthStatus};
use aws_sdk_health::types::{Event, EventFilter, EventStatusCode};

/// What the Health API says of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// Known to AWS Health as the event says (service, category, region, status).
    Confirmed,
    /// Not known to AWS Health, or different there: the event is not believed.
    Denied(String),
    /// The API could not answer (no support plan, no endpoint, an error).
    Unconfirmable(String),
}

/// Its client is made on the first AWS Health event, not at cold start: most invocations never
/// see one.
#[derive(Debug, Clone)]
pub enum HealthApi {
    Clients(Box<AwsClients>),
    /// Clients already made, active first (tests: mocked answers).
    Client(Vec<aws_sdk_health::Client>),
}

impl HealthApi {
    pub fn new(clients: &AwsClients) -> Self {
        HealthApi::Clients(Box::new(clients.clone()))
    }

    /// Wraps a client (tests: mocked answers).
    pub fn with_client(client: aws_sdk_health::Client) -> Self {
        HealthApi::Client(vec![client])
    }

    /// Wraps the active endpoint's client and the passive one's (tests: mocked answers).
    pub fn with_clients(active: aws_sdk_health::Client, passive: aws_sdk_health::Client) -> Self {
        HealthApi::Client(vec![active, passive])
    }

    fn clients(&self) -> Vec<aws_sdk_health::Client> {
        match self {
            HealthApi::Clients(c) => crate::aws::clients::HEALTH_API_REGIONS.iter().map(|r| c.health(r)).collect(),
            HealthApi::Client(c) => c.clone(),
        }
    }

    /// DescribeEvents for the claim's ARN: the same event there, a different one, none, or no
    /// answer.
    pub async fn confirm(&self, claim: &HealthEvent) -> HealthCheck {
        let arn = claim.event_arn.as_str();
        let mut unreachable = Vec::new();
        for (client, region) in self.clients().iter().zip(crate::aws::clients::HEALTH_API_REGIONS) {
            let filter = EventFilter::builder().event_arns(arn).build();
            return match client.describe_events().filter(filter).send().await {
                Ok(out) => match out.events().iter().find(|e| e.arn() == Some(arn)) {
                    None => HealthCheck::Denied(format!("AWS Health has no event {arn} (a forged event, or not visible yet)")),
                    Some(e) => match differences(claim, e) {
                        d if d.is_empty() => HealthCheck::Confirmed,
                        d => HealthCheck::Denied(format!("AWS Health has event {arn} with {}", d.join(", "))),
                    },
                },
                // The endpoint is down or failing over: the other one of the pair is asked.
                Err(e) if crate::model::classify("health:DescribeEvents", &e).kind == crate::model::ReadErrorKind::Unreachable => {
                    unreachable.push(format!("{region}: {}", said(&e)));
                    continue;
                }
                Err(e) => HealthCheck::Unconfirmable(format!("health:DescribeEvents in {region}: {}", said(&e))),
            };
        }
        HealthCheck::Unconfirmable(format!("health:DescribeEvents: no endpoint answered ({})", unreachable.join("; ")))
    }
}

/// What AWS Health says differently of the event than the claim.
fn differences(claim: &HealthEvent, e: &Event) -> Vec<String> {
    let status = match claim.status {
        HealthStatus::Open => EventStatusCode::Open,
        HealthStatus::Closed => EventStatusCode::Closed,
        HealthStatus::Upcoming => EventStatusCode::Upcoming,
    };
    let said = |v: Option<&str>| v.unwrap_or("nothing").to_owned();
    let mut out = Vec::new();
    if e.service() != Some(claim.service.as_str()) {
        out.push(format!("service {}, not {}", said(e.service()), claim.service));
    }
    if e.event_type_category().map(|c| c.as_str()) != Some(claim.category.as_str()) {
        out.push(format!(
            "category {}, not {}",
            said(e.event_type_category().map(|c| c.as_str())),
            claim.category
        ));
    }
    if e.region() != Some(claim.region.as_str()) {
        out.push(format!("region {}, not {}", said(e.region()), claim.region));
    }
    if e.status_code() != Some(&status) {
        out.push(format!(
            "status {}, not {}",
            said(e.status_code().map(|s| s.as_str())),
            status.as_str()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    //! Answers the emulator cannot give (it has no Health API), with aws-smithy-mocks.
    use super::*;
    use aws_sdk_health::operation::describe_events::{DescribeEventsError, DescribeEventsOutput};
    use aws_sdk_health::types::EventTypeCategory;
    use aws_smithy_mocks::{mock, mock_client};

    const ARN: &str = "arn:aws:health:eu-south-1::event/LAMBDA/AWS_LAMBDA_OPERATIONAL_ISSUE/AWS_LAMBDA_OPERATIONAL_ISSUE_1";

    fn api(rule: aws_smithy_mocks::Rule) -> HealthApi {
        HealthApi::with_client(mock_client!(aws_sdk_health, [&rule]))
    }

    fn claim(status: HealthStatus) -> HealthEvent {
        HealthEvent {
            event_arn: ARN.into(),
            service: "LAMBDA".into(),
            event_type_code: "AWS_LAMBDA_OPERATIONAL_ISSUE".into(),
            category: "issue".into(),
            status,
            region: "eu-south-1".parse().unwrap(),
            description: None,
            taken_as_it_came: false,
        }
    }

    /// AWS Health's answer: the event with these fields.
    fn answer(service: &'static str, category: EventTypeCategory, region: &'static str, status: EventStatusCode) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_health::Client::describe_events).then_output(move || {
            DescribeEventsOutput::builder()
                .events(
                    Event::builder()
                        .arn(ARN)
                        .service(service)
                        .event_type_category(category.clone())
                        .region(region)
                        .status_code(status.clone())
                        .build(),
                )
                .build()
        })
    }

    fn issue(status: EventStatusCode) -> aws_smithy_mocks::Rule {
        answer("LAMBDA", EventTypeCategory::Issue, "eu-south-1", status)
    }

    #[tokio::test]
    async fn an_open_or_closed_event_aws_health_has_as_claimed_is_confirmed() {
        assert_eq!(
            api(issue(EventStatusCode::Open)).confirm(&claim(HealthStatus::Open)).await,
            HealthCheck::Confirmed
        );
        assert_eq!(
            api(issue(EventStatusCode::Closed)).confirm(&claim(HealthStatus::Closed)).await,
            HealthCheck::Confirmed
        );
    }

    #[tokio::test]
    async fn an_event_aws_health_has_otherwise_or_not_at_all_is_denied_naming_each_difference() {
        let closed = api(issue(EventStatusCode::Closed)).confirm(&claim(HealthStatus::Open)).await;
        assert!(
            matches!(&closed, HealthCheck::Denied(w) if w.contains("status closed, not open")),
            "{closed:?}"
        );
        // A forged "closed" for a real open issue would erase it.
        let open = api(issue(EventStatusCode::Open)).confirm(&claim(HealthStatus::Closed)).await;
        assert!(
            matches!(&open, HealthCheck::Denied(w) if w.contains("status open, not closed")),
            "{open:?}"
        );
        // Any open event's ARN passed before: a months-long scheduled change in another service and region.
        let scheduled = api(answer(
            "EC2",
            EventTypeCategory::ScheduledChange,
            "us-east-1",
            EventStatusCode::Open,
        ))
        .confirm(&claim(HealthStatus::Open))
        .await;
        let HealthCheck::Denied(why) = &scheduled else {
            panic!("{scheduled:?}")
        };
        for part in [
            "service EC2, not LAMBDA",
            "category scheduledChange, not issue",
            "region us-east-1, not eu-south-1",
        ] {
            assert!(why.contains(part), "{part}: {why}");
        }
        let none = api(mock!(aws_sdk_health::Client::describe_events).then_output(|| DescribeEventsOutput::builder().build()))
            .confirm(&claim(HealthStatus::Open))
            .await;
        assert!(matches!(&none, HealthCheck::Denied(w) if w.contains("no event")), "{none:?}");
    }

    #[tokio::test]
    async fn when_the_active_endpoint_is_unreachable_the_passive_one_confirms() {
        const UNAVAILABLE: &str = r#"{"__type":"ServiceUnavailableException","message":"unavailable"}"#;
        // Every attempt the SDK makes gets a 503.
        let unavailable = || {
            mock!(aws_sdk_health::Client::describe_events)
                .sequence()
                .http_status(503, Some(UNAVAILABLE.to_owned()))
                .repeatedly()
                .build()
        };
        let down = unavailable();
        let active = mock_client!(aws_sdk_health, [&down]);
        let confirmed = issue(EventStatusCode::Open);
        let passive = mock_client!(aws_sdk_health, [&confirmed]);
        let api = HealthApi::with_clients(active, passive);
        assert_eq!(api.confirm(&claim(HealthStatus::Open)).await, HealthCheck::Confirmed);
        assert!(down.num_calls() >= 1 && confirmed.num_calls() == 1);
        // Both down: unconfirmable, naming each endpoint.
        let down_too = unavailable();
        let neither = HealthApi::with_clients(mock_client!(aws_sdk_health, [&down]), mock_client!(aws_sdk_health, [&down_too]));
        let out = neither.confirm(&claim(HealthStatus::Open)).await;
        assert!(
            matches!(&out, HealthCheck::Unconfirmable(w) if w.contains("us-east-1") && w.contains("us-east-2")),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn an_account_without_a_support_plan_cannot_confirm() {
        let rule = mock!(aws_sdk_health::Client::describe_events).then_error(|| {
            DescribeEventsError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("SubscriptionRequiredException")
                    .message("The AWS Premium Support Subscription is required to use this service.")
                    .build(),
            )
        });
        let r = api(rule).confirm(&claim(HealthStatus::Open)).await;
        assert!(
            matches!(&r, HealthCheck::Unconfirmable(w) if w.contains("SubscriptionRequired")),
            "{r:?}"
        );
    }
}
