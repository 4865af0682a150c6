// The handler future nests the SDK futures of every step; its type is deeper than the default limit.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use resilience_core::act::throttle_table::ThrottleTable;
use resilience_core::aws::deployment::Deployment;
use serde_json::Value;
use user_throttle::UserThrottle;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    resilience_core::evidence::telemetry::init_logging();
    let d = Deployment::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))?;
    let throttle = d
        .config
        .throttle
        .clone()
        .ok_or("configuration has no `throttle` section: user-throttle cannot run without it")?;
    let handler = UserThrottle {
        table: ThrottleTable::new(d.clients.dynamodb(&d.region), throttle.table.clone()),
        throttle,
        config: d.config,
        region: d.region,
        store: d.store,
        notifier: d.notifier,
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event.payload).await
    }))
    .await
}
