// The handler future nests the SDK futures of every area; its type is deeper than the default limit.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use readiness_check::ReadinessCheck;
use resilience_core::act::readiness::ReadinessProbe;
use resilience_core::aws::deployment;
use resilience_core::config::ENV_CONFIG_PARAMETER;
use resilience_core::config::signed::Signer;
use resilience_core::store::dynamodb::DynamoStore;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handler = deployment::start(|d| {
        let (store, notifier) = (d.store(), d.notifier());
        // Each region's copy of the DNS state is read where it is written (`documents::dns`).
        let peers = d
            .config
            .regions
            .keys()
            .map(|r| (r.clone(), DynamoStore::new(d.clients.dynamodb(r), d.config.state_table.clone())))
            .collect();
        Ok(ReadinessCheck {
            probe: ReadinessProbe::new(d.clients.clone()),
            parameter: std::env::var(ENV_CONFIG_PARAMETER).ok().filter(|p| !p.is_empty()),
            // `start` has already refused a deployment whose pin is unusable.
            signer: Signer::from_env().ok().flatten(),
            config: d.config,
            region: d.region,
            store,
            peers,
            notifier,
        })
    })
    .await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.get().await.handle(event.payload).await
    }))
    .await
}
