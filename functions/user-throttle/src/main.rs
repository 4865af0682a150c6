// The handler future nests the SDK futures of every step; its type is deeper than the default limit.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use resilience_core::act::health::CloudWatchHealth;
use resilience_core::act::throttle_table::ThrottleTable;
use resilience_core::aws::deployment;
use serde_json::Value;
use user_throttle::UserThrottle;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handler = deployment::start(|d| {
        let (store, notifier) = (d.store(), d.notifier());
        let throttle = deployment::required_throttle(&d.config, "user-throttle")?;
        let handler = UserThrottle {
            table: ThrottleTable::new(d.clients.dynamodb(&d.region), throttle.table.clone()),
            alarms: CloudWatchHealth::new(d.clients.clone()),
            throttle,
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
