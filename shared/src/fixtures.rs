//! The one copy of the real-format events and configurations that tests read: the unit tests of
//! every crate, the end-to-end tests, the benchmarks and the fuzz corpus (which adds the
//! `hostile-*` events of the same folder). Behind the `test-util` feature.

use serde_json::Value;
use std::path::PathBuf;

/// The folder of real-format events (`shared/fixtures/events`).
pub fn events_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/events"))
}

/// The folder of configuration documents (`shared/fixtures/config`).
pub fn configs_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/config"))
}

/// The text of the event fixture `name` (e.g. `eventbridge-alarm-metric.json`).
pub fn event_text(name: &str) -> String {
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The event fixture `name`, parsed.
pub fn event(name: &str) -> Value {
    serde_json::from_str(&event_text(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A stand-in for an operator KMS key in tests that run without KMS: a P-256 key pair made once
/// per process, signing exactly as KMS `Sign` (`ECDSA_SHA_256`, RAW message, DER signature).
#[derive(Debug)]
pub struct TestOperatorKey {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    pub key_id: String,
}

/// The process's test operator key.
pub fn operator_key() -> &'static TestOperatorKey {
    static KEY: std::sync::OnceLock<TestOperatorKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| TestOperatorKey {
        pair: aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING)
            .expect("a P-256 key pair"),
        key_id: "arn:aws:kms:eu-north-1:123456789012:key/00000000-0000-4000-8000-00000000test".into(),
    })
}

impl TestOperatorKey {
    /// The configuration entry that trusts this key.
    pub fn signing_key(&self) -> crate::config::SigningKey {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        use base64::Engine;
        let der = self.pair.public_key().as_der().expect("SPKI");
        crate::config::SigningKey {
            key_id: self.key_id.clone(),
            public_key: base64::engine::general_purpose::STANDARD.encode(der.as_ref()),
        }
    }

    /// Signs `detail` for `command` as the CLI does, at `issued_at`.
    pub fn sign(
        &self,
        command: crate::signal::OperatorCommandKind,
        detail: &mut crate::signal::OperatorCommandDetail,
        issued_at: chrono::DateTime<chrono::Utc>,
    ) {
        use base64::Engine;
        let issued_at = issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let nonce = uuid::Uuid::new_v4().to_string();
        detail.proof = None;
        let message = crate::signal::command::signing_input(command, detail, &self.key_id, &issued_at, &nonce);
        let signature = self.pair.sign(&aws_lc_rs::rand::SystemRandom::new(), &message).expect("signature");
        let low = crate::signal::command::low_s::normalise(signature.as_ref()).expect("a DER signature");
        detail.proof = Some(crate::signal::CommandProof {
            key_id: self.key_id.clone(),
            issued_at,
            nonce,
            signature: base64::engine::general_purpose::STANDARD.encode(low),
        });
    }

    /// Signs an operator command event (its `detail-type` and `detail`) in place, now.
    pub fn sign_event(&self, event: &mut Value) {
        let kind = event["detail-type"]
            .as_str()
            .and_then(crate::signal::OperatorCommandKind::from_detail_type)
            .expect("an operator command event");
        let mut detail: crate::signal::OperatorCommandDetail = serde_json::from_value(event["detail"].clone()).expect("command detail");
        self.sign(kind, &mut detail, chrono::Utc::now());
        event["detail"] = serde_json::to_value(&detail).expect("detail");
    }

    /// `config` (a configuration document) with this key trusted.
    pub fn trusted_by(&self, config: &mut Value) {
        config["operators"]["signing_keys"] = serde_json::json!([self.signing_key()]);
    }
}

/// The example configuration, with the test operator key trusted.
pub fn example_config() -> crate::config::SuiteConfig {
    let mut v: Value = serde_json::from_str(crate::config::EXAMPLE).expect("example configuration");
    operator_key().trusted_by(&mut v);
    crate::config::SuiteConfig::from_json(&v.to_string()).expect("example configuration")
}

/// Signs `event` with the test operator key if it is an operator command (after a test's edits,
/// as an operator's CLI would).
pub fn sign_if_command(event: &mut Value) {
    let is_command = event["detail-type"]
        .as_str()
        .and_then(crate::signal::OperatorCommandKind::from_detail_type)
        .is_some();
    if is_command && event["detail"].is_object() {
        operator_key().sign_event(event);
    }
}
