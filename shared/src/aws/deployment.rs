//! The one place a function reads its configuration and builds its AWS clients, state store and
//! notifier. `main` calls [`start`] once; the [`Live`] handler it returns is rebuilt when the
//! deployed configuration (an SSM parameter) changes, so the kill switch or a threshold changes
//! without a code deploy.

use crate::auth::TokenValidator;
use crate::aws::clients::{AwsClients, TrustRoots};
use crate::config::signed::{self, Signer};
use crate::config::{ConfigError, ENV_CONFIG_PARAMETER, SuiteConfig};
use crate::evidence::notify::SnsNotifier;
use crate::model::Region;
use crate::model::said;
use crate::store::dynamodb::DynamoStore;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How often a warm function asks whether its configuration parameter changed.
pub const ENV_CONFIG_REFRESH_SECONDS: &str = "RESILIENCE_CONFIG_REFRESH_SECONDS";
const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// What a function is built from at cold start: the configuration, the SDK configuration and
/// the region. The state store and the notifier are made when the function asks for them, so
/// a function builds only the clients it uses (the authorizer needs neither).
#[derive(Debug, Clone)]
pub struct Deployment {
    pub config: SuiteConfig,
    pub clients: AwsClients,
    /// The region this function runs in.
    pub region: Region,
    /// This region's notification topic (checked at init: every function's region has one).
    topic: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("AWS_REGION is not set to a region code: the function cannot tell where it runs")]
    NoRegion,
    #[error("this function runs in {0}, which is not in the configuration's regions (fix: add it, or deploy only to configured regions)")]
    UnconfiguredRegion(Region),
    /// The configuration is valid for the suite but lacks what this function needs.
    #[error("{0}")]
    Function(String),
    /// The stack's pin of the configuration key is missing or unusable.
    #[error("the configuration parameter cannot be trusted: {0}")]
    Signer(signed::Refusal),
    /// No version of the parameter, current or in its history, is signed and valid.
    #[error("no version of {name} is signed by the deploy and valid: version {version} is refused ({refused}); {history}")]
    NoSignedVersion {
        name: String,
        version: i64,
        refused: String,
        history: String,
    },
}

impl InitError {
    /// The error type Lambda shows for a failed init (`InitError.Config`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            InitError::Config(_) => "InitError.Config",
            InitError::NoRegion => "InitError.NoRegion",
            InitError::UnconfiguredRegion(_) => "InitError.UnconfiguredRegion",
            InitError::Function(_) => "InitError.Function",
            InitError::Signer(_) => "InitError.ConfigSigner",
            InitError::NoSignedVersion { .. } => "InitError.ConfigRefused",
        }
    }
}

type Build<T> = Box<dyn Fn(Deployment) -> Result<T, InitError> + Send + Sync>;

/// The deployed configuration's source: the SSM parameter, and the key the stack pins for it.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub signer: Signer,
}

/// A configuration accepted from the parameter: its version and when the deploy signed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InForce {
    pub version: i64,
    pub signed_at: DateTime<Utc>,
}

/// A function's handler, built from the configuration in force, and rebuilt (never half-applied)
/// when a warm function finds a newer valid version of its configuration parameter.
pub struct Live<T> {
    current: RwLock<(Arc<T>, Option<InForce>)>,
    build: Build<T>,
    clients: AwsClients,
    parameter: Option<Parameter>,
    every: Duration,
    next_check: Mutex<Instant>,
}

impl<T> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("parameter", &self.parameter)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl<T> Live<T> {
    /// The handler to serve this event with. Every `every` (60 s by default) it first reads the
    /// parameter's version: a new version signed by the deploy, valid, and signed no earlier
    /// than the one in force replaces the handler; any other is refused, logged with every
    /// problem, and the version in force stays.
    pub async fn get(&self) -> Arc<T> {
        if let Some(parameter) = self.parameter.as_ref()
            && self.due()
        {
            self.refresh(parameter).await;
        }
        self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    fn due(&self) -> bool {
        let mut next = self.next_check.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now < *next {
            return false;
        }
        *next = now + self.every;
        true
    }

    async fn refresh(&self, parameter: &Parameter) {
        let name = parameter.name.as_str();
        let in_force = self.current.read().unwrap_or_else(|p| p.into_inner()).1;
        let region = match self.clients.home_region() {
            Some(r) => r,
            None => return,
        };
        let (text, version) = match read_parameter(&self.clients, &region, name).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "configuration not re-read; the version in force stays");
                return;
            }
        };
        if Some(version) == in_force.map(|f| f.version) {
            return;
        }
        let rebuilt = accept(parameter, &text, version).and_then(|(config, signed)| {
            if let Some(f) = in_force
                && signed.signed_at < f.signed_at
            {
                return Err(InitError::Function(format!(
                    "version {version} was signed at {}, before the version in force ({}, signed at {}): a warm function never goes back",
                    signed.signed_at.to_rfc3339(),
                    f.version,
                    f.signed_at.to_rfc3339()
                )));
            }
            let handler = Deployment::new(config, self.clients.clone()).and_then(|d| (self.build)(d))?;
            Ok((handler, signed))
        });
        match rebuilt {
            Ok((handler, signed)) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = (Arc::new(handler), Some(signed));
                tracing::info!(parameter = name, version, previous = ?in_force.map(|f| f.version), "configuration updated");
            }
            Err(e) => tracing::error!(
                parameter = name,
                version,
                in_force = ?in_force.map(|f| f.version),
                error = %e,
                error_type = e.kind(),
                "configuration version refused; the version in force stays"
            ),
        }
    }
}

