//! Support for the integration and end-to-end tests: the local AWS emulator (moto_server, reached
//! through the real SDK via `AWS_ENDPOINT_URL`), a Lambda Runtime API emulator that runs the
//! compiled function binaries, and a two-region platform provisioned in the emulator.
//!
//! Tests are isolated by unique names, so they run in parallel against one emulator.

// Test support: a failed setup step is a failed test, so it panics with the SDK error.
#![allow(clippy::unwrap_used)]

pub mod arc;
pub mod cloudwatch;
pub mod deployed;
pub mod faults;
pub mod jwt;
pub mod latency;
pub mod platform;
pub mod replicator;
pub mod runtime;

use aws_config::{BehaviorVersion, SdkConfig};
use serde_json::Value;

/// The emulator's endpoint. Tests that need it run under `scripts/with-moto.sh` (`make test`).
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL is not set: run these tests with `make test` (scripts/with-moto.sh starts the local AWS emulator)")
    })
}

/// SDK configuration for `region` against the emulator.
pub async fn sdk(region: &str) -> SdkConfig {
    let _ = endpoint();
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// Creates an on-demand table keyed by string attributes `hash` (and `range`).
pub async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str, hash: &str, range: Option<&str>) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let mut req = ddb.create_table().table_name(name).billing_mode(BillingMode::PayPerRequest);
    for (attr, key_type) in std::iter::once((hash, KeyType::Hash)).chain(range.map(|r| (r, KeyType::Range))) {
        req = req
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name(attr).key_type(key_type).build().unwrap());
    }
    req.send().await.unwrap_or_else(|e| panic!("create table {name}: {e:?}"));
}

/// Creates the state table (the key design of `resilience_core::store`).
pub async fn create_state_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    create_table(ddb, name, "pk", Some("sk")).await;
}

/// An SNS topic with an SQS queue subscribed to it: (topic ARN, queue URL).
pub async fn topic_with_queue(region: &str, name: &str) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(&sdk(region).await);
    let topic = sns.create_topic().name(name).send().await.expect("create topic").topic_arn.unwrap();
    let queue_url = queue_on(&topic, region, name).await;
    (topic, queue_url)
}

/// A new SQS queue `name` in `region`, subscribed to `topic`: its URL.
pub async fn queue_on(topic: &str, region: &str, name: &str) -> String {
    let cfg = sdk(region).await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    aws_sdk_sns::Client::new(&cfg)
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe");
    queue_url
}

/// Every message waiting in the queue (SNS envelopes, parsed), removing them.
pub async fn drain_queue(region: &str, queue_url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&sdk(region).await);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap_or("null")).expect("SNS envelope is JSON"));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// An event fixture (the one copy in `shared/fixtures/events`).
pub use resilience_core::fixtures::event as fixture;

/// Signs an operator command event with the in-process test operator key (after a test's
/// edits, as the CLI signs what the operator asked for).
pub use resilience_core::fixtures::sign_if_command as sign;

