use access_authorizer::Authorizer;
use lambda_runtime::{LambdaEvent, service_fn};
use resilience_core::act::throttle_table::ThrottleTable;
use resilience_core::aws::deployment::Deployment;
use resilience_core::signal::token::TokenValidator;
use serde_json::Value;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    resilience_core::evidence::telemetry::init_logging();
    let d = Deployment::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "init failed"))?;
    let auth = d
        .config
        .auth
        .clone()
        .ok_or("configuration has no `auth` section: access-authorizer cannot run without it")?;
    let throttle = d
        .config
        .throttle
        .clone()
        .ok_or("configuration has no `throttle` section: access-authorizer cannot run without it")?;
    let validator = TokenValidator::new(&auth)?;
    // The local replica of the global throttle table.
    let table = ThrottleTable::new(d.clients.dynamodb(&d.region), throttle.table);
    let handler = Authorizer::new(
        validator,
        table,
        Duration::from_secs(auth.cache_seconds),
        resilience_core::evidence::telemetry::Metrics::namespace(&d.config.platform),
    );
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(event.payload).await
    }))
    .await
}
