//! The baseline of the cold-start benchmark: a bare lambda_runtime echo function, built with the
//! same release profile as the suite's functions.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        |e: lambda_runtime::LambdaEvent<serde_json::Value>| async move { Ok::<_, lambda_runtime::Error>(e.payload) },
    ))
    .await
}