/// Version `version` of the parameter, opened with the pinned key and validated.
fn accept(parameter: &Parameter, text: &str, version: i64) -> Result<(SuiteConfig, InForce), InitError> {
    let verified = parameter.signer.open(text).map_err(|refusal| InitError::NoSignedVersion {
        name: parameter.name.clone(),
        version,
        refused: refusal.to_string(),
        history: "the version in force stays".into(),
    })?;
    let config = SuiteConfig::from_text(&origin(&parameter.name, version), &verified.config, |k| std::env::var(k).ok())?;
    Ok((
        config,
        InForce {
            version,
            signed_at: verified.signed_at,
        },
    ))
}

fn origin(name: &str, version: i64) -> String {
    format!("SSM parameter {name} (version {version})")
}

/// Every version of the parameter still in its history, newest first (GetParameterHistory,
/// 50 a page: "MaxResults ... Valid Range: Maximum value of 50"; Parameter Store keeps the
/// last 100 versions, "Working with parameter versions").
async fn parameter_history(clients: &AwsClients, region: &Region, name: &str) -> Result<Vec<(String, i64)>, String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .ssm(region)
            .get_parameter_history()
            .name(name)
            .max_results(50)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| said(&e))?;
        out.extend(page.parameters().iter().filter_map(|p| Some((p.value()?.to_owned(), p.version()))));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.1));
    Ok(out)
}

/// The parameter's value and version (GetParameter; a String parameter, no decryption).
/// Parameter Store's default throughput is 40 transactions per second, shared by GetParameter,
/// GetParameters and PutParameter in the account and region ("Changing Parameter Store
/// throughput"): a burst of cold starts (the authorizer may scale to 200) can be throttled
/// beyond the SDK's retries, so a cold start keeps retrying ([`read_parameter_at_cold_start`]),
/// and the deploy's preflight checks for higher throughput; warm functions read only once a
/// minute each.
async fn read_parameter(clients: &AwsClients, region: &Region, name: &str) -> Result<(String, i64), ConfigError> {
    read_parameter_with(clients, region, name, None).await
}

/// Longest a cold start spends on a throttled configuration read: Lambda gives the init phase
/// 10 s ("Lambda execution environment lifecycle": "The Init phase is limited to 10 seconds"),
/// and a burst of cold starts that Parameter Store's shared throughput throttles clears within
/// seconds.
pub const COLD_START_READ_BUDGET: Duration = Duration::from_secs(7);

/// The cold start's read: the SDK's own standard retry, given more attempts (jittered
/// exponential backoff from 200 ms, at most 2 s apart) within [`COLD_START_READ_BUDGET`]; a
/// throttled read is retried, anything else fails as the SDK classifies it.
async fn read_parameter_at_cold_start(clients: &AwsClients, region: &Region, name: &str) -> Result<(String, i64), ConfigError> {
    let patient = aws_sdk_ssm::config::Builder::default()
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(10)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(COLD_START_READ_BUDGET)
                .build(),
        );
    read_parameter_with(clients, region, name, Some(patient)).await
}

/// One GetParameter, with the SDK configuration overridden by `config` when given.
async fn read_parameter_with(
    clients: &AwsClients,
    region: &Region,
    name: &str,
    config: Option<aws_sdk_ssm::config::Builder>,
) -> Result<(String, i64), ConfigError> {
    let request = clients.ssm(region).get_parameter().name(name);
    let sent = match config {
        Some(c) => request.customize().config_override(c).send().await,
        None => request.send().await,
    };
    let out = sent.map_err(|e| ConfigError::Parameter {
        name: name.to_owned(),
        message: said(&e),
    })?;
    let p = out.parameter.ok_or_else(|| ConfigError::Parameter {
        name: name.to_owned(),
        message: "GetParameter returned no parameter".into(),
    })?;
    let value = p.value.ok_or_else(|| ConfigError::Parameter {
        name: name.to_owned(),
        message: "the parameter has no value".into(),
    })?;
    Ok((value, p.version))
}

