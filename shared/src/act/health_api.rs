//! Confirms an AWS Health event with the Health API before it counts: whoever can invoke
//! dns-failover can hand it an "open" event for any region. The API answers only accounts with
//! a Business, Enterprise On-Ramp or Enterprise support plan (`SubscriptionRequiredException`
//! otherwise, "AWS Health API reference"), from its global endpoint in us-east-1; where it
//! cannot answer, the event is taken as it came (and expires: `health_events.expire_hours`).

use crate::aws::clients::AwsClients;
use crate::model::said;
use aws_sdk_health::types::{EventFilter, EventStatusCode};

/// What the Health API says of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthCheck {
    /// Known to AWS Health and open.
    Confirmed,
    /// Not known to AWS Health, or not open there: the event is not believed.
    Denied(String),
    /// The API could not answer (no support plan, no endpoint, an error): taken as it came.
    Unconfirmable(String),
}

/// Its client is made on the first AWS Health event, not at cold start: most invocations never
/// see one.
#[derive(Debug, Clone)]
pub enum HealthApi {
    Clients(Box<AwsClients>),
    /// A client already made (tests: mocked answers).
    Client(aws_sdk_health::Client),
}

impl HealthApi {
    pub fn new(clients: &AwsClients) -> Self {
        HealthApi::Clients(Box::new(clients.clone()))
    }

    /// Wraps a client (tests: mocked answers).
    pub fn with_client(client: aws_sdk_health::Client) -> Self {
        HealthApi::Client(client)
    }

    fn client(&self) -> aws_sdk_health::Client {
        match self {
            HealthApi::Clients(c) => c.health(),
            HealthApi::Client(c) => c.clone(),
        }
    }

    /// DescribeEvents for `event_arn`: open there, known but not open, unknown, or no answer.
    pub async fn confirm(&self, event_arn: &str) -> HealthCheck {
        let filter = EventFilter::builder().event_arns(event_arn).build();
        match self.client().describe_events().filter(filter).send().await {
            Ok(out) => match out.events().iter().find(|e| e.arn() == Some(event_arn)) {
                Some(e) if e.status_code() == Some(&EventStatusCode::Open) => HealthCheck::Confirmed,
                Some(e) => HealthCheck::Denied(format!(
                    "AWS Health has event {event_arn} as {}, not open",
                    e.status_code().map(|s| s.as_str()).unwrap_or("without a status")
                )),
                None => HealthCheck::Denied(format!("AWS Health has no event {event_arn} (a forged event, or not visible yet)")),
            },
            Err(e) => HealthCheck::Unconfirmable(format!("health:DescribeEvents: {}", said(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Answers the emulator cannot give (it has no Health API), with aws-smithy-mocks.
    use super::*;
    use aws_sdk_health::operation::describe_events::{DescribeEventsError, DescribeEventsOutput};
    use aws_sdk_health::types::Event;
    use aws_smithy_mocks::{mock, mock_client};

    const ARN: &str = "arn:aws:health:eu-south-1::event/LAMBDA/AWS_LAMBDA_OPERATIONAL_ISSUE/AWS_LAMBDA_OPERATIONAL_ISSUE_1";

    fn api(rule: aws_smithy_mocks::Rule) -> HealthApi {
        HealthApi::with_client(mock_client!(aws_sdk_health, [&rule]))
    }

    fn event(status: EventStatusCode) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_health::Client::describe_events).then_output(move || {
            DescribeEventsOutput::builder()
                .events(Event::builder().arn(ARN).status_code(status.clone()).build())
                .build()
        })
    }

    #[tokio::test]
    async fn an_open_event_known_to_aws_health_is_confirmed() {
        assert_eq!(api(event(EventStatusCode::Open)).confirm(ARN).await, HealthCheck::Confirmed);
    }

    #[tokio::test]
    async fn an_event_aws_health_does_not_have_open_is_denied() {
        let closed = api(event(EventStatusCode::Closed)).confirm(ARN).await;
        assert!(matches!(&closed, HealthCheck::Denied(w) if w.contains("closed")), "{closed:?}");
        let none = api(mock!(aws_sdk_health::Client::describe_events).then_output(|| DescribeEventsOutput::builder().build()))
            .confirm(ARN)
            .await;
        assert!(matches!(&none, HealthCheck::Denied(w) if w.contains("no event")), "{none:?}");
    }

    #[tokio::test]
    async fn an_account_without_a_support_plan_cannot_confirm_and_the_event_is_taken_as_it_came() {
        let rule = mock!(aws_sdk_health::Client::describe_events).then_error(|| {
            DescribeEventsError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("SubscriptionRequiredException")
                    .message("The AWS Premium Support Subscription is required to use this service.")
                    .build(),
            )
        });
        let r = api(rule).confirm(ARN).await;
        assert!(
            matches!(&r, HealthCheck::Unconfirmable(w) if w.contains("SubscriptionRequired")),
            "{r:?}"
        );
    }
}
