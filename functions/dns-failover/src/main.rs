// The handler future nests the SDK futures of every step; its type is deeper than the default limit.
#![recursion_limit = "256"]

use dns_failover::Failover;
use lambda_runtime::{LambdaEvent, service_fn};
use resilience_core::act::capacity::CapacityActuator;
use resilience_core::act::health::CloudWatchHealth;
use resilience_core::act::health_api::HealthApi;
use resilience_core::act::traffic::TrafficSwitches;
use resilience_core::aws::deployment;
use resilience_core::store::dynamodb::DynamoStore;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handler = deployment::start(|d| {
        let (store, notifier) = (d.store(), d.notifier());
        let peers = d
            .config
            .regions
            .keys()
            .filter(|r| **r != d.region)
            .map(|r| (r.clone(), DynamoStore::new(d.clients.dynamodb(r), d.config.state_table.clone())))
            .collect();
        let clients = d.clients.clone();
        let handler = Failover {
            practice: None,
            rehearsal: false,
            peers,
            switches: TrafficSwitches::new(&d.config, &d.clients),
            health: CloudWatchHealth::new(d.clients.clone()),
            capacity: CapacityActuator::new(d.clients.clone()),
            health_api: HealthApi::new(&d.clients),
            config: d.config,
            region: d.region,
            store,
            notifier,
        }
        .with_practice(&clients);
        Ok(handler)
    })
    .await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.get().await.handle(event.payload).await
    }))
    .await
}