/// The one init path of every function: logging, then the deployment, then `build` (the
/// function's own parts). On failure the problem is logged once, in the configured log format,
/// reported to the Runtime API's `/runtime/init/error` (so the caller sees the problem list, not
/// a bare `Runtime.ExitError`), and the process exits without a second, plain-text line.
pub async fn start<T>(build: impl Fn(Deployment) -> Result<T, InitError> + Send + Sync + 'static) -> Live<T> {
    crate::evidence::telemetry::init_logging();
    let clients = AwsClients::load(TrustRoots::AmazonTrustServices).await;
    let built = async {
        let parameter = parameter_from_env()?;
        let (config, in_force) = load_config(&clients, parameter.as_ref()).await?;
        let handler = build(Deployment::new(config, clients.clone())?)?;
        Ok::<_, InitError>((handler, in_force, parameter))
    };
    match built.await {
        Ok((handler, in_force, parameter)) => Live {
            current: RwLock::new((Arc::new(handler), in_force)),
            build: Box::new(build),
            clients,
            parameter,
            every: refresh_every(),
            next_check: Mutex::new(Instant::now() + refresh_every()),
        },
        Err(e) => {
            tracing::error!(error = %e, error_type = e.kind(), "init failed");
            report_init_error(&e).await;
            std::process::exit(1)
        }
    }
}

/// The parameter named by the environment, with the key the stack pins for it: a deployed
/// function never reads a parameter it cannot verify.
fn parameter_from_env() -> Result<Option<Parameter>, InitError> {
    let Some(name) = std::env::var(ENV_CONFIG_PARAMETER).ok().filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let signer = Signer::from_env()
        .map_err(InitError::Signer)?
        .ok_or_else(|| InitError::Signer(signed::Refusal::NoSigner("not set".into())))?;
    Ok(Some(Parameter { name, signer }))
}

fn refresh_every() -> Duration {
    std::env::var(ENV_CONFIG_REFRESH_SECONDS)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(DEFAULT_REFRESH, Duration::from_secs)
}

/// The configuration and, when it came from the parameter, the version in force. A current
/// version that is refused (unsigned, signed by another key, invalid: what anyone with
/// `ssm:PutParameter` can write) does not stop the cold start: the newest version in the
/// parameter's history that the deploy signed and that is valid is used, and the refusal logged.
async fn load_config(clients: &AwsClients, parameter: Option<&Parameter>) -> Result<(SuiteConfig, Option<InForce>), InitError> {
    let Some(parameter) = parameter else {
        return Ok((SuiteConfig::from_env()?, None));
    };
    let region = clients.home_region().ok_or(InitError::NoRegion)?;
    let (text, version) = read_parameter_at_cold_start(clients, &region, &parameter.name).await?;
    let refused = match accept(parameter, &text, version) {
        Ok((config, in_force)) => return Ok((config, Some(in_force))),
        Err(e) => e,
    };
    tracing::error!(
        parameter = parameter.name,
        version,
        error = %refused,
        "configuration version refused at cold start; starting on the newest signed version in its history"
    );
    let refused = match refused {
        InitError::NoSignedVersion { refused, .. } => refused,
        other => other.to_string(),
    };
    let history = parameter_history(clients, &region, &parameter.name).await;
    let mut tried = Vec::new();
    match history {
        Ok(versions) => {
            // The newest by when the deploy signed it, not by version number: someone who can
            // write the parameter can put an old signed document back under newer junk.
            let mut best: Option<(SuiteConfig, InForce)> = None;
            for (text, older) in versions.into_iter().filter(|(_, v)| *v < version) {
                match accept(parameter, &text, older) {
                    Ok((config, in_force)) if best.as_ref().is_none_or(|(_, b)| in_force.signed_at > b.signed_at) => {
                        best = Some((config, in_force));
                    }
                    Ok(_) => {}
                    Err(_) => tried.push(older),
                }
            }
            if let Some((config, in_force)) = best {
                tracing::warn!(
                    parameter = parameter.name,
                    version = in_force.version,
                    refused_version = version,
                    "running on the newest signed version in the history"
                );
                return Ok((config, Some(in_force)));
            }
        }
        Err(e) => {
            return Err(InitError::NoSignedVersion {
                name: parameter.name.clone(),
                version,
                refused,
                history: format!("its history could not be read: {e}"),
            });
        }
    }
    Err(InitError::NoSignedVersion {
        name: parameter.name.clone(),
        version,
        refused,
        history: format!("no earlier version is signed and valid either ({} tried)", tried.len()),
    })
}

