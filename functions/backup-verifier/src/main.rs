// The handler future nests the SDK futures of every step; its type is deeper than the default limit.
#![recursion_limit = "256"]

use backup_verifier::BackupVerifier;
use lambda_runtime::{LambdaEvent, service_fn};
use resilience_core::act::backup::BackupInspector;
use resilience_core::aws::deployment;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handler = deployment::start(|d| {
        let (store, notifier) = (d.store(), d.notifier());
        let handler = BackupVerifier {
            inspector: BackupInspector::new(d.clients.clone()),
            config: d.config,
            region: d.region,
            store,
            notifier,
        };
        Ok(handler)
    })
    .await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.get().await.handle(event.payload).await
    }))
    .await
}
