//! The SNS notifier: one Publish per notification, MessageStructure=json so each protocol gets
//! its own form.

use super::{Notification, Notifier, NotifyError, sns_message, sns_subject};
use crate::model::said;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: crate::model::Deferred<Client>,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier::deferred(crate::model::Deferred::ready(client), topic_arn)
    }

    /// With the client made on the first notification.
    pub fn deferred(client: crate::model::Deferred<Client>, topic_arn: impl Into<String>) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

fn attr(v: &str) -> MessageAttributeValue {
    // Only fails without a data type, which is always given here.
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .unwrap_or_else(|_| unreachable!("data_type is set"))
}

impl Notifier for SnsNotifier {
    async fn notify(&self, n: &Notification) -> Result<String, NotifyError> {
        let out = self
            .client
            .get()
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(sns_subject(&n.subject))
            .message_structure("json")
            .message(sns_message(n))
            .message_attributes("severity", attr(n.severity.as_str()))
            .message_attributes("function", attr(&n.function))
            .message_attributes("region", attr(n.region.as_str()))
            .send()
            .await
            .map_err(|e| NotifyError {
                subject: n.subject.clone(),
                message: said(&e),
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}