/// Posts the problem to `/runtime/init/error` (Lambda Runtime API, "Initialization error"):
/// body `{errorMessage, errorType}`, header `Lambda-Runtime-Function-Error-Type`.
async fn report_init_error(e: &InitError) {
    let diagnostic = lambda_runtime::Diagnostic {
        error_type: e.kind().to_owned(),
        error_message: e.to_string(),
    };
    let sent = async {
        let client = lambda_runtime_api_client::PooledClient::builder().build();
        let body = serde_json::to_vec(&diagnostic)?;
        let request = lambda_runtime_api_client::build_request()
            .method("POST")
            .uri("/2018-06-01/runtime/init/error")
            .header("lambda-runtime-function-error-type", e.kind())
            .body(lambda_runtime_api_client::body::Body::from(body))?;
        client.call(request).await?;
        Ok::<_, lambda_runtime_api_client::BoxError>(())
    };
    if let Err(report) = sent.await {
        tracing::error!(error = %report, "could not report the init error to the Runtime API");
    }
}

/// The largest configuration document a deployment can carry: an Advanced-tier SSM parameter
/// ("Managing parameter tiers": Standard 4 KB, Advanced 8 KB).
pub const MAX_PARAMETER_BYTES: usize = 8192;

/// The `throttle` section, which user-throttle and access-authorizer cannot start without.
pub fn required_throttle(config: &SuiteConfig, function: &str) -> Result<crate::config::ThrottleConfig, InitError> {
    config.throttle.clone().ok_or_else(|| {
        InitError::Function(format!(
            "configuration has no `throttle` section: {function} cannot run without it (fix: add it, see docs/configuration.md)"
        ))
    })
}

/// The `auth` section and the key set it builds, which access-authorizer cannot start without.
pub fn required_auth(config: &SuiteConfig, function: &str) -> Result<(crate::config::AuthConfig, TokenValidator), InitError> {
    let auth = config.auth.clone().ok_or_else(|| {
        InitError::Function(format!(
            "configuration has no `auth` section: {function} cannot run without it (fix: add it, see docs/configuration.md)"
        ))
    })?;
    let validator = TokenValidator::new(&auth).map_err(|e| InitError::Function(format!("auth: {function} cannot start: {e}")))?;
    Ok((auth, validator))
}

/// What would stop one of the five functions the template deploys from starting, beyond the
/// configuration's own validation (`resilience config check` reports these too).
pub fn deployable(config: &SuiteConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = required_throttle(config, "user-throttle and access-authorizer") {
        problems.push(e.to_string());
    }
    if let Err(e) = required_auth(config, "access-authorizer") {
        problems.push(e.to_string());
    }
    problems
}

impl Deployment {
    pub fn new(config: SuiteConfig, clients: AwsClients) -> Result<Self, InitError> {
        let region = clients.home_region().ok_or(InitError::NoRegion)?;
        let topic = config
            .topic_for(&region)
            .ok_or_else(|| InitError::UnconfiguredRegion(region.clone()))?
            .to_owned();
        Ok(Deployment {
            config,
            clients,
            region,
            topic,
        })
    }

    /// The state table here: a global table, so the local replica, never the failed region's.
    /// Its client is built now, in init: every reaction claims its signal there, and init runs
    /// on a full vCPU while an invocation at 128 MB gets a fraction of one (see `Deferred`).
    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.clients.dynamodb(&self.region), self.config.state_table.clone())
    }

    /// The notifier: this region's topic. Its client is made on the first notification (most
    /// invocations send none).
    pub fn notifier(&self) -> SnsNotifier {
        let (clients, region) = (self.clients.clone(), self.region.clone());
        SnsNotifier::deferred(crate::model::Deferred::later(move || clients.sns(&region)), self.topic.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_can_start_every_deployed_function_and_a_missing_or_broken_section_is_named() {
        let example = SuiteConfig::from_json(crate::config::EXAMPLE).unwrap();
        assert_eq!(deployable(&example), Vec::<String>::new());
        let mut no_auth = example.clone();
        no_auth.auth = None;
        let problems = deployable(&no_auth);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("no `auth` section: access-authorizer"), "{problems:?}");
        let mut broken = example.clone();
        if let Some(auth) = broken.auth.as_mut() {
            auth.jwks = serde_json::json!({ "keys": "not a list" });
        }
        let problems = deployable(&broken);
        assert!(
            problems.len() == 1 && problems[0].starts_with("auth: access-authorizer cannot start"),
            "{problems:?}"
        );
        let mut neither = no_auth;
        neither.throttle = None;
        assert_eq!(deployable(&neither).len(), 2);
    }
}
