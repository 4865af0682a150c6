//! The one place AWS clients are made. One `SdkConfig` is loaded at init (credentials, the
//! standard `AWS_ENDPOINT_URL`, timeouts, retries) and re-targeted per region; clients are cheap
//! to derive from it. The SDK sets no API-call timeout by default: a hung call in a failover
//! would burn the whole Lambda timeout, so both limits are explicit.

use crate::region::Region;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Route 53's control plane lives in us-east-1 whatever region calls it.
pub const ROUTE53_CONTROL_PLANE_REGION: &str = "us-east-1";

/// Per attempt: enough for a healthy regional endpoint, short enough to fail over quickly.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Per operation, all retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct AwsClients {
    base: SdkConfig,
}

impl AwsClients {
    /// Loads credentials and settings from the environment (once, at cold start).
    pub async fn load() -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(OPERATION_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .load()
            .await;
        AwsClients { base }
    }

    /// Wraps an already built configuration (tests: mocked HTTP clients).
    pub fn from_config(base: SdkConfig) -> Self {
        AwsClients { base }
    }

    /// The region this process runs in (`AWS_REGION`), if valid.
    pub fn home_region(&self) -> Option<Region> {
        self.base.region().and_then(|r| r.as_ref().parse().ok())
    }

    /// The configuration re-targeted at `region`.
    pub fn config_for(&self, region: &Region) -> SdkConfig {
        self.base
            .to_builder()
            .region(aws_config::Region::new(region.as_str().to_owned()))
            .build()
    }

    pub fn dynamodb(&self, region: &Region) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.config_for(region))
    }

    pub fn cloudwatch(&self, region: &Region) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.config_for(region))
    }

    pub fn sns(&self, region: &Region) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.config_for(region))
    }

    pub fn autoscaling(&self, region: &Region) -> aws_sdk_applicationautoscaling::Client {
        aws_sdk_applicationautoscaling::Client::new(&self.config_for(region))
    }

    pub fn lambda(&self, region: &Region) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(&self.config_for(region))
    }

    /// Route 53 (global; its control plane is in us-east-1).
    pub fn route53(&self) -> aws_sdk_route53::Client {
        let region = aws_config::Region::new(ROUTE53_CONTROL_PLANE_REGION);
        aws_sdk_route53::Client::new(&self.base.to_builder().region(region).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_are_retargeted_per_region_with_explicit_timeouts() {
        let base = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-south-1"))
            .behavior_version(BehaviorVersion::latest())
            .timeout_config(TimeoutConfig::builder().operation_timeout(OPERATION_TIMEOUT).build())
            .build();
        let clients = AwsClients::from_config(base);
        assert_eq!(clients.home_region().map(|r| r.to_string()).as_deref(), Some("eu-south-1"));
        let north: Region = "eu-north-1".parse().unwrap();
        let cfg = clients.config_for(&north);
        assert_eq!(cfg.region().map(|r| r.as_ref()), Some("eu-north-1"));
        assert_eq!(cfg.timeout_config().and_then(|t| t.operation_timeout()), Some(OPERATION_TIMEOUT));
        assert_eq!(
            clients.route53().config().region().map(|r| r.as_ref()),
            Some(ROUTE53_CONTROL_PLANE_REGION)
        );
    }
}
