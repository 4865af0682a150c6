//! Logs and metrics. Logs go through `tracing`, set up by the official runtime's subscriber
//! (it honours `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG`, and writes no
//! timestamps of its own: CloudWatch adds them). Metrics are CloudWatch Embedded Metric Format
//! lines on stdout: CloudWatch turns them into metrics with no API call on the hot path.

use serde_json::{Map, Value, json};
use std::io::Write;

/// Sets up logging once per process (a second call is a no-op).
pub fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(lambda_runtime::tracing::init_default_subscriber);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
    Bytes,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::None => "None",
        }
    }
}

/// One EMF document: a namespace, one dimension set, some metrics, extra searchable fields.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: String,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, f64, Unit)>,
    properties: Map<String, Value>,
}

impl Metrics {
    pub fn new(namespace: impl Into<String>) -> Self {
        Metrics {
            namespace: namespace.into(),
            dimensions: Vec::new(),
            metrics: Vec::new(),
            properties: Map::new(),
        }
    }

    /// The suite's metric namespace for `platform` (the IAM policies are conditioned on it).
    pub fn namespace(platform: &str) -> String {
        format!("{platform}/Resilience")
    }

    /// The suite's metrics of one function in one region (`<platform>/Resilience`).
    pub fn for_function(platform: &str, function: &str, region: &str) -> Self {
        Metrics::new(Metrics::namespace(platform))
            .dimension("Function", function)
            .dimension("Region", region)
    }

    pub fn dimension(mut self, name: &str, value: impl Into<String>) -> Self {
        self.dimensions.push((name.to_owned(), value.into()));
        self
    }

    pub fn metric(&mut self, name: &str, value: f64, unit: Unit) -> &mut Self {
        self.metrics.push((name.to_owned(), value, unit));
        self
    }

    /// A field that is searchable in Logs Insights but is not a metric or dimension.
    pub fn property(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.properties.insert(name.to_owned(), value.into());
        self
    }

    /// The EMF JSON document (timestamp in epoch milliseconds).
    pub fn to_emf(&self, timestamp_ms: i64) -> Value {
        let mut doc = self.properties.clone();
        for (k, v) in &self.dimensions {
            doc.insert(k.clone(), Value::String(v.clone()));
        }
        for (k, v, _) in &self.metrics {
            doc.insert(k.clone(), json!(v));
        }
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [self.dimensions.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()],
                    "Metrics": self.metrics.iter().map(|(k, _, u)| json!({"Name": k, "Unit": u.as_str()})).collect::<Vec<_>>(),
                }]
            }),
        );
        Value::Object(doc)
    }

    /// Writes the document as one line on stdout, where the Lambda agent picks it up.
    pub fn emit(&self) {
        if self.metrics.is_empty() {
            return;
        }
        let line = self.to_emf(chrono::Utc::now().timestamp_millis()).to_string();
        // One write call per line so concurrent lines do not interleave.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric_and_dimension() {
        let mut m = Metrics::new("AWorld/Resilience")
            .dimension("Function", "dns-failover")
            .dimension("Region", "eu-north-1");
        m.metric("DecisionMillis", 3.5, Unit::Milliseconds)
            .metric("Failovers", 1.0, Unit::Count)
            .property("signal_key", "alarm:x");
        let doc = m.to_emf(1_700_000_000_000);
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "AWorld/Resilience");
        assert_eq!(cw["Dimensions"][0], json!(["Function", "Region"]));
        assert_eq!(cw["Metrics"][0], json!({"Name": "DecisionMillis", "Unit": "Milliseconds"}));
        assert_eq!(doc["DecisionMillis"], 3.5);
        assert_eq!(doc["Function"], "dns-failover");
        assert_eq!(doc["signal_key"], "alarm:x");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
