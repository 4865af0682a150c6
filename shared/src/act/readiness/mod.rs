//! Readiness, the readings: the live account, in every configured region, read once per check
//! and handed to the graders of `decide::readiness`. Only reads (Describe / Get / List /
//! Simulate / TestDNSAnswer); every call is counted (an SDK interceptor), so the report says
//! what one check costs. A reading that fails becomes an item graded as such, never a pass.
//!
//! One file per area, mirroring `decide::readiness` (each an `impl ReadinessProbe` block with
//! that area's reads and their tests), so an area's reading sits next to nothing but itself;
//! this file holds the probe, one full check and the client every area builds.

use crate::aws::clients::AwsClients;
use crate::config::SuiteConfig;
use crate::decide::readiness::{Item, ReadinessReport};
use crate::model::Region;
use read::CallCounter;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

/// A client of `$krate` for `$region`, counted by the probe's interceptor (and answered by the
/// tests' mock when one is set). Defined before the area modules, which use it.
macro_rules! client {
    ($self:ident, $krate:ident, $region:expr) => {{
        let mut b = $krate::config::Builder::from(&$self.clients.config_for($region)).interceptor($self.calls.clone());
        if let Some(m) = &$self.mock {
            b.push_interceptor(m.clone());
        }
        $krate::Client::from_conf(b.build())
    }};
}

mod alarms;
mod capacity;
mod configuration;
mod data;
mod dns;
mod notifications;
mod permissions;
mod read;
mod rules;

pub use configuration::digest;

/// Reads the account for a readiness check.
#[derive(Debug, Clone)]
pub struct ReadinessProbe {
    clients: AwsClients,
    calls: CallCounter,
    /// Tests: aws-smithy-mocks' interceptor on every client (what the emulator cannot answer).
    mock: Option<aws_smithy_runtime_api::client::interceptors::SharedInterceptor>,
}

/// The inputs of one check that are not in the configuration.
#[derive(Debug, Clone, Default)]
pub struct CheckInputs {
    /// The SSM parameter the functions read their configuration from (`None`: not deployed
    /// from a parameter, e.g. the CLI with a local file and no `--parameter`).
    pub config_parameter: Option<String>,
    /// The configuration key the stack pins (`RESILIENCE_CONFIG_SIGNER`): the parameter's
    /// version is checked to be one the functions accept (`None`: its signature is not checked).
    pub config_signer: Option<crate::config::signed::Signer>,
    /// The regions the suite recorded as drained (`None`: the state could not be read).
    pub recorded_drained: Option<BTreeSet<Region>>,
}

impl ReadinessProbe {
    /// A probe reading through `clients`, its calls counted from zero.
    pub fn new(clients: AwsClients) -> Self {
        ReadinessProbe {
            clients,
            calls: CallCounter::default(),
            mock: None,
        }
    }

    /// One full check from `home`: every area, every configured region.
    pub async fn run(&self, config: &SuiteConfig, home: &Region, inputs: &CheckInputs) -> ReadinessReport {
        let started = std::time::Instant::now();
        let before = self.calls.0.load(Ordering::Relaxed);
        let per_region = config.regions.keys().map(|r| async move {
            let (a, b, c, d, e, f) = futures_util::join!(
                self.signals(config, r),
                self.capacity(config, r),
                self.data(config, r),
                self.notifications(config, r),
                self.permissions(config, r),
                self.configuration(config, r, inputs.config_parameter.as_deref(), inputs.config_signer.as_ref()),
            );
            [a, b, c, d, e, f].concat()
        });
        let (regional, dns) = futures_util::join!(futures_util::future::join_all(per_region), self.dns(config, inputs));
        let mut items: Vec<Item> = regional.into_iter().flatten().chain(dns).collect();
        items.sort_by(|a, b| (a.area, &a.region, &a.item).cmp(&(b.area, &b.region, &b.item)));
        ReadinessReport {
            at: chrono::Utc::now(),
            checked_from: home.to_string(),
            items,
            api_calls: self.calls.0.load(Ordering::Relaxed) - before,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// The signals of `region`: its alarms, and the rules that carry them to the functions.
    async fn signals(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let mut items = self.alarms(config, region).await;
        items.extend(self.rules(config, region).await);
        items
    }
}

/// What the areas' tests share: what the emulator cannot answer (TestDNSAnswer, IAM's policy
/// simulator, hosted-zone features, account quotas below a plan, throttling) is answered by
/// aws-smithy-mocks through a probe built here.
#[cfg(test)]
mod test_support {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::decide::readiness::Grade;
    use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode};
    use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

    pub(super) fn config() -> SuiteConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap()
    }

    pub(super) fn region(r: &str) -> Region {
        r.parse().unwrap()
    }

    /// A probe whose every call is answered by `rules` (any order, each as often as asked).
    pub(super) fn probe(rules: &[Rule]) -> ReadinessProbe {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            interceptor = interceptor.with_rule(r);
        }
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-south-1"))
            .credentials_provider(aws_sdk_route53::config::SharedCredentialsProvider::new(
                aws_sdk_route53::config::Credentials::for_tests(),
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            // One answer per call: a throttled read is reported, not retried away.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let mut p = ReadinessProbe::new(AwsClients::from_config(sdk));
        p.mock = Some(SharedInterceptor::new(interceptor));
        p
    }

    pub(super) fn grades(items: &[Item]) -> Vec<(String, Grade)> {
        items.iter().map(|i| (i.item.clone(), i.grade)).collect()
    }
}
