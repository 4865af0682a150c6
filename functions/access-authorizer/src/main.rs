use access_authorizer::Authorizer;
use lambda_runtime::{LambdaEvent, service_fn};
use resilience_core::act::throttle_table::ThrottleTable;
use resilience_core::aws::deployment::{self, InitError};
use resilience_core::signal::token::TokenValidator;
use serde_json::Value;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handler = deployment::start(|d| {
        let auth = d.config.auth.clone().ok_or_else(|| {
            InitError::Function(
                "configuration has no `auth` section: access-authorizer cannot run without it (fix: add it, see docs/configuration.md)"
                    .into(),
            )
        })?;
        let throttle = d.config.throttle.clone().ok_or_else(|| {
            InitError::Function(
                "configuration has no `throttle` section: access-authorizer cannot run without it (fix: add it, see docs/configuration.md)"
                    .into(),
            )
        })?;
        let validator = TokenValidator::new(&auth).map_err(|e| InitError::Function(e.to_string()))?;
        // The local replica of the global throttle table.
        let table = ThrottleTable::new(d.clients.dynamodb(&d.region), throttle.table);
        Ok(Authorizer::new(
            validator,
            table,
            Duration::from_secs(auth.cache_seconds),
            resilience_core::evidence::telemetry::Metrics::namespace(&d.config.platform),
        ))
    })
    .await;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.get().await.handle(event.payload).await
    }))
    .await
}
