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
