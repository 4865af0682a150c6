use access_authorizer::Authorizer;
use lambda_runtime::{LambdaEvent, service_fn};
use resilience_core::act::throttle_table::ThrottleTable;
use resilience_core::aws::deployment;
use serde_json::Value;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handler = deployment::start(|d| {
        let (auth, validator) = deployment::required_auth(&d.config, "access-authorizer")?;
        let throttle = deployment::required_throttle(&d.config, "access-authorizer")?;
        // The local replica of the global throttle table, and another region's when it fails.
        let table = ThrottleTable::new(d.clients.dynamodb(&d.region), throttle.table.clone());
        let peer = d
            .config
            .regions_by_priority()
            .into_iter()
            .find(|r| **r != d.region)
            .map(|r| ThrottleTable::deferred(d.clients.deferred_dynamodb(r), throttle.table.clone()));
        let authorizer = Authorizer::new(
            validator,
            table,
            peer,
            Duration::from_secs(auth.cache_seconds),
            resilience_core::evidence::telemetry::Metrics::namespace(&d.config.platform),
        )
        .with_default_usage_key(auth.default_usage_plan_key.clone())
        .with_lookup_failure(throttle.on_lookup_failure);
        Ok(match &auth.jwks_uri {
            Some(uri) => authorizer.with_jwks(
                access_authorizer::jwks::JwksSource::new(uri, Duration::from_secs(auth.jwks_refresh_seconds))
                    .map_err(resilience_core::aws::deployment::InitError::Function)?,
            ),
            None => authorizer,
        })
    })
    .await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.get().await.handle(event.payload).await
    }))
    .await
}
