//! The one place AWS clients are made. One `SdkConfig` is loaded at init (credentials, the
//! standard `AWS_ENDPOINT_URL`, timeouts, retries) and re-targeted per region; clients are cheap
//! to derive from it. The SDK sets no API-call timeout by default: a hung call in a failover
//! would burn the whole Lambda timeout, so both limits are explicit.

use crate::model::Region;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Route 53's control plane lives in us-east-1 whatever region calls it.
pub const ROUTE53_CONTROL_PLANE_REGION: &str = "us-east-1";
/// The AWS Health API's regions: "two regional endpoints in an active-passive configuration",
/// us-east-1 active and us-east-2 passive ("Choosing endpoints for AWS Health API requests").
pub const HEALTH_API_REGIONS: [&str; 2] = ["us-east-1", "us-east-2"];

/// Per attempt: enough for a healthy regional endpoint, short enough to fail over quickly.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Per operation, all retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_ATTEMPTS: u32 = 3;

/// The certificate authorities the HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// Only the roots of Amazon Trust Services, compiled in: every AWS endpoint chains to one
    /// of them. The functions use this: no CA bundle is read from disk at cold start (loading
    /// the platform bundle was 2/3 of the init time) and no other CA can pose as an endpoint.
    AmazonTrustServices,
    /// The platform's CA bundle: the operator CLI, which may sit behind a TLS-inspecting proxy.
    Platform,
}

/// PEM roots of Amazon Trust Services (fingerprints in the file).
pub const AMAZON_TRUST_SERVICES_PEM: &str = include_str!("../../certs/amazon-trust-services.pem");

/// One client per service and region, made on first use and shared by every clone: a
/// function builds only the clients it uses (each costs 40–90 µs at cold start, BENCHMARKS.md),
/// and a reader called on every event does not build its client again.
#[derive(Debug, Clone)]
pub struct AwsClients {
    base: SdkConfig,
    made: Arc<Mutex<Made>>,
}