/// A real-format EventBridge alarm state change of `name` in `region`, entering `state` at `at`.
pub fn alarm_event(name: &str, region: &str, state: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    let mut e = fixture("eventbridge-alarm-metric.json");
    e["id"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
    e["region"] = serde_json::json!(region);
    e["time"] = serde_json::json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    e["resources"] = serde_json::json!([format!("arn:aws:cloudwatch:{region}:123456789012:alarm:{name}")]);
    e["detail"]["alarmName"] = serde_json::json!(name);
    e["detail"]["state"]["value"] = serde_json::json!(state);
    e["detail"]["state"]["timestamp"] = serde_json::json!(at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
    e["detail"]["previousState"]["value"] = serde_json::json!(if state == "ALARM" { "OK" } else { "ALARM" });
    e
}

/// A tick of the Scheduler schedule `name` in `region`, as the template's Input makes it: a
/// "Scheduled Event" naming the schedule, keyed by its ARN and a fresh scheduled time.
pub fn scheduler_tick(name: &str, region: &str) -> Value {
    let mut e = fixture("scheduler-schedule.json");
    let arn = format!("arn:aws:scheduler:{region}:123456789012:schedule/default/{name}");
    e["id"] = serde_json::json!(format!("{arn}@{}", uuid::Uuid::new_v4()));
    e["region"] = serde_json::json!(region);
    e["resources"] = serde_json::json!([arn]);
    e
}

/// The "CloudWatch Alarm State Change" event EventBridge delivers for `alarm`'s last change in
/// `region`, read through `cw`: its current state at its state-change time (the emulator has no
/// EventBridge, so tests deliver it). With `wait`, once the alarm is in that state (at most
/// 10 s: the latency model evaluates alarms a moment after their metric changes).
pub async fn state_change_event(
    cw: &aws_sdk_cloudwatch::Client,
    alarm: &str,
    region: &str,
    wait: Option<aws_sdk_cloudwatch::types::StateValue>,
) -> Value {
    let mut out = cw.describe_alarms().alarm_names(alarm).send().await.unwrap();
    for _ in 0..100 {
        let state = out.metric_alarms().first().and_then(|a| a.state_value());
        if wait.is_none() || state == wait.as_ref() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        out = cw.describe_alarms().alarm_names(alarm).send().await.unwrap();
    }
    let a = out
        .metric_alarms()
        .first()
        .unwrap_or_else(|| panic!("no alarm {alarm} in {region}"));
    let at = a
        .state_transitioned_timestamp()
        .or(a.state_updated_timestamp())
        .and_then(|t| chrono::DateTime::from_timestamp_millis(t.to_millis().ok()?))
        .unwrap_or_else(chrono::Utc::now);
    alarm_event(alarm, region, a.state_value().map_or("OK", |s| s.as_str()), at)
}

/// Writes `text` to the SSM parameter `name` as it is: what anyone with `ssm:PutParameter` can
/// do (the deploy writes [`ConfigKey::seal`]ed documents).
pub async fn put_parameter_text(sdk: &SdkConfig, name: &str, text: &str) {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(name)
        .value(text)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tier(aws_sdk_ssm::types::ParameterTier::IntelligentTiering)
        .overwrite(true)
        .send()
        .await
        .expect("put the configuration parameter");
}

/// Writes the configuration document to the SSM parameter `name` as `make deploy` does: signed
/// with `key` (through KMS, with `sdk`'s credentials).
pub async fn put_config_parameter(sdk: &SdkConfig, key: &ConfigKey, name: &str, config: &Value) {
    put_parameter_text(sdk, name, &key.seal(sdk, config).await).await;
}

/// A configuration key in the emulator's KMS, as infra/stack.py `config_key` makes it.
#[derive(Debug, Clone)]
pub struct ConfigKey {
    pub arn: String,
    /// base64 DER SubjectPublicKeyInfo: the stack's `RESILIENCE_CONFIG_SIGNER`.
    pub public_key: String,
}

impl ConfigKey {
    /// A new ECC_NIST_P256 signing key in `sdk`'s region.
    pub async fn create(sdk: &SdkConfig) -> Self {
        use aws_sdk_kms::types::{KeySpec, KeyUsageType};
        use base64::Engine;
        let kms = aws_sdk_kms::Client::new(sdk);
        let arn = kms
            .create_key()
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .expect("create the configuration key")
            .key_metadata
            .expect("metadata")
            .arn
            .expect("arn");
        let public = kms.get_public_key().key_id(&arn).send().await.expect("public key");
        let der = public.public_key.expect("public key bytes").into_inner();
        ConfigKey {
            arn,
            public_key: base64::engine::general_purpose::STANDARD.encode(der),
        }
    }

    /// The parameter value the deploy writes for `config`: the envelope of
    /// `resilience_core::config::signed`, signed now through KMS `Sign` (RAW, ECDSA_SHA_256).
    pub async fn seal(&self, sdk: &SdkConfig, config: &Value) -> String {
        let signed_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        self.seal_at(sdk, config, &signed_at).await
    }

    /// As [`ConfigKey::seal`], with the signing time given (an old signed version).
    pub async fn seal_at(&self, sdk: &SdkConfig, config: &Value, signed_at: &str) -> String {
        use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
        use base64::Engine;
        use resilience_core::config::signed;
        let text = config.to_string();
        let signature = aws_sdk_kms::Client::new(sdk)
            .sign()
            .key_id(&self.arn)
            .message(aws_sdk_kms::primitives::Blob::new(signed::statement(signed_at, &text)))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .expect("sign the configuration")
            .signature
            .expect("signature");
        serde_json::to_string(&signed::Envelope {
            format: signed::FORMAT.into(),
            signed_at: signed_at.into(),
            key_id: self.arn.clone(),
            signature: base64::engine::general_purpose::STANDARD.encode(signature.into_inner()),
            config: text,
        })
        .expect("envelope")
    }
}
