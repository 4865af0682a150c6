//! The one place a function reads its configuration and builds its AWS clients, state store and
//! notifier at cold start. `main` calls [`Deployment::from_env`] once and hands the parts to its
//! handler by reference.

use crate::aws::clients::{AwsClients, TrustRoots};
use crate::config::{ConfigError, SuiteConfig};
use crate::evidence::notify::SnsNotifier;
use crate::model::Region;
use crate::store::dynamodb::DynamoStore;

#[derive(Debug, Clone)]
pub struct Deployment {
    pub config: SuiteConfig,
    pub clients: AwsClients,
    /// The region this function runs in.
    pub region: Region,
    pub store: DynamoStore,
    pub notifier: SnsNotifier,
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
}

impl InitError {
    /// The error type Lambda shows for a failed init (`InitError.Config`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            InitError::Config(_) => "InitError.Config",
            InitError::NoRegion => "InitError.NoRegion",
            InitError::UnconfiguredRegion(_) => "InitError.UnconfiguredRegion",
            InitError::Function(_) => "InitError.Function",
        }
    }
}

/// The one init path of every function: logging, then the deployment, then `build` (the
/// function's own parts). On failure the problem is logged once, in the configured log format,
/// reported to the Runtime API's `/runtime/init/error` (so the caller sees the problem list, not
/// a bare `Runtime.ExitError`), and the process exits without a second, plain-text line.
pub async fn start<T>(build: impl FnOnce(Deployment) -> Result<T, InitError>) -> T {
    crate::evidence::telemetry::init_logging();
    let built = match Deployment::from_env().await {
        Ok(d) => build(d),
        Err(e) => Err(e),
    };
    match built {
        Ok(parts) => parts,
        Err(e) => {
            tracing::error!(error = %e, error_type = e.kind(), "init failed");
            report_init_error(&e).await;
            std::process::exit(1)
        }
    }
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

impl Deployment {
    /// Reads the configuration and builds everything; any problem fails the init.
    pub async fn from_env() -> Result<Self, InitError> {
        let config = SuiteConfig::from_env()?;
        let clients = AwsClients::load(TrustRoots::AmazonTrustServices).await;
        Self::new(config, clients)
    }

    pub fn new(config: SuiteConfig, clients: AwsClients) -> Result<Self, InitError> {
        let region = clients.home_region().ok_or(InitError::NoRegion)?;
        let topic = config
            .topic_for(&region)
            .ok_or_else(|| InitError::UnconfiguredRegion(region.clone()))?
            .to_owned();
        // The state table is a global table: use the local replica, never the failed region's.
        let store = DynamoStore::new(clients.dynamodb(&region), config.state_table.clone());
        let notifier = SnsNotifier::new(clients.sns(&region), topic);
        Ok(Deployment {
            config,
            clients,
            region,
            store,
            notifier,
        })
    }
}