/// The clients made so far, by service and region.
type Made = HashMap<(&'static str, String), Box<dyn Any + Send + Sync>>;

impl AwsClients {
    /// Loads credentials and settings from the environment (once, at cold start).
    ///
    /// A function on Lambda finds everything in its environment (`AWS_REGION`, the role's
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`: "Defined runtime
    /// environment variables", Lambda Developer Guide), so it builds its configuration from
    /// there directly: the default loader's provider chains (profiles, SSO, web identity,
    /// containers, IMDS) cost ~300 µs of every cold start for nothing. Anywhere else (the
    /// operator CLI, a developer's shell) the default loader is used.
    pub async fn load(roots: TrustRoots) -> Self {
        if roots == TrustRoots::AmazonTrustServices
            && let Some(base) = from_lambda_environment(|k| std::env::var(k).ok())
        {
            return AwsClients::from_config(base);
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if roots == TrustRoots::AmazonTrustServices {
            loader = loader.http_client(amazon_only_https_client());
        }
        let base = loader.timeout_config(timeouts()).retry_config(retries()).load().await;
        AwsClients::from_config(base)
    }

    /// Wraps an already built configuration (tests: mocked HTTP clients).
    pub fn from_config(base: SdkConfig) -> Self {
        AwsClients {
            base,
            made: Arc::default(),
        }
    }

    /// The `service` client for `region`, made by `make` the first time it is asked for.
    fn shared<C: Clone + Send + Sync + 'static>(&self, service: &'static str, region: &str, make: impl FnOnce() -> C) -> C {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let key = (service, region.to_owned());
        if let Some(c) = made.get(&key).and_then(|c| c.downcast_ref::<C>()) {
            return c.clone();
        }
        let client = make();
        made.insert(key, Box::new(client.clone()));
        client
    }

    /// The DynamoDB client for `region`, made on its first use (state stores and throttle
    /// tables built at cold start need not build it then).
    pub fn deferred_dynamodb(&self, region: &Region) -> crate::model::Deferred<aws_sdk_dynamodb::Client> {
        let (clients, region) = (self.clone(), region.clone());
        crate::model::Deferred::later(move || clients.dynamodb(&region))
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

    pub fn ssm(&self, region: &Region) -> aws_sdk_ssm::Client {
        self.shared("ssm", region.as_str(), || aws_sdk_ssm::Client::new(&self.config_for(region)))
    }

    pub fn dynamodb(&self, region: &Region) -> aws_sdk_dynamodb::Client {
        self.shared("dynamodb", region.as_str(), || {
            aws_sdk_dynamodb::Client::new(&self.config_for(region))
        })
    }

    pub fn cloudwatch(&self, region: &Region) -> aws_sdk_cloudwatch::Client {
        self.shared("cloudwatch", region.as_str(), || {
            aws_sdk_cloudwatch::Client::new(&self.config_for(region))
        })
    }

    pub fn sns(&self, region: &Region) -> aws_sdk_sns::Client {
        self.shared("sns", region.as_str(), || aws_sdk_sns::Client::new(&self.config_for(region)))
    }

    pub fn autoscaling(&self, region: &Region) -> aws_sdk_applicationautoscaling::Client {
        self.shared("autoscaling", region.as_str(), || {
            aws_sdk_applicationautoscaling::Client::new(&self.config_for(region))
        })
    }

    pub fn lambda(&self, region: &Region) -> aws_sdk_lambda::Client {
        self.shared("lambda", region.as_str(), || aws_sdk_lambda::Client::new(&self.config_for(region)))
    }

    /// Route 53 (global; its control plane is in us-east-1).
    pub fn route53(&self) -> aws_sdk_route53::Client {
        self.shared("route53", ROUTE53_CONTROL_PLANE_REGION, || {
            let region = aws_config::Region::new(ROUTE53_CONTROL_PLANE_REGION);
            aws_sdk_route53::Client::new(&self.base.to_builder().region(region).build())
        })
    }

    /// The AWS Health API (its global endpoint, in us-east-1).
    /// The Health API client of `region` (one of [`HEALTH_API_REGIONS`]).
    pub fn health(&self, region: &'static str) -> aws_sdk_health::Client {
        self.shared("health", region, || {
            aws_sdk_health::Client::new(&self.base.to_builder().region(aws_config::Region::new(region)).build())
        })
    }
}

/// Every call's limits: the SDK sets no API-call timeout by default.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(OPERATION_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// The configuration of a function whose environment names its region and credentials (as
/// Lambda's does), with `AWS_ENDPOINT_URL` honoured as the SDK's loader honours it; `None` when
/// something else would be needed (a profile, container or web-identity credentials).
fn from_lambda_environment(env: impl Fn(&str) -> Option<String>) -> Option<SdkConfig> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let region = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"))?;
    let (key, secret) = (set("AWS_ACCESS_KEY_ID")?, set("AWS_SECRET_ACCESS_KEY")?);
    let credentials = aws_credential_types::Credentials::new(key, secret, set("AWS_SESSION_TOKEN"), None, "environment");
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
        .http_client(amazon_only_https_client())
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
        .time_source(aws_smithy_async::time::SharedTimeSource::default())
        .timeout_config(timeouts())
        .retry_config(retries());
    if let Some(url) = set("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(url);
    }
    Some(builder.build())
}

fn amazon_only_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM.as_bytes());
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        // The store above is a constant; the builder only fails on invalid input.
        .expect("valid TLS context from the compiled-in roots");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lambda_environment_gives_region_credentials_and_endpoint_without_the_loader_and_anything_else_uses_the_loader() {
        use aws_credential_types::provider::ProvideCredentials;
        const LAMBDA: [(&str, &str); 5] = [
            ("AWS_REGION", "eu-north-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ];
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let config = from_lambda_environment(env(&LAMBDA)).expect("a Lambda environment");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-north-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(config.sleep_impl().is_some() && config.retry_config().is_some_and(|r| r.max_attempts() == MAX_ATTEMPTS));
        let creds = futures_util::FutureExt::now_or_never(config.credentials_provider().unwrap().provide_credentials())
            .unwrap()
            .unwrap();
        assert_eq!((creds.access_key_id(), creds.session_token()), ("AKIDEXAMPLE", Some("token")));
        // No credentials in the environment (a profile, SSO, a container): the loader's job.
        assert!(from_lambda_environment(env(&[("AWS_REGION", "eu-north-1")])).is_none());
        assert!(from_lambda_environment(env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")])).is_none());
    }

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

    #[tokio::test]
    async fn a_client_is_made_once_per_service_and_region_and_shared_by_clones() {
        let base = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-south-1"))
            .behavior_version(BehaviorVersion::latest())
            .build();
        let clients = AwsClients::from_config(base);
        let (south, north): (Region, Region) = ("eu-south-1".parse().unwrap(), "eu-north-1".parse().unwrap());
        let _ = clients.clone().dynamodb(&south);
        let _ = clients.dynamodb(&south);
        let _ = clients.dynamodb(&north);
        let _ = clients.sns(&south);
        assert_eq!(clients.made.lock().unwrap().len(), 3, "dynamodb in two regions, sns in one");
        assert_eq!(clients.dynamodb(&north).config().region().map(|r| r.as_ref()), Some("eu-north-1"));
    }

    #[test]
    fn compiled_in_roots_are_the_five_amazon_trust_services_certificates() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        // The SDK parses these when it builds its first connection and panics on a bad one.
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs.len(), 5);
        let _ = amazon_only_https_client();
    }
}
